//! The reliability manager: SDS and SDS-R operations over any number of channels.
//!
//! Every operation takes `now` (Unix milliseconds) from the caller and appends the events
//! it causes to an internal queue the caller drains with [`Manager::take_events`]. A
//! refused operation (an `Err`) leaves the state unchanged.

use std::collections::HashMap;

use super::bloom::{IdHashes, PeerBloom};
use super::budget::{Budget, Usage};
use super::channel::{
    channel_struct_charge, BoundedIdSet, Channel, ChannelChanges, ChannelCounters, Outgoing,
    RefusalCounts, RefusalReport,
};
use super::config::{ConfigError, LamportUnit, ProtocolConfig, MAX_CONTENT_SIZE};
use super::dialect::WireFormat;
use super::error::ProtocolError;
use super::event::Event;
use super::history::MessageHistory;
use super::incoming::buffered_charge;
use super::journal::BufferKind;
use super::message::{HistoryEntry, SdsMessage};
use super::repair_buffer::RepairBuffer;
use super::rolling_bloom::RollingBloomFilter;
use super::sdsr;
use super::snapshot::{ChannelData, ChannelMeta, IncomingRepair, OutgoingEntry, OutgoingRepair};
use super::wire::{self, DecodeLimits, Received};

/// Supplies retrieval hints (for example a transport message hash) for message ids that
/// go into causal history. Asked only while a message's hint is still unknown.
pub trait RetrievalHintProvider: Send {
    /// The hint for `message_id` on `channel_id`, or empty if none is known yet.
    fn retrieval_hint(&mut self, channel_id: &str, message_id: &str) -> Vec<u8>;
}

impl<F: FnMut(&str, &str) -> Vec<u8> + Send> RetrievalHintProvider for F {
    fn retrieval_hint(&mut self, channel_id: &str, message_id: &str) -> Vec<u8> {
        self(channel_id, message_id)
    }
}

/// How a received message was handled (also its `status` in JSON, lower-case).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum UnwrapStatus {
    /// Delivered now (a `MessageReady` event was emitted).
    Delivered,
    /// Buffered until its missing dependencies arrive.
    Buffered,
    /// Already delivered or buffered; nothing changed but repair bookkeeping.
    Duplicate,
    /// A sync message: acknowledgements reviewed, nothing delivered.
    Sync,
    /// An ephemeral message: handed over at once, never buffered or stored.
    Ephemeral,
}

/// The outcome of [`Manager::unwrap`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unwrapped {
    /// Channel of the message.
    pub channel_id: String,
    /// Id of the message.
    pub message_id: String,
    /// Sender's participant id (may be empty).
    pub sender_id: String,
    /// The application content (empty for sync messages).
    pub content: Vec<u8>,
    /// What happened to it.
    pub status: UnwrapStatus,
    /// Dependencies not yet delivered (non-empty only for buffered and sync messages).
    pub missing: Vec<HistoryEntry>,
}

/// A snapshot of one channel's sizes and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelStats {
    /// The channel's Lamport clock.
    pub lamport_timestamp: i64,
    /// Messages in history.
    pub history_len: usize,
    /// Unacknowledged outgoing messages.
    pub outgoing_len: usize,
    /// Received messages waiting for dependencies.
    pub incoming_len: usize,
    /// Bytes those buffered messages hold, with their dependency index.
    pub incoming_bytes: usize,
    /// SDS-R outgoing repair buffer size.
    pub outgoing_repair_len: usize,
    /// SDS-R incoming repair buffer size.
    pub incoming_repair_len: usize,
    /// What this channel holds against the memory budget.
    pub memory: Usage,
    /// What the whole manager holds against it.
    pub manager_memory: Usage,
    /// The memory budget (`memory_budget_bytes`).
    pub memory_budget: usize,
    /// Counters since the channel was created or loaded in this process.
    pub counters: ChannelCounters,
}

/// Most buffered messages one sweep expires and most missing dependencies it requests
/// again, across channels: what is left waits for the next sweep, so a sweep never
/// stalls the caller for long whatever peers made the manager hold.
pub(crate) const SWEEP_MAX_ITEMS: usize = 10_000;

/// What receiving a message will take, decided before any state changes.
struct Admission {
    duplicate: bool,
    missing: Vec<HistoryEntry>,
    /// Buffered messages to evict first, as (channel, message id).
    evict: Vec<(String, String)>,
}

/// SDS/SDS-R state of every channel of one participant.
pub struct Manager {
    config: ProtocolConfig,
    channels: HashMap<String, Channel>,
    events: Vec<Event>,
    hint_provider: Option<Box<dyn RetrievalHintProvider>>,
    journaling: bool,
    scratch: Vec<u8>,
    /// An empty bloom filter of the configured size, cloned for each new channel.
    empty_bloom: RollingBloomFilter,
    budget: Budget,
    /// Refusals of messages whose channel is unknown (and could not be created).
    unattributed: RefusalCounts,
    unattributed_report: RefusalReport,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("participant_id", &self.config.participant_id)
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager with no channels. Fails if the configuration cannot work.
    pub fn new(config: ProtocolConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let empty_bloom = RollingBloomFilter::new(config.bloom_capacity, config.bloom_error_rate)
            .map_err(|e| ConfigError::new("bloom_capacity", e.to_string()))?;
        Ok(Self {
            empty_bloom,
            budget: Budget::new(config.memory_budget_bytes),
            config,
            channels: HashMap::new(),
            events: Vec::new(),
            hint_provider: None,
            journaling: false,
            scratch: Vec::new(),
            unattributed: RefusalCounts::default(),
            unattributed_report: RefusalReport::default(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProtocolConfig {
        &self.config
    }

    /// What every channel holds against the memory budget, and the budget.
    pub fn memory(&self) -> (Usage, usize) {
        (self.budget.used(), self.budget.limit())
    }

    /// Refusals of messages whose channel was unknown (see `Event::LimitReached`).
    pub fn unattributed_refusals(&self) -> RefusalCounts {
        self.unattributed
    }

    /// Installs (or removes) the retrieval-hint provider used by later wraps.
    pub fn set_retrieval_hint_provider(
        &mut self,
        provider: Option<Box<dyn RetrievalHintProvider>>,
    ) {
        self.hint_provider = provider;
    }

    /// Removes and returns the retrieval-hint provider (to install it in a new manager).
    pub fn take_retrieval_hint_provider(&mut self) -> Option<Box<dyn RetrievalHintProvider>> {
        self.hint_provider.take()
    }

    /// Turns on recording of history changes and learned hints for [`Self::take_changes`].
    /// The persistence layer enables it and drains after every operation.
    pub fn set_journaling(&mut self, on: bool) {
        self.journaling = on;
        for channel in self.channels.values_mut() {
            channel.set_journaling(on);
        }
    }

    /// Removes and returns the events produced so far, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Whether the channel exists in memory.
    pub fn has_channel(&self, channel_id: &str) -> bool {
        self.channels.contains_key(channel_id)
    }

    /// Ids of every channel, in no particular order.
    pub fn channel_ids(&self) -> Vec<String> {
        self.channels.keys().cloned().collect()
    }

    /// Creates the channel if it does not exist.
    pub fn ensure_channel(&mut self, channel_id: &str) -> Result<(), ProtocolError> {
        self.check_id("channel_id", channel_id)?;
        self.channel_mut(channel_id).map(|_| ())
    }

    /// Forgets a channel and all its state. Returns whether it existed.
    pub fn remove_channel(&mut self, channel_id: &str) -> bool {
        match self.channels.remove(channel_id) {
            Some(channel) => {
                self.budget.settle(channel.usage(), Usage::default());
                true
            }
            None => false,
        }
    }

    /// Forgets every channel.
    pub fn reset(&mut self) {
        self.channels.clear();
        self.budget = Budget::new(self.config.memory_budget_bytes);
    }

    /// What creating a channel named `channel_id` charges.
    fn new_channel_charge(&self, channel_id: &str) -> usize {
        channel_struct_charge(channel_id.len()) + self.empty_bloom.heap_bytes()
    }

    /// Refuses creating a channel beyond `max_channels` or the memory budget.
    fn check_new_channel(&self, channel_id: &str) -> Result<(), ProtocolError> {
        if channel_id.is_empty() {
            return Err(ProtocolError::EmptyChannelId);
        }
        if self.channels.len() >= self.config.max_channels {
            return Err(ProtocolError::TooManyChannels {
                max: self.config.max_channels,
            });
        }
        let needed = self.new_channel_charge(channel_id);
        if !self.budget.fits(needed) {
            return Err(ProtocolError::MemoryBudget {
                what: "the memory budget",
                needed,
                limit: self.budget.limit(),
            });
        }
        Ok(())
    }

    fn new_channel(&self, channel_id: &str) -> Result<Channel, ProtocolError> {
        self.check_new_channel(channel_id)?;
        Ok(Channel::new(
            channel_id,
            MessageHistory::new(
                self.config.max_message_history,
                self.config.max_history_bytes,
            ),
            // The filter hashes as the channel's peers read it.
            self.empty_bloom
                .clone()
                .hashing_as(self.config.wire_format_of(channel_id)),
            BoundedIdSet::new(self.config.max_message_history),
            self.journaling,
        ))
    }

    fn channel_mut(&mut self, channel_id: &str) -> Result<&mut Channel, ProtocolError> {
        if !self.channels.contains_key(channel_id) {
            let channel = self.new_channel(channel_id)?;
            self.budget.settle(Usage::default(), channel.usage());
            self.channels.insert(channel_id.to_owned(), channel);
        }
        self.channels
            .get_mut(channel_id)
            .ok_or_else(|| ProtocolError::UnknownChannel(channel_id.to_owned()))
    }

    /// Refuses an id longer than `max_id_bytes`.
    fn check_id(&self, field: &'static str, id: &str) -> Result<(), ProtocolError> {
        let max = self.config.max_id_bytes;
        if id.len() > max {
            return Err(ProtocolError::IdTooLong {
                field,
                len: id.len(),
                max,
            });
        }
        Ok(())
    }

    fn clock(&self, now_ms: u64) -> i64 {
        let now = match self.config.lamport_unit {
            LamportUnit::Milliseconds => now_ms,
            LamportUnit::Seconds => now_ms / 1000,
        };
        i64::try_from(now).unwrap_or(i64::MAX)
    }

    /// The highest Lamport timestamp a channel adopts at `now_ms`: honest peers count
    /// seconds or milliseconds since the epoch, so anything beyond the local wall clock
    /// in milliseconds plus `max_lamport_lead_ms` is refused as a clock, whatever the
    /// local unit.
    fn lamport_ceiling(&self, now_ms: u64) -> i64 {
        i64::try_from(now_ms.saturating_add(self.config.max_lamport_lead_ms)).unwrap_or(i64::MAX)
    }

    fn check_content(content: &[u8]) -> Result<(), ProtocolError> {
        if content.is_empty() {
            return Err(ProtocolError::EmptyContent);
        }
        if content.len() > MAX_CONTENT_SIZE {
            return Err(ProtocolError::ContentTooLarge {
                size: content.len(),
                max: MAX_CONTENT_SIZE,
            });
        }
        Ok(())
    }

    /// Brings the budget up to date with what `channel_id` holds now (it held `before`),
    /// then makes history give way while the total is over the budget.
    fn settle(&mut self, channel_id: &str, before: Usage) {
        let after = self
            .channels
            .get(channel_id)
            .map(Channel::usage)
            .unwrap_or_default();
        self.budget.settle(before, after);
        self.reclaim(Some(channel_id));
    }

    /// While the total is over the budget, the channel holding the most history (with
    /// its bloom filter's ids) gives way, oldest first; `protect`'s newest message stays.
    fn reclaim(&mut self, protect: Option<&str>) {
        let mut exhausted: Vec<String> = Vec::new();
        while self.budget.excess() > 0 {
            let mut largest: Option<(&String, usize)> = None;
            let mut runner_up = 0;
            for (id, channel) in &self.channels {
                if exhausted.contains(id) {
                    continue;
                }
                let held = channel.usage().history;
                match largest {
                    Some((_, most)) if held <= most => runner_up = runner_up.max(held),
                    _ => {
                        runner_up = largest.map_or(runner_up, |(_, most)| most.max(runner_up));
                        largest = Some((id, held));
                    }
                }
            }
            let Some((victim, _)) = largest.filter(|(_, held)| *held > 0) else {
                return;
            };
            let victim = victim.clone();
            let keep_newest = protect == Some(victim.as_str());
            let Some(channel) = self.channels.get_mut(&victim) else {
                return;
            };
            // Give way until within budget or no longer the largest holder.
            loop {
                let before = channel.usage();
                if !channel.give_way(keep_newest) {
                    exhausted.push(victim.clone());
                    break;
                }
                let after = channel.usage();
                self.budget.settle(before, after);
                if self.budget.excess() == 0 || after.history < runner_up {
                    break;
                }
            }
        }
    }

    /// Counts a refused received message against its channel (or as unattributed) and
    /// emits a `LimitReached` event when one is due.
    fn note_refusal(&mut self, channel_id: Option<&str>, error: &ProtocolError, now_ms: u64) {
        let reason = error.to_string();
        let event = match channel_id.and_then(|id| self.channels.get_mut(id)) {
            Some(channel) => {
                channel.counters.refused(Some(error));
                let id = channel.id.clone();
                channel.refusals.note(&id, reason, now_ms)
            }
            None => {
                self.unattributed.count(Some(error));
                self.unattributed_report.note("", reason, now_ms)
            }
        };
        self.events.extend(event);
    }

    /// Creates the channel if needed and composes an outgoing message on it (see
    /// [`compose`]). Also returns the channel and its bloom filter serialized as it is now,
    /// before the message's own id is added (as nim-sds sends it), in the channel's
    /// wire format (also returned).
    fn compose_on(
        &mut self,
        now_ms: u64,
        channel_id: &str,
        message_id: &str,
        content: Vec<u8>,
    ) -> Result<(SdsMessage, &mut Channel, &[u8], WireFormat), ProtocolError> {
        let clock = self.clock(now_ms);
        let format = self.config.wire_format_of(channel_id);
        self.channel_mut(channel_id)?;
        let Self {
            channels,
            config,
            hint_provider,
            scratch,
            ..
        } = self;
        let channel = channels
            .get_mut(channel_id)
            .ok_or_else(|| ProtocolError::UnknownChannel(channel_id.to_owned()))?;
        let message = compose(
            channel,
            config,
            hint_provider.as_deref_mut(),
            now_ms,
            clock,
            message_id,
            content,
        );
        scratch.clear();
        channel.bloom.filter().encode_as(format, scratch);
        Ok((message, channel, scratch, format))
    }

    /// Wraps `content` for sending on `channel_id`: Lamport timestamp, causal history,
    /// bloom filter, sender id and due SDS-R repair requests. The message enters history,
    /// bloom filter and outgoing buffer. Returns the wire bytes to broadcast.
    ///
    /// Ids longer than `max_id_bytes` are refused: peers would refuse the message, and
    /// the id would ride in the causal history of the messages that follow.
    pub fn wrap(
        &mut self,
        now_ms: u64,
        channel_id: &str,
        message_id: &str,
        content: &[u8],
    ) -> Result<Vec<u8>, ProtocolError> {
        Self::check_content(content)?;
        self.check_id("channel_id", channel_id)?;
        self.check_id("message_id", message_id)?;
        let max_outgoing = self.config.max_outgoing_buffer;
        if let Some(channel) = self.channels.get(channel_id) {
            if channel.outgoing.len() >= max_outgoing && !channel.outgoing.contains_key(message_id)
            {
                return Err(ProtocolError::OutgoingBufferFull {
                    channel_id: channel_id.to_owned(),
                    max: max_outgoing,
                });
            }
        }
        let before = self.channel_mut(channel_id)?.usage();
        let (message, channel, bloom, format) =
            self.compose_on(now_ms, channel_id, message_id, content.to_vec())?;
        let bytes = wire::encode_message_with_bloom_as(format, &message, bloom);
        let hashes = IdHashes::of_as(channel.bloom.hashing(), message_id);
        channel.bloom.add_hashed(message_id, hashes);
        channel.add_to_history(&message);
        if channel.journaling {
            let journal = &mut channel.changes.buffers.outgoing;
            if channel.outgoing.contains_key(message_id) {
                journal.changed(message_id);
            } else {
                journal.added(message_id);
            }
        }
        channel.outgoing.insert(
            message_id.to_owned(),
            Outgoing {
                entry: OutgoingEntry {
                    message,
                    send_time_ms: now_ms,
                    resend_attempts: 0,
                    bloom_hits: 0,
                },
                hashes,
            },
        );
        self.settle(channel_id, before);
        Ok(bytes)
    }

    /// Builds a sync message: empty content, a fresh Lamport timestamp, causal history,
    /// bloom filter and due repair requests. It enters no history, buffer or bloom.
    pub fn build_sync_message(
        &mut self,
        now_ms: u64,
        channel_id: &str,
    ) -> Result<Vec<u8>, ProtocolError> {
        self.check_id("channel_id", channel_id)?;
        let participant = self.config.participant_id.clone();
        let before = self.channel_mut(channel_id)?.usage();
        let (mut message, _, bloom, format) =
            self.compose_on(now_ms, channel_id, "", Vec::new())?;
        // Sync messages are never stored, so their id only needs to be unique per sender.
        message.message_id = if participant.is_empty() {
            format!("sync-{}", message.lamport_timestamp)
        } else {
            format!("sync-{participant}-{}", message.lamport_timestamp)
        };
        let bytes = wire::encode_message_with_bloom_as(format, &message, bloom);
        self.settle(channel_id, before);
        Ok(bytes)
    }

    /// Wraps an ephemeral message: no Lamport timestamp, causal history or bloom filter;
    /// receivers deliver it at once and never buffer or store it. Changes no state.
    pub fn wrap_ephemeral(
        &self,
        channel_id: &str,
        message_id: &str,
        content: &[u8],
    ) -> Result<Vec<u8>, ProtocolError> {
        Self::check_content(content)?;
        if channel_id.is_empty() {
            return Err(ProtocolError::EmptyChannelId);
        }
        self.check_id("channel_id", channel_id)?;
        self.check_id("message_id", message_id)?;
        let message = SdsMessage {
            message_id: message_id.to_owned(),
            channel_id: channel_id.to_owned(),
            content: content.to_vec(),
            sender_id: self.config.participant_id.clone(),
            ..SdsMessage::default()
        };
        Ok(wire::encode_message_as(
            self.config.wire_format_of(channel_id),
            &message,
        ))
    }

    /// Decodes and processes a received message; see [`Self::unwrap_decoded`]. A message
    /// refused for a limit is counted (against its channel when it names a known one)
    /// and reported by a rate-limited `LimitReached` event.
    pub fn unwrap(&mut self, now_ms: u64, bytes: &[u8]) -> Result<Unwrapped, ProtocolError> {
        match self.decode(bytes) {
            Ok(message) => self.unwrap_decoded(now_ms, message),
            Err(error) => {
                if error.is_limit() {
                    let channel = wire::peek_channel_id(bytes).map(str::to_owned);
                    self.note_refusal(channel.as_deref(), &error, now_ms);
                }
                Err(error)
            }
        }
    }

    /// Decodes a received message within the configured limits, refusing oversized input
    /// before parsing it.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<Received<'a>, ProtocolError> {
        if bytes.len() > self.config.max_wire_message_size {
            return Err(ProtocolError::WireMessageTooLarge {
                size: bytes.len(),
                max: self.config.max_wire_message_size,
            });
        }
        let limits = DecodeLimits {
            max_causal_history: self.config.max_received_causal_history,
            max_repair_requests: self.config.max_received_repair_requests,
            max_id_bytes: self.config.max_id_bytes,
        };
        Ok(wire::decode_received_within(bytes, &limits)?)
    }

    /// Processes a decoded received message: deduplicates it, reviews acknowledgements
    /// (causal history: acknowledged; bloom filter: possibly acknowledged until confirmed),
    /// updates the Lamport clock (adopting at most `lamport_ceiling`), does SDS-R
    /// bookkeeping, then delivers it (with every buffered message it unblocks, in causal
    /// order) or buffers it. What the message needs must fit the limits and the memory
    /// budget (see `protocol/budget.rs`); if not it is refused, counted, and nothing
    /// changes.
    pub fn unwrap_decoded(
        &mut self,
        now_ms: u64,
        received: Received<'_>,
    ) -> Result<Unwrapped, ProtocolError> {
        let ephemeral = received.is_ephemeral();
        let Received {
            message,
            bloom: peer_bloom,
            format: peer_format,
            ..
        } = received;
        if message.channel_id.is_empty() {
            return Err(ProtocolError::EmptyChannelId);
        }
        if ephemeral {
            return Ok(Unwrapped {
                channel_id: message.channel_id,
                message_id: message.message_id,
                sender_id: message.sender_id,
                content: message.content,
                status: UnwrapStatus::Ephemeral,
                missing: Vec::new(),
            });
        }
        let admission = match self.admit(&message) {
            Ok(admission) => admission,
            Err(error) => {
                self.note_refusal(Some(&message.channel_id), &error, now_ms);
                return Err(error);
            }
        };
        for (channel_id, message_id) in &admission.evict {
            self.evict_buffered(channel_id, message_id);
        }
        let ceiling = self.lamport_ceiling(now_ms);
        let before = self.channel_mut(&message.channel_id)?.usage();
        let Some(channel) = self.channels.get_mut(&message.channel_id) else {
            return Err(ProtocolError::UnknownChannel(message.channel_id));
        };
        let Admission {
            duplicate, missing, ..
        } = admission;
        let id = message.message_id.clone();
        let sync = message.is_sync();

        channel.changes.dirty = true;
        // SDS-R: whoever broadcast this message has answered any repair for it.
        channel.outgoing_repair.remove(&id);
        channel.incoming_repair.remove(&id);
        let mut outcome = Unwrapped {
            channel_id: message.channel_id.clone(),
            message_id: id.clone(),
            sender_id: message.sender_id.clone(),
            content: Vec::new(),
            status: UnwrapStatus::Duplicate,
            missing: Vec::new(),
        };
        if duplicate {
            channel.counters.duplicates += 1;
            outcome.content = message.content;
            let channel_id = outcome.channel_id.clone();
            self.settle(&channel_id, before);
            return Ok(outcome);
        }

        if !sync {
            channel.bloom.add(&id);
        }
        channel.lamport = message
            .lamport_timestamp
            .min(ceiling)
            .max(channel.lamport)
            .saturating_add(1);
        review_acks(
            channel,
            &message,
            (peer_format, peer_bloom),
            &self.config,
            &mut self.events,
        );
        let mut repair_room = self
            .budget
            .repair_limit()
            .saturating_sub(self.budget.used().repair);
        take_repair_requests(channel, &message, &self.config, now_ms, &mut repair_room);
        request_repairs(channel, &missing, &self.config, now_ms, &mut repair_room);

        outcome.content = message.content.clone();
        if sync {
            outcome.status = UnwrapStatus::Sync;
            outcome.missing = missing;
        } else if missing.is_empty() {
            outcome.status = UnwrapStatus::Delivered;
            channel.deliver(message, &mut self.events);
        } else {
            outcome.status = UnwrapStatus::Buffered;
            self.events.push(Event::MissingDependencies {
                channel_id: outcome.channel_id.clone(),
                message_id: id,
                missing: missing.clone(),
            });
            channel.incoming.insert(message, &missing, now_ms);
            outcome.missing = missing;
        }
        let channel_id = outcome.channel_id.clone();
        self.settle(&channel_id, before);
        Ok(outcome)
    }

    /// Decides whether `message` can be received, and what must give way for it, without
    /// changing anything.
    fn admit(&self, message: &SdsMessage) -> Result<Admission, ProtocolError> {
        let channel_id = message.channel_id.as_str();
        let channel = self.channels.get(channel_id);
        let create = match channel {
            Some(_) => 0,
            None => {
                self.check_new_channel(channel_id)?;
                self.new_channel_charge(channel_id)
            }
        };
        let id = message.message_id.as_str();
        let duplicate = channel.is_some_and(|c| c.history.contains(id) || c.incoming.contains(id));
        let missing = match (duplicate, channel) {
            (true, _) => Vec::new(),
            (false, Some(c)) => c.missing_dependencies(&message.causal_history),
            (false, None) => message.causal_history.clone(),
        };
        let mut admission = Admission {
            duplicate,
            missing,
            evict: Vec::new(),
        };
        if duplicate || message.is_sync() {
            return Ok(admission);
        }
        let needed = if admission.missing.is_empty() {
            // Into history, with its id tracked by the bloom filter.
            create + wire::encoded_message_len(message) + HISTORY_RECORD_OVERHEAD
        } else {
            let charge = buffered_charge(message, &admission.missing);
            admission.evict = self.plan_buffer_room(message, charge)?;
            create + charge
        };
        let freed: usize = admission
            .evict
            .iter()
            .filter_map(|(c, id)| self.channels.get(c)?.incoming.charge_of(id))
            .sum();
        if !self.budget.fits(needed.saturating_sub(freed)) {
            return Err(ProtocolError::MemoryBudget {
                what: "the memory budget",
                needed,
                limit: self.budget.limit(),
            });
        }
        Ok(admission)
    }

    /// The buffered messages to evict so that `message` (charging `charge`) fits its
    /// channel's buffer and the buffered share of the budget: the largest holder gives
    /// way, oldest first, only while it holds more than the newcomer's holder would
    /// after admission (senders within the channel, channels across them).
    fn plan_buffer_room(
        &self,
        message: &SdsMessage,
        charge: usize,
    ) -> Result<Vec<(String, String)>, ProtocolError> {
        let config = &self.config;
        let channel_id = message.channel_id.as_str();
        let sender = message.sender_id.as_str();
        let full = || ProtocolError::IncomingBufferFull {
            channel_id: channel_id.to_owned(),
            max: config.max_incoming_buffer,
            max_bytes: config.max_incoming_buffer_bytes,
        };
        let share_limit = self.budget.buffered_limit();
        let share_full = |needed| ProtocolError::MemoryBudget {
            what: "the buffered-message share of the memory budget",
            needed,
            limit: share_limit,
        };
        if charge > config.max_incoming_buffer_bytes {
            return Err(full());
        }
        if charge > share_limit {
            return Err(share_full(charge));
        }
        let channel = self.channels.get(channel_id);
        let (count, bytes) = channel.map_or((0, 0), |c| (c.incoming.len(), c.incoming.bytes()));
        let mut evict = Vec::new();
        let mut freed = 0;

        // The channel's own limits: its largest other sender gives way.
        let evict_count = (count + 1).saturating_sub(config.max_incoming_buffer);
        let evict_bytes = (bytes + charge).saturating_sub(config.max_incoming_buffer_bytes);
        if evict_count > 0 || evict_bytes > 0 {
            let channel = channel.ok_or_else(full)?;
            let (victim, mut held) = channel
                .incoming
                .largest_share_except(Some(sender))
                .ok_or_else(full)?;
            let newcomer = channel.incoming.share(sender) + charge;
            for (id, bytes) in channel.incoming.oldest_of(victim) {
                if evict.len() >= evict_count && freed >= evict_bytes {
                    break;
                }
                if held <= newcomer {
                    break;
                }
                evict.push((channel_id.to_owned(), id.to_owned()));
                freed += bytes;
                held = held.saturating_sub(bytes);
            }
            if evict.len() < evict_count || freed < evict_bytes {
                return Err(full());
            }
        }

        // The buffered share across channels: the channel holding the most gives way.
        let over = (self.budget.used().buffered + charge)
            .saturating_sub(freed)
            .saturating_sub(share_limit);
        if over > 0 {
            let mine = bytes.saturating_sub(freed) + charge;
            let largest = self
                .channels
                .values()
                .filter(|c| c.id != channel_id)
                .max_by_key(|c| c.incoming.bytes())
                .filter(|c| c.incoming.bytes() > mine)
                .ok_or_else(|| share_full(charge))?;
            let (victim, _) = largest
                .incoming
                .largest_share_except(None)
                .ok_or_else(|| share_full(charge))?;
            let mut held = largest.incoming.bytes();
            let mut freed_there = 0;
            for (id, bytes) in largest.incoming.oldest_of(victim) {
                if freed_there >= over || held <= mine {
                    break;
                }
                evict.push((largest.id.clone(), id.to_owned()));
                freed_there += bytes;
                held = held.saturating_sub(bytes);
            }
            if freed_there < over {
                return Err(share_full(charge));
            }
        }
        Ok(evict)
    }

    /// Evicts a buffered message to make room for another (see [`Self::plan_buffer_room`]).
    fn evict_buffered(&mut self, channel_id: &str, message_id: &str) {
        let Some(channel) = self.channels.get_mut(channel_id) else {
            return;
        };
        let before = channel.usage();
        if let Some((_, missing)) = channel.incoming.remove(message_id) {
            channel.counters.evicted += 1;
            channel.changes.dirty = true;
            self.events.push(Event::Lost {
                channel_id: channel_id.to_owned(),
                message_id: message_id.to_owned(),
                missing,
            });
        }
        let after = channel.usage();
        self.budget.settle(before, after);
    }

    /// Declares `message_ids` present on `channel_id` (retrieved by the host some other
    /// way): they enter the bloom filter, leave the repair buffers, satisfy buffered and
    /// later dependencies, and unblocked messages are delivered in causal order. Ids over
    /// `max_id_bytes` are refused (no message can have them), changing nothing.
    pub fn mark_dependencies_met<S: AsRef<str>>(
        &mut self,
        message_ids: &[S],
        channel_id: &str,
    ) -> Result<(), ProtocolError> {
        for id in message_ids {
            self.check_id("message_id", id.as_ref())?;
        }
        let Some(channel) = self.channels.get_mut(channel_id) else {
            return Err(ProtocolError::UnknownChannel(channel_id.to_owned()));
        };
        let before = channel.usage();
        channel.changes.dirty = true;
        for id in message_ids {
            let id = id.as_ref();
            if !channel.bloom.contains(id) {
                channel.bloom.add(id);
            }
            channel.outgoing_repair.remove(id);
            channel.incoming_repair.remove(id);
            channel.mark_met(id, &mut self.events);
        }
        self.settle(channel_id, before);
        Ok(())
    }

    /// Resend sweep: every outgoing message unacknowledged for longer than
    /// `resend_interval_ms` is emitted again as a `Resend` event, until
    /// `max_resend_attempts` is used up; then it is dropped with an `Expired` event.
    pub fn sweep_outgoing(&mut self, now_ms: u64) {
        let config = &self.config;
        for channel in self.channels.values_mut() {
            let mut bloom_bytes: Option<Vec<u8>> = None;
            let mut changed = false;
            let channel_id = channel.id.clone();
            let format = config.wire_format_of(&channel_id);
            let bloom = &channel.bloom;
            let events = &mut self.events;
            let counters = &mut channel.counters;
            let mut journal = channel
                .journaling
                .then_some(&mut channel.changes.buffers.outgoing);
            channel.outgoing.retain(|id, out| {
                if now_ms.saturating_sub(out.entry.send_time_ms) <= config.resend_interval_ms {
                    return true;
                }
                changed = true;
                if out.entry.resend_attempts >= config.max_resend_attempts {
                    if let Some(journal) = journal.as_deref_mut() {
                        journal.removed(id);
                    }
                    counters.expired += 1;
                    events.push(Event::Expired {
                        channel_id: channel_id.clone(),
                        message_id: id.clone(),
                    });
                    return false;
                }
                out.entry.resend_attempts += 1;
                out.entry.send_time_ms = now_ms;
                if let Some(journal) = journal.as_deref_mut() {
                    journal.changed(id);
                }
                counters.resends += 1;
                let bloom = bloom_bytes.get_or_insert_with(|| {
                    let mut buf = Vec::new();
                    bloom.filter().encode_as(format, &mut buf);
                    buf
                });
                events.push(Event::Resend {
                    channel_id: channel_id.clone(),
                    message_id: id.clone(),
                    attempt: out.entry.resend_attempts,
                    bytes: wire::encode_message_with_bloom_as(format, &out.entry.message, bloom),
                });
                true
            });
            channel.changes.dirty |= changed;
        }
    }

    /// Incoming sweep: buffered messages waiting longer than `max_dependency_wait_ms`
    /// are dropped with a `Lost` event naming the dependencies that never arrived (at
    /// most 10 000 per sweep, oldest first). Refusals not yet reported are
    /// reported once their interval has passed.
    pub fn sweep_incoming(&mut self, now_ms: u64) {
        let wait = self.config.max_dependency_wait_ms;
        let mut left = SWEEP_MAX_ITEMS;
        for channel in self.channels.values_mut() {
            let before = channel.usage();
            for id in channel.incoming.expired(now_ms, wait, left) {
                left -= 1;
                if let Some((_, missing)) = channel.incoming.remove(&id) {
                    channel.counters.lost += 1;
                    channel.changes.dirty = true;
                    self.events.push(Event::Lost {
                        channel_id: channel.id.clone(),
                        message_id: id,
                        missing,
                    });
                }
            }
            self.budget.settle(before, channel.usage());
            let id = channel.id.clone();
            self.events.extend(channel.refusals.due(&id, now_ms));
        }
        self.events.extend(self.unattributed_report.due("", now_ms));
    }

    /// SDS-R sweep: repairs whose T_resp has come are emitted as `RepairReady` events;
    /// outgoing repair requests older than T_max are dropped; dependencies buffered
    /// messages still wait for are requested again, taking turns, at most
    /// 10 000 per sweep.
    pub fn sweep_repair(&mut self, now_ms: u64) {
        let config = &self.config;
        let t_max = config.repair_t_max_ms;
        let mut rerequests = SWEEP_MAX_ITEMS;
        for channel in self.channels.values_mut() {
            let before_usage = channel.usage();
            let before = (channel.incoming_repair.len(), channel.outgoing_repair.len());
            let channel_id = channel.id.clone();
            let format = config.wire_format_of(&channel_id);
            let events = &mut self.events;
            let counters = &mut channel.counters;
            let due: Vec<String> = channel
                .incoming_repair
                .iter()
                .filter(|(_, repair)| now_ms >= repair.min_time_ms)
                .map(|(id, _)| id.to_owned())
                .collect();
            for id in due {
                if let Some(repair) = channel.incoming_repair.remove(&id) {
                    counters.repairs_sent += 1;
                    events.push(Event::RepairReady {
                        channel_id: channel_id.clone(),
                        message_id: id,
                        bytes: in_format(format, repair.cached_message),
                    });
                }
            }
            channel
                .outgoing_repair
                .retain(|_, repair| now_ms.saturating_sub(repair.min_time_ms) <= t_max);
            // A request is sent once; while buffered messages still wait for a dependency,
            // ask again (a lost request or a lost answer must not stall them for good).
            let room = config
                .max_repair_buffer
                .saturating_sub(channel.outgoing_repair.len())
                .min(rerequests);
            let still_missing = channel.incoming.next_dependencies(room);
            rerequests -= still_missing.len();
            let mut repair_room = self
                .budget
                .repair_limit()
                .saturating_sub(self.budget.used().repair);
            request_repairs(channel, &still_missing, config, now_ms, &mut repair_room);
            if before != (channel.incoming_repair.len(), channel.outgoing_repair.len()) {
                channel.changes.dirty = true;
            }
            self.budget.settle(before_usage, channel.usage());
        }
    }

    /// Sizes and counters of a channel.
    pub fn channel_stats(&self, channel_id: &str) -> Option<ChannelStats> {
        let channel = self.channels.get(channel_id)?;
        Some(ChannelStats {
            lamport_timestamp: channel.lamport,
            history_len: channel.history.len(),
            outgoing_len: channel.outgoing.len(),
            incoming_len: channel.incoming.len(),
            incoming_bytes: channel.incoming.bytes(),
            outgoing_repair_len: channel.outgoing_repair.len(),
            incoming_repair_len: channel.incoming_repair.len(),
            memory: channel.usage(),
            manager_memory: self.budget.used(),
            memory_budget: self.budget.limit(),
            counters: channel.counters,
        })
    }

    /// Whether the channel's bloom filter contains `message_id`.
    pub fn bloom_contains(&self, channel_id: &str, message_id: &str) -> bool {
        self.channels
            .get(channel_id)
            .is_some_and(|c| c.bloom.contains(message_id))
    }

    /// A delivered message held in the channel's history (without its bloom field).
    pub fn history_message(&self, channel_id: &str, message_id: &str) -> Option<SdsMessage> {
        self.channels.get(channel_id)?.history.message(message_id)
    }

    /// The stored encoding of a delivered message held in the channel's history: its wire
    /// bytes with an empty bloom field, as `wire::encode_stored_message` writes them.
    pub fn history_stored(&self, channel_id: &str, message_id: &str) -> Option<&[u8]> {
        self.channels
            .get(channel_id)?
            .history
            .get(message_id)
            .map(|r| r.stored.as_slice())
    }

    /// Ids in the channel's history, oldest first.
    pub fn history_ids(&self, channel_id: &str) -> Vec<String> {
        self.channels
            .get(channel_id)
            .map(|c| {
                c.history
                    .newest_ids(usize::MAX)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The channel's complete state except history and bloom, as persistence saves it.
    pub fn channel_meta(&self, channel_id: &str) -> Option<ChannelMeta> {
        let channel = self.channels.get(channel_id)?;
        Some(ChannelMeta {
            lamport_timestamp: channel.lamport,
            outgoing: channel.outgoing.values().map(|o| o.entry.clone()).collect(),
            incoming: channel.incoming.snapshot(),
            outgoing_repair: channel.outgoing_repair.values().cloned().collect(),
            incoming_repair: channel.incoming_repair.values().cloned().collect(),
            met_ids: channel.met_ids.iter().cloned().collect(),
        })
    }

    /// The channel's meta without its buffers: the fixed-size part (the Lamport clock)
    /// a backend that stores buffer entries as rows keeps in one header row.
    pub fn channel_meta_header(&self, channel_id: &str) -> Option<ChannelMeta> {
        let channel = self.channels.get(channel_id)?;
        Some(ChannelMeta {
            lamport_timestamp: channel.lamport,
            ..ChannelMeta::default()
        })
    }

    /// The entry `message_id` of the channel's buffer `kind`, alone in an otherwise empty
    /// meta (the unit a backend storing buffer entries as rows keeps per row); `None`
    /// if the channel or the entry is not there.
    pub fn channel_meta_entry(
        &self,
        channel_id: &str,
        kind: BufferKind,
        message_id: &str,
    ) -> Option<ChannelMeta> {
        let channel = self.channels.get(channel_id)?;
        let mut meta = ChannelMeta::default();
        match kind {
            BufferKind::Outgoing => {
                let entry = channel.outgoing.get(message_id)?.entry.clone();
                meta.outgoing.push(entry);
            }
            BufferKind::Incoming => meta.incoming.push(channel.incoming.entry(message_id)?),
            BufferKind::OutgoingRepair => meta
                .outgoing_repair
                .push(channel.outgoing_repair.get(message_id)?.clone()),
            BufferKind::IncomingRepair => meta
                .incoming_repair
                .push(channel.incoming_repair.get(message_id)?.clone()),
            BufferKind::MetIds => {
                if !channel.met_ids.contains(message_id) {
                    return None;
                }
                meta.met_ids.push(message_id.to_owned());
            }
        }
        Some(meta)
    }

    /// Removes and returns what changed in the channel since the last call.
    pub fn take_changes(&mut self, channel_id: &str) -> Option<ChannelChanges> {
        self.channels.get_mut(channel_id).map(Channel::take_changes)
    }

    /// Replaces the channel with state loaded from persistence. The bloom filter is
    /// rebuilt from history, buffered and met ids. Buffered messages with no recorded
    /// arrival time count as arrived `now_ms`. A Lamport clock beyond what a received
    /// message could set now (a clock poisoned before this rule existed) is brought back
    /// to that ceiling.
    pub fn restore_channel(
        &mut self,
        now_ms: u64,
        channel_id: &str,
        data: ChannelData,
    ) -> Result<(), ProtocolError> {
        self.remove_channel(channel_id);
        let mut channel = self.new_channel(channel_id)?;
        channel.set_journaling(false);
        let meta = data.meta;
        channel.lamport = meta.lamport_timestamp.min(self.lamport_ceiling(now_ms));
        for message in data.history {
            channel.bloom.add(&message.message_id);
            channel.history.push(&message);
        }
        for id in &meta.met_ids {
            channel.bloom.add(id);
            channel.met_ids.insert(id);
        }
        for mut entry in meta.outgoing {
            entry.message.bloom_filter = Vec::new();
            let hashes = IdHashes::of_as(channel.bloom.hashing(), &entry.message.message_id);
            channel
                .outgoing
                .insert(entry.message.message_id.clone(), Outgoing { entry, hashes });
        }
        for entry in meta.incoming {
            let received_at = if entry.received_at_ms == 0 {
                now_ms
            } else {
                entry.received_at_ms
            };
            // The message's own causal history describes each dependency best (sender, hint).
            let described: HashMap<&str, &HistoryEntry> = entry
                .message
                .causal_history
                .iter()
                .map(|e| (e.message_id.as_str(), e))
                .collect();
            let missing: Vec<HistoryEntry> = entry
                .missing_deps
                .iter()
                .map(|id| {
                    described
                        .get(id.as_str())
                        .map_or_else(|| HistoryEntry::new(id.as_str()), |e| (*e).clone())
                })
                .collect();
            channel.bloom.add(&entry.message.message_id);
            channel
                .incoming
                .insert(entry.message, &missing, received_at);
        }
        for repair in meta.outgoing_repair {
            channel
                .outgoing_repair
                .insert(repair.entry.message_id.clone(), repair);
        }
        for repair in meta.incoming_repair {
            channel
                .incoming_repair
                .insert(repair.entry.message_id.clone(), repair);
        }
        channel.set_journaling(self.journaling);
        self.budget.settle(Usage::default(), channel.usage());
        self.channels.insert(channel_id.to_owned(), channel);
        self.reclaim(Some(channel_id));
        Ok(())
    }
}

/// What a history record holds beyond its message's encoding (sender, index slots, the
/// id twice, the bloom filter's tracked hash), generously.
const HISTORY_RECORD_OVERHEAD: usize = 512;

/// Advances the channel clock and builds an outgoing message (bloom field left empty)
/// carrying the newest causal history, with hints asked of `hints` while unknown, and the
/// SDS-R repair requests that are due, oldest first (they leave the repair buffer).
fn compose(
    channel: &mut Channel,
    config: &ProtocolConfig,
    hints: Option<&mut (dyn RetrievalHintProvider + 'static)>,
    now_ms: u64,
    clock: i64,
    message_id: &str,
    content: Vec<u8>,
) -> SdsMessage {
    channel.changes.dirty = true;
    channel.lamport = clock.max(channel.lamport).saturating_add(1);

    let mut due: Vec<&OutgoingRepair> = channel
        .outgoing_repair
        .values()
        .filter(|r| now_ms >= r.min_time_ms)
        .collect();
    due.sort_by_key(|r| r.min_time_ms);
    let repair_request: Vec<HistoryEntry> = due
        .into_iter()
        .take(config.max_repair_requests)
        .map(|r| r.entry.clone())
        .collect();
    for entry in &repair_request {
        channel.outgoing_repair.remove(&entry.message_id);
    }
    channel.counters.repairs_requested += repair_request.len() as u64;

    let mut causal_history: Vec<HistoryEntry> = channel
        .history
        .newest_entries(config.max_causal_history)
        .collect();
    if let Some(provider) = hints {
        for entry in causal_history
            .iter_mut()
            .filter(|e| e.retrieval_hint.is_empty())
        {
            let hint = provider.retrieval_hint(&channel.id, &entry.message_id);
            // A hint peers would refuse is not used (nor kept).
            if !hint.is_empty() && hint.len() <= config.max_id_bytes {
                channel.learn_hint(&entry.message_id, hint.clone());
                entry.retrieval_hint = hint;
            }
        }
    }

    SdsMessage {
        message_id: message_id.to_owned(),
        lamport_timestamp: channel.lamport,
        causal_history,
        channel_id: channel.id.clone(),
        content,
        bloom_filter: Vec::new(),
        sender_id: config.participant_id.clone(),
        repair_request,
    }
}

/// A stored message (nim encoding, no bloom) as it goes on the wire in `format`.
fn in_format(format: WireFormat, stored: Vec<u8>) -> Vec<u8> {
    match (format, wire::decode_stored_message(&stored)) {
        (WireFormat::Spec, Ok(message)) => {
            wire::encode_message_with_bloom_as(format, &message, &[])
        }
        _ => stored,
    }
}

/// Most outgoing entries one received message's bloom filter is tested against. With
/// more outstanding, each receive tests a window of this many (consecutive, wrapping),
/// placed by the received message's id, so that a receive costs the same with 10 000
/// messages outstanding as with 1 000 and, over a few receives, every entry is tested.
/// Causal-history mentions are always honoured, wherever they are.
pub(crate) const BLOOM_REVIEW_WINDOW: usize = 1024;

/// Up to this many acknowledged entries are removed one by one, beyond in one pass.
const FEW_REMOVALS: usize = 16;

/// Acknowledgement review of a received message against the channel's outgoing buffer:
/// a causal-history mention acknowledges at once; a bloom hit makes the message possibly
/// acknowledged, and `bloom_acks_to_confirm` independent hits acknowledge it (at most
/// [`BLOOM_REVIEW_WINDOW`] entries are tested per message). A peer bloom that fails
/// validation is ignored. Events come in buffer order.
fn review_acks(
    channel: &mut Channel,
    message: &SdsMessage,
    (peer_format, peer_bloom): (WireFormat, &[u8]),
    config: &ProtocolConfig,
    events: &mut Vec<Event>,
) {
    let len = channel.outgoing.len();
    if len == 0 {
        return;
    }
    // Positions in the outgoing buffer of the messages the causal history mentions,
    // sorted and unique: the walk below then tests each entry by position, hashing no id.
    let mut mentioned: Vec<usize> = message
        .causal_history
        .iter()
        .filter_map(|e| channel.outgoing.get_index_of(e.message_id.as_str()))
        .collect();
    mentioned.sort_unstable();
    mentioned.dedup();
    let peer_bloom = if peer_bloom.is_empty() {
        None
    } else {
        PeerBloom::parse_as(peer_format, peer_bloom, channel.bloom.filter()).ok()
    };
    if mentioned.is_empty() && peer_bloom.is_none() {
        return;
    }
    // The positions to visit, ascending: every mentioned one, and the bloom window (at
    // most two ranges: it may wrap around the end).
    let window: [std::ops::Range<usize>; 2] = if peer_bloom.is_none() {
        [0..0, 0..0]
    } else if len <= BLOOM_REVIEW_WINDOW {
        [0..len, 0..0]
    } else {
        let start = (window_seed(&message.message_id) % len as u64) as usize;
        let end = start + BLOOM_REVIEW_WINDOW;
        if end <= len {
            [start..end, 0..0]
        } else {
            [0..end - len, start..len]
        }
    };
    let in_window = |at: usize| window.iter().any(|r| r.contains(&at));
    // Both ascending: merged as they go, so no list of positions is built per receive.
    let mut windowed = window.iter().cloned().flatten().peekable();
    let mut outside = mentioned
        .iter()
        .copied()
        .filter(|&at| !in_window(at))
        .peekable();
    let visits = std::iter::from_fn(|| match (windowed.peek(), outside.peek()) {
        (Some(&w), Some(&m)) if m < w => outside.next(),
        (Some(_), _) => windowed.next(),
        (None, _) => outside.next(),
    });

    let channel_id = &channel.id;
    let counters = &mut channel.counters;
    // The cached hashes follow the channel's dialect; a peer of the other one placed its
    // bits by its own hash.
    let cached_hashes_fit = peer_format == channel.bloom.hashing();
    let mut journal = channel
        .journaling
        .then_some(&mut channel.changes.buffers.outgoing);
    let mut acknowledged_at = Vec::new();
    for at in visits {
        let Some((id, out)) = channel.outgoing.get_index_mut(at) else {
            continue;
        };
        let acknowledged = if mentioned.binary_search(&at).is_ok() {
            true
        } else if peer_bloom.as_ref().is_some_and(|b| {
            if cached_hashes_fit {
                b.contains_hashed(&out.hashes)
            } else {
                b.contains_hashed(&IdHashes::of_as(peer_format, id))
            }
        }) {
            out.entry.bloom_hits += 1;
            if let Some(journal) = journal.as_deref_mut() {
                journal.changed(id);
            }
            counters.possibly_acknowledged += 1;
            let confirmed = out.entry.bloom_hits >= config.bloom_acks_to_confirm;
            if !confirmed {
                events.push(Event::PossiblyAcknowledged {
                    channel_id: channel_id.clone(),
                    message_id: id.clone(),
                    hits: out.entry.bloom_hits,
                });
            }
            confirmed
        } else {
            false
        };
        if acknowledged {
            if let Some(journal) = journal.as_deref_mut() {
                journal.removed(id);
            }
            counters.acknowledged += 1;
            events.push(Event::MessageSent {
                channel_id: channel_id.clone(),
                message_id: id.clone(),
            });
            acknowledged_at.push(at);
        }
    }
    // Removal keeps the buffer's order. A few at a time (the usual case: a peer names our
    // newest messages), each removal costs what follows it in the buffer; more, one pass.
    if acknowledged_at.len() <= FEW_REMOVALS {
        for &at in acknowledged_at.iter().rev() {
            channel.outgoing.shift_remove_index(at);
        }
    } else {
        let mut position = 0;
        channel.outgoing.retain(|_, _| {
            let keep = acknowledged_at.binary_search(&position).is_err();
            position += 1;
            keep
        });
    }
}

/// Where a received message's bloom window starts (before reduction): FNV-1a of its id,
/// so that successive messages test different parts of a large buffer.
fn window_seed(message_id: &str) -> u64 {
    message_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// SDS-R: a received message's repair requests. Each cancels our own pending request for
/// the same id; requests for messages we hold, from senders in our response group, are
/// scheduled for rebroadcast at T_resp, while `room` (bytes of the repair share) and
/// `max_repair_buffer` allow.
fn take_repair_requests(
    channel: &mut Channel,
    message: &SdsMessage,
    config: &ProtocolConfig,
    now_ms: u64,
    room: &mut usize,
) {
    let participant = config.participant_id.as_str();
    for request in &message.repair_request {
        let id = request.message_id.as_str();
        channel.outgoing_repair.remove(id);
        if participant.is_empty()
            || request.sender_id.is_empty()
            || channel.incoming_repair.contains_key(id)
            || !sdsr::in_response_group(
                participant,
                &request.sender_id,
                id,
                config.num_response_groups,
            )
        {
            continue;
        }
        let Some(record) = channel.history.get(id) else {
            continue;
        };
        let t_resp = sdsr::t_resp_ms(participant, &request.sender_id, id, config.repair_t_max_ms);
        let repair = IncomingRepair {
            entry: request.clone(),
            cached_message: record.stored.clone(),
            min_time_ms: now_ms.saturating_add(t_resp),
        };
        let charge = RepairBuffer::charge(id, &repair);
        if channel.incoming_repair.len() >= config.max_repair_buffer || charge > *room {
            channel.counters.refused(None);
            continue;
        }
        *room -= charge;
        channel.incoming_repair.insert(id.to_owned(), repair);
    }
}

/// SDS-R: schedules repair requests for missing dependencies at T_req, while `room`
/// (bytes of the repair share) and `max_repair_buffer` allow.
fn request_repairs(
    channel: &mut Channel,
    missing: &[HistoryEntry],
    config: &ProtocolConfig,
    now_ms: u64,
    room: &mut usize,
) {
    let participant = config.participant_id.as_str();
    if participant.is_empty() {
        return;
    }
    for dep in missing {
        // A dependency we hold buffered needs no repair, only its own dependencies do.
        if channel.outgoing_repair.contains_key(&dep.message_id)
            || channel.incoming.contains(&dep.message_id)
        {
            continue;
        }
        let t_req = sdsr::t_req_ms(
            participant,
            &dep.message_id,
            config.repair_t_min_ms,
            config.repair_t_max_ms,
        );
        let repair = OutgoingRepair {
            entry: dep.clone(),
            min_time_ms: now_ms.saturating_add(t_req),
        };
        let charge = RepairBuffer::charge(&dep.message_id, &repair);
        if channel.outgoing_repair.len() >= config.max_repair_buffer || charge > *room {
            // The rest would be refused alike; count the refusal once.
            channel.counters.refused(None);
            return;
        }
        *room -= charge;
        channel
            .outgoing_repair
            .insert(dep.message_id.clone(), repair);
    }
}
