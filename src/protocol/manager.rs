//! The reliability manager: SDS and SDS-R operations over any number of channels.
//!
//! Every operation takes `now` (Unix milliseconds) from the caller and appends the events
//! it causes to an internal queue the caller drains with [`Manager::take_events`]. A
//! refused operation (an `Err`) leaves the state unchanged.

use std::collections::{HashMap, HashSet};

use super::bloom::{IdHashes, PeerBloom};
use super::channel::{
    buffered_size, BoundedIdSet, Channel, ChannelChanges, ChannelCounters, Outgoing,
};
use super::config::{ConfigError, LamportUnit, ProtocolConfig, MAX_CONTENT_SIZE};
use super::error::ProtocolError;
use super::event::Event;
use super::history::MessageHistory;
use super::message::{HistoryEntry, SdsMessage};
use super::rolling_bloom::RollingBloomFilter;
use super::sdsr;
use super::snapshot::{ChannelData, ChannelMeta, IncomingRepair, OutgoingEntry, OutgoingRepair};
use super::wire::{self, Received};

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

/// How a received message was handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// Approximate bytes those buffered messages hold.
    pub incoming_bytes: usize,
    /// SDS-R outgoing repair buffer size.
    pub outgoing_repair_len: usize,
    /// SDS-R incoming repair buffer size.
    pub incoming_repair_len: usize,
    /// Counters since the channel was created or loaded in this process.
    pub counters: ChannelCounters,
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
            .map_err(|e| ConfigError {
            key: "bloom_capacity",
            reason: e.to_string(),
        })?;
        Ok(Self {
            empty_bloom,
            config,
            channels: HashMap::new(),
            events: Vec::new(),
            hint_provider: None,
            journaling: false,
            scratch: Vec::new(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProtocolConfig {
        &self.config
    }

    /// Installs (or removes) the retrieval-hint provider used by later wraps.
    pub fn set_retrieval_hint_provider(
        &mut self,
        provider: Option<Box<dyn RetrievalHintProvider>>,
    ) {
        self.hint_provider = provider;
    }

    /// Turns on recording of history changes and learned hints for [`Self::take_changes`].
    /// The persistence layer enables it and drains after every operation.
    pub fn set_journaling(&mut self, on: bool) {
        self.journaling = on;
        for channel in self.channels.values_mut() {
            channel.journaling = on;
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
        self.channel_mut(channel_id).map(|_| ())
    }

    /// Forgets a channel and all its state. Returns whether it existed.
    pub fn remove_channel(&mut self, channel_id: &str) -> bool {
        self.channels.remove(channel_id).is_some()
    }

    /// Forgets every channel.
    pub fn reset(&mut self) {
        self.channels.clear();
    }

    fn new_channel(&self, channel_id: &str) -> Result<Channel, ProtocolError> {
        if channel_id.is_empty() {
            return Err(ProtocolError::EmptyChannelId);
        }
        if self.channels.len() >= self.config.max_channels {
            return Err(ProtocolError::TooManyChannels {
                max: self.config.max_channels,
            });
        }
        Ok(Channel::new(
            channel_id,
            MessageHistory::new(
                self.config.max_message_history,
                self.config.max_history_bytes,
            ),
            self.empty_bloom.clone(),
            BoundedIdSet::new(self.config.max_message_history),
            self.journaling,
        ))
    }

    fn channel_mut(&mut self, channel_id: &str) -> Result<&mut Channel, ProtocolError> {
        if !self.channels.contains_key(channel_id) {
            let channel = self.new_channel(channel_id)?;
            self.channels.insert(channel_id.to_owned(), channel);
        }
        self.channels
            .get_mut(channel_id)
            .ok_or_else(|| ProtocolError::UnknownChannel(channel_id.to_owned()))
    }

    fn clock(&self, now_ms: u64) -> i64 {
        let now = match self.config.lamport_unit {
            LamportUnit::Milliseconds => now_ms,
            LamportUnit::Seconds => now_ms / 1000,
        };
        i64::try_from(now).unwrap_or(i64::MAX)
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

    /// Creates the channel if needed and composes an outgoing message on it (see
    /// [`compose`]). Also returns the channel and its bloom filter serialized as it is now,
    /// before the message's own id is added (as nim-sds sends it).
    fn compose_on(
        &mut self,
        now_ms: u64,
        channel_id: &str,
        message_id: &str,
        content: Vec<u8>,
    ) -> Result<(SdsMessage, &mut Channel, &[u8]), ProtocolError> {
        let clock = self.clock(now_ms);
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
        channel.bloom.encode_into(scratch);
        Ok((message, channel, scratch))
    }

    /// Wraps `content` for sending on `channel_id`: Lamport timestamp, causal history,
    /// bloom filter, sender id and due SDS-R repair requests. The message enters history,
    /// bloom filter and outgoing buffer. Returns the wire bytes to broadcast.
    pub fn wrap(
        &mut self,
        now_ms: u64,
        channel_id: &str,
        message_id: &str,
        content: &[u8],
    ) -> Result<Vec<u8>, ProtocolError> {
        Self::check_content(content)?;
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
        let (message, channel, bloom) =
            self.compose_on(now_ms, channel_id, message_id, content.to_vec())?;
        let bytes = wire::encode_message_with_bloom(&message, bloom);
        let hashes = IdHashes::of(message_id);
        channel.bloom.add_hashed(message_id, hashes);
        channel.add_to_history(&message);
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
        Ok(bytes)
    }

    /// Builds a sync message: empty content, a fresh Lamport timestamp, causal history,
    /// bloom filter and due repair requests. It enters no history, buffer or bloom.
    pub fn build_sync_message(
        &mut self,
        now_ms: u64,
        channel_id: &str,
    ) -> Result<Vec<u8>, ProtocolError> {
        let participant = self.config.participant_id.clone();
        let (mut message, _, bloom) = self.compose_on(now_ms, channel_id, "", Vec::new())?;
        // Sync messages are never stored, so their id only needs to be unique per sender.
        message.message_id = if participant.is_empty() {
            format!("sync-{}", message.lamport_timestamp)
        } else {
            format!("sync-{participant}-{}", message.lamport_timestamp)
        };
        Ok(wire::encode_message_with_bloom(&message, bloom))
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
        let message = SdsMessage {
            message_id: message_id.to_owned(),
            channel_id: channel_id.to_owned(),
            content: content.to_vec(),
            sender_id: self.config.participant_id.clone(),
            ..SdsMessage::default()
        };
        Ok(wire::encode_message(&message))
    }

    /// Decodes and processes a received message; see [`Self::unwrap_decoded`].
    pub fn unwrap(&mut self, now_ms: u64, bytes: &[u8]) -> Result<Unwrapped, ProtocolError> {
        let message = self.decode(bytes)?;
        self.unwrap_decoded(now_ms, message)
    }

    /// Decodes a received message, refusing oversized input before parsing it.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<Received<'a>, ProtocolError> {
        if bytes.len() > self.config.max_wire_message_size {
            return Err(ProtocolError::WireMessageTooLarge {
                size: bytes.len(),
                max: self.config.max_wire_message_size,
            });
        }
        Ok(wire::decode_received(bytes)?)
    }

    /// Processes a decoded received message: deduplicates it, reviews acknowledgements
    /// (causal history: acknowledged; bloom filter: possibly acknowledged until confirmed),
    /// updates the Lamport clock, does SDS-R bookkeeping, then delivers it (with every
    /// buffered message it unblocks, in causal order) or buffers it.
    pub fn unwrap_decoded(
        &mut self,
        now_ms: u64,
        received: Received<'_>,
    ) -> Result<Unwrapped, ProtocolError> {
        let ephemeral = received.is_ephemeral();
        let Received {
            message,
            bloom: peer_bloom,
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
        let max_incoming = self.config.max_incoming_buffer;
        let max_incoming_bytes = self.config.max_incoming_buffer_bytes;
        self.channel_mut(&message.channel_id)?;
        let Some(channel) = self.channels.get_mut(&message.channel_id) else {
            return Err(ProtocolError::UnknownChannel(message.channel_id));
        };
        let id = message.message_id.clone();
        let duplicate = channel.history.contains(&id) || channel.incoming.contains_key(&id);
        let sync = message.is_sync();
        let missing = if duplicate {
            Vec::new()
        } else {
            channel.missing_dependencies(&message.causal_history)
        };
        let over_budget = channel.incoming.len() >= max_incoming
            || channel.incoming_bytes + buffered_size(&message) > max_incoming_bytes;
        if !duplicate && !sync && !missing.is_empty() && over_budget {
            channel.counters.dropped_by_limits += 1;
            return Err(ProtocolError::IncomingBufferFull {
                channel_id: message.channel_id.clone(),
                max: max_incoming,
                max_bytes: max_incoming_bytes,
            });
        }

        channel.changes.dirty = true;
        // SDS-R: whoever broadcast this message has answered any repair for it.
        channel.outgoing_repair.shift_remove(&id);
        channel.incoming_repair.shift_remove(&id);
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
            return Ok(outcome);
        }

        if !sync {
            channel.bloom.add(&id);
        }
        channel.lamport = message
            .lamport_timestamp
            .max(channel.lamport)
            .saturating_add(1);
        review_acks(
            channel,
            &message,
            peer_bloom,
            &self.config,
            &mut self.events,
        );
        take_repair_requests(channel, &message, &self.config, now_ms);
        request_repairs(channel, &missing, &self.config, now_ms);

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
            channel.buffer(message, &missing, now_ms);
            outcome.missing = missing;
        }
        Ok(outcome)
    }

    /// Declares `message_ids` present on `channel_id` (retrieved by the host some other
    /// way): they enter the bloom filter, leave the repair buffers, satisfy buffered and
    /// later dependencies, and unblocked messages are delivered in causal order.
    pub fn mark_dependencies_met<S: AsRef<str>>(
        &mut self,
        message_ids: &[S],
        channel_id: &str,
    ) -> Result<(), ProtocolError> {
        let Some(channel) = self.channels.get_mut(channel_id) else {
            return Err(ProtocolError::UnknownChannel(channel_id.to_owned()));
        };
        channel.changes.dirty = true;
        for id in message_ids {
            let id = id.as_ref();
            if !channel.bloom.contains(id) {
                channel.bloom.add(id);
            }
            channel.outgoing_repair.shift_remove(id);
            channel.incoming_repair.shift_remove(id);
            channel.mark_met(id, &mut self.events);
        }
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
            let bloom = &channel.bloom;
            let events = &mut self.events;
            let counters = &mut channel.counters;
            channel.outgoing.retain(|id, out| {
                if now_ms.saturating_sub(out.entry.send_time_ms) <= config.resend_interval_ms {
                    return true;
                }
                changed = true;
                if out.entry.resend_attempts >= config.max_resend_attempts {
                    counters.expired += 1;
                    events.push(Event::Expired {
                        channel_id: channel_id.clone(),
                        message_id: id.clone(),
                    });
                    return false;
                }
                out.entry.resend_attempts += 1;
                out.entry.send_time_ms = now_ms;
                counters.resends += 1;
                let bloom = bloom_bytes.get_or_insert_with(|| bloom.serialize());
                events.push(Event::Resend {
                    channel_id: channel_id.clone(),
                    message_id: id.clone(),
                    attempt: out.entry.resend_attempts,
                    bytes: wire::encode_message_with_bloom(&out.entry.message, bloom),
                });
                true
            });
            channel.changes.dirty |= changed;
        }
    }

    /// Incoming sweep: buffered messages waiting longer than `max_dependency_wait_ms`
    /// are dropped with a `Lost` event naming the dependencies that never arrived.
    pub fn sweep_incoming(&mut self, now_ms: u64) {
        let wait = self.config.max_dependency_wait_ms;
        for channel in self.channels.values_mut() {
            let expired: Vec<String> = channel
                .incoming
                .iter()
                .filter(|(_, e)| now_ms.saturating_sub(e.received_at_ms) > wait)
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                if let Some(entry) = channel.drop_buffered(&id) {
                    channel.counters.lost += 1;
                    channel.changes.dirty = true;
                    self.events.push(Event::Lost {
                        channel_id: channel.id.clone(),
                        message_id: id,
                        missing: entry.missing_deps,
                    });
                }
            }
        }
    }

    /// SDS-R sweep: repairs whose T_resp has come are emitted as `RepairReady` events;
    /// outgoing repair requests older than T_max are dropped.
    pub fn sweep_repair(&mut self, now_ms: u64) {
        let config = &self.config;
        let t_max = config.repair_t_max_ms;
        for channel in self.channels.values_mut() {
            let before = (channel.incoming_repair.len(), channel.outgoing_repair.len());
            let channel_id = channel.id.clone();
            let events = &mut self.events;
            let counters = &mut channel.counters;
            channel.incoming_repair.retain(|id, repair| {
                if now_ms < repair.min_time_ms {
                    return true;
                }
                counters.repairs_sent += 1;
                events.push(Event::RepairReady {
                    channel_id: channel_id.clone(),
                    message_id: id.clone(),
                    bytes: std::mem::take(&mut repair.cached_message),
                });
                false
            });
            channel
                .outgoing_repair
                .retain(|_, repair| now_ms.saturating_sub(repair.min_time_ms) <= t_max);
            // A request is sent once; while buffered messages still wait for a dependency,
            // ask again (a lost request or a lost answer must not stall them for good).
            let still_missing: Vec<HistoryEntry> = channel
                .waiters
                .values()
                .map(|w| w.dependency.clone())
                .collect();
            request_repairs(channel, &still_missing, config, now_ms);
            if before != (channel.incoming_repair.len(), channel.outgoing_repair.len()) {
                channel.changes.dirty = true;
            }
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
            incoming_bytes: channel.incoming_bytes,
            outgoing_repair_len: channel.outgoing_repair.len(),
            incoming_repair_len: channel.incoming_repair.len(),
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
    /// bytes with an empty bloom field, as `codec::encode_stored_message` writes them.
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
            incoming: channel.incoming.values().cloned().collect(),
            outgoing_repair: channel.outgoing_repair.values().cloned().collect(),
            incoming_repair: channel.incoming_repair.values().cloned().collect(),
            met_ids: channel.met_ids.iter().cloned().collect(),
        })
    }

    /// Removes and returns what changed in the channel since the last call.
    pub fn take_changes(&mut self, channel_id: &str) -> Option<ChannelChanges> {
        self.channels
            .get_mut(channel_id)
            .map(|c| std::mem::take(&mut c.changes))
    }

    /// Replaces the channel with state loaded from persistence. The bloom filter is
    /// rebuilt from history, buffered and met ids. Buffered messages with no recorded
    /// arrival time count as arrived `now_ms`.
    pub fn restore_channel(
        &mut self,
        now_ms: u64,
        channel_id: &str,
        data: ChannelData,
    ) -> Result<(), ProtocolError> {
        self.channels.remove(channel_id);
        let mut channel = self.new_channel(channel_id)?;
        channel.journaling = false;
        let meta = data.meta;
        channel.lamport = meta.lamport_timestamp;
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
            let hashes = IdHashes::of(&entry.message.message_id);
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
            let missing: Vec<HistoryEntry> = entry
                .missing_deps
                .iter()
                .map(|id| {
                    entry
                        .message
                        .causal_history
                        .iter()
                        .find(|e| &e.message_id == id)
                        .cloned()
                        .unwrap_or_else(|| HistoryEntry::new(id.as_str()))
                })
                .collect();
            channel.bloom.add(&entry.message.message_id);
            channel.buffer(entry.message, &missing, received_at);
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
        channel.journaling = self.journaling;
        self.channels.insert(channel_id.to_owned(), channel);
        Ok(())
    }
}

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
        channel.outgoing_repair.shift_remove(&entry.message_id);
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
            if !hint.is_empty() {
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

/// Acknowledgement review of a received message against the channel's outgoing buffer:
/// a causal-history mention acknowledges at once; a bloom hit makes the message possibly
/// acknowledged, and `bloom_acks_to_confirm` independent hits acknowledge it. A peer
/// bloom that fails validation is ignored.
fn review_acks(
    channel: &mut Channel,
    message: &SdsMessage,
    peer_bloom: &[u8],
    config: &ProtocolConfig,
    events: &mut Vec<Event>,
) {
    if channel.outgoing.is_empty() {
        return;
    }
    let mentioned: HashSet<&str> = message
        .causal_history
        .iter()
        .map(|e| e.message_id.as_str())
        .filter(|id| channel.outgoing.contains_key(*id))
        .collect();
    let peer_bloom = if peer_bloom.is_empty() {
        None
    } else {
        PeerBloom::parse(peer_bloom).ok()
    };
    if mentioned.is_empty() && peer_bloom.is_none() {
        return;
    }
    let channel_id = &channel.id;
    let counters = &mut channel.counters;
    channel.outgoing.retain(|id, out| {
        let acknowledged = if mentioned.contains(id.as_str()) {
            true
        } else if peer_bloom
            .as_ref()
            .is_some_and(|b| b.contains_hashed(&out.hashes))
        {
            out.entry.bloom_hits += 1;
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
            counters.acknowledged += 1;
            events.push(Event::MessageSent {
                channel_id: channel_id.clone(),
                message_id: id.clone(),
            });
        }
        !acknowledged
    });
}

/// SDS-R: a received message's repair requests. Each cancels our own pending request for
/// the same id; requests for messages we hold, from senders in our response group, are
/// scheduled for rebroadcast at T_resp.
fn take_repair_requests(
    channel: &mut Channel,
    message: &SdsMessage,
    config: &ProtocolConfig,
    now_ms: u64,
) {
    let participant = config.participant_id.as_str();
    for request in &message.repair_request {
        let id = request.message_id.as_str();
        channel.outgoing_repair.shift_remove(id);
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
        if channel.incoming_repair.len() >= config.max_repair_buffer {
            channel.counters.dropped_by_limits += 1;
            continue;
        }
        let t_resp = sdsr::t_resp_ms(participant, &request.sender_id, id, config.repair_t_max_ms);
        let cached_message = record.stored.clone();
        channel.incoming_repair.insert(
            id.to_owned(),
            IncomingRepair {
                entry: request.clone(),
                cached_message,
                min_time_ms: now_ms.saturating_add(t_resp),
            },
        );
    }
}

/// SDS-R: schedules repair requests for missing dependencies at T_req.
fn request_repairs(
    channel: &mut Channel,
    missing: &[HistoryEntry],
    config: &ProtocolConfig,
    now_ms: u64,
) {
    let participant = config.participant_id.as_str();
    if participant.is_empty() {
        return;
    }
    for dep in missing {
        // A dependency we hold buffered needs no repair, only its own dependencies do.
        if channel.outgoing_repair.contains_key(&dep.message_id)
            || channel.incoming.contains_key(&dep.message_id)
        {
            continue;
        }
        if channel.outgoing_repair.len() >= config.max_repair_buffer {
            channel.counters.dropped_by_limits += 1;
            continue;
        }
        let t_req = sdsr::t_req_ms(
            participant,
            &dep.message_id,
            config.repair_t_min_ms,
            config.repair_t_max_ms,
        );
        channel.outgoing_repair.insert(
            dep.message_id.clone(),
            OutgoingRepair {
                entry: dep.clone(),
                min_time_ms: now_ms.saturating_add(t_req),
            },
        );
    }
}
