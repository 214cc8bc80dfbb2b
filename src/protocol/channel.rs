//! One channel's state and the operations that touch only it: delivery with causal
//! cascade, acknowledgement bookkeeping, what it holds, refusal counters, and the change
//! journal the persistence layer drains.

use std::collections::{HashSet, VecDeque};
use std::mem::size_of;

use indexmap::IndexMap;

use super::bloom::IdHashes;
use super::budget::{array_slot, heap, table_slot, Usage};
use super::error::ProtocolError;
use super::event::Event;
use super::history::MessageHistory;
use super::incoming::IncomingBuffer;
use super::journal::{Journaling, MetaJournal};
use super::message::{HistoryEntry, SdsMessage};
use super::repair_buffer::RepairBuffer;
use super::rolling_bloom::RollingBloomFilter;
use super::snapshot::{IncomingRepair, OutgoingEntry, OutgoingRepair};

/// An unacknowledged outgoing message with its bloom hashes computed once.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub entry: OutgoingEntry,
    pub hashes: IdHashes,
}

/// A change to a channel's history, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryChange {
    /// The message with this id was appended to history.
    Append(String),
    /// The message with this id was evicted from history.
    Evict(String),
}

/// What changed in a channel since the persistence layer last looked.
#[derive(Debug, Default)]
pub struct ChannelChanges {
    /// Anything in the channel's meta (clock, buffers) may have changed.
    pub dirty: bool,
    /// History appends and evictions, in order (recorded only while journaling).
    pub history: Vec<HistoryChange>,
    /// Retrieval hints learned, as (message id, hint) (recorded only while journaling).
    pub hints: Vec<(String, Vec<u8>)>,
    /// Buffer entries added, changed or removed (recorded only while journaling).
    pub buffers: MetaJournal,
}

/// Inputs refused or not kept because a limit was reached, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct RefusalCounts {
    /// Received messages over `max_wire_message_size`.
    pub too_large: u64,
    /// Received messages with more entries than `max_received_causal_history` or
    /// `max_received_repair_requests`.
    pub too_many_entries: u64,
    /// Received messages with an id or hint over `max_id_bytes`.
    pub id_too_long: u64,
    /// Received messages refused because the channel's incoming buffer was full.
    pub buffer_full: u64,
    /// Received messages refused because the memory budget could not hold them.
    pub memory_budget: u64,
    /// Received messages for a new channel refused at `max_channels`.
    pub too_many_channels: u64,
    /// SDS-R repair entries not kept because a repair buffer or its share was full.
    pub repair_entries: u64,
}

impl RefusalCounts {
    /// Every refusal counted.
    pub fn total(&self) -> u64 {
        self.too_large
            + self.too_many_entries
            + self.id_too_long
            + self.buffer_full
            + self.memory_budget
            + self.too_many_channels
            + self.repair_entries
    }

    /// Counts one refused message (or repair entry, for `None`).
    pub(crate) fn count(&mut self, error: Option<&ProtocolError>) {
        match error {
            Some(ProtocolError::WireMessageTooLarge { .. }) => self.too_large += 1,
            Some(ProtocolError::TooManyEntries { .. }) => self.too_many_entries += 1,
            Some(ProtocolError::IdTooLong { .. }) => self.id_too_long += 1,
            Some(ProtocolError::IncomingBufferFull { .. }) => self.buffer_full += 1,
            Some(ProtocolError::MemoryBudget { .. }) => self.memory_budget += 1,
            Some(ProtocolError::TooManyChannels { .. }) => self.too_many_channels += 1,
            Some(_) => {}
            None => self.repair_entries += 1,
        }
    }
}

/// Counters reported in channel statistics (also their JSON, camelCase).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ChannelCounters {
    /// Messages delivered to the application.
    pub delivered: u64,
    /// Outgoing messages acknowledged.
    pub acknowledged: u64,
    /// Bloom-filter hits on outgoing messages.
    pub possibly_acknowledged: u64,
    /// Resends emitted.
    pub resends: u64,
    /// Outgoing messages expired unacknowledged.
    pub expired: u64,
    /// Buffered messages dropped as irretrievably lost.
    pub lost: u64,
    /// Buffered messages evicted to give another sender or channel its share.
    pub evicted: u64,
    /// Duplicates received.
    pub duplicates: u64,
    /// SDS-R repair requests attached to outgoing messages.
    pub repairs_requested: u64,
    /// SDS-R repairs rebroadcast by this node.
    pub repairs_sent: u64,
    /// Received messages or repair entries refused because a limit was reached
    /// (`refusals.total()`).
    pub dropped_by_limits: u64,
    /// Those refusals by reason.
    pub refusals: RefusalCounts,
}

impl ChannelCounters {
    /// Counts a refused message (or repair entry, for `None`).
    pub(crate) fn refused(&mut self, error: Option<&ProtocolError>) {
        self.refusals.count(error);
        self.dropped_by_limits = self.refusals.total();
    }
}

/// Refusals on one channel not yet reported by a `LimitReached` event.
#[derive(Debug, Default)]
pub(crate) struct RefusalReport {
    /// Refused messages since the last event.
    pub unreported: u64,
    /// Why the latest was refused.
    pub last_reason: String,
    /// Earliest time of the next event (Unix ms).
    pub next_at_ms: u64,
}

/// Shortest time between two `LimitReached` events of one channel.
const REFUSAL_REPORT_INTERVAL_MS: u64 = 1000;

impl RefusalReport {
    /// Notes a refusal; returns the event to emit now, if one is due.
    pub(crate) fn note(&mut self, channel_id: &str, reason: String, now_ms: u64) -> Option<Event> {
        self.unreported += 1;
        self.last_reason = reason;
        self.due(channel_id, now_ms)
    }

    /// The event reporting what is unreported, if the interval has passed.
    pub(crate) fn due(&mut self, channel_id: &str, now_ms: u64) -> Option<Event> {
        if self.unreported == 0 || now_ms < self.next_at_ms {
            return None;
        }
        self.next_at_ms = now_ms.saturating_add(REFUSAL_REPORT_INTERVAL_MS);
        Some(Event::LimitReached {
            channel_id: channel_id.to_owned(),
            refused: std::mem::take(&mut self.unreported),
            reason: std::mem::take(&mut self.last_reason),
        })
    }
}

/// A bounded insertion-ordered set of ids (oldest forgotten first).
#[derive(Debug, Default)]
pub(crate) struct BoundedIdSet {
    order: VecDeque<String>,
    members: HashSet<String>,
    max_len: usize,
    bytes: usize,
    /// What changed since the last drain, while journaling.
    pub(crate) journal: Journaling,
}

/// Heap bytes one id of `len` bytes costs in a [`BoundedIdSet`] (two copies, two slots).
fn id_set_charge(len: usize) -> usize {
    2 * heap(len) + table_slot(size_of::<String>()) + array_slot(size_of::<String>())
}

impl BoundedIdSet {
    pub(crate) fn new(max_len: usize) -> Self {
        Self {
            max_len,
            ..Self::default()
        }
    }

    pub(crate) fn insert(&mut self, id: &str) {
        if self.members.insert(id.to_owned()) {
            self.order.push_back(id.to_owned());
            self.bytes += id_set_charge(id.len());
            self.journal.added(id);
            while self.order.len() > self.max_len {
                if let Some(old) = self.order.pop_front() {
                    self.members.remove(&old);
                    self.bytes = self.bytes.saturating_sub(id_set_charge(old.len()));
                    self.journal.removed(&old);
                }
            }
        }
    }

    /// Heap bytes the ids hold.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.members.contains(id)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &String> {
        self.order.iter()
    }
}

/// The complete state of one channel.
#[derive(Debug)]
pub(crate) struct Channel {
    pub id: String,
    pub lamport: i64,
    pub history: MessageHistory,
    pub bloom: RollingBloomFilter,
    pub outgoing: IndexMap<String, Outgoing>,
    pub incoming: IncomingBuffer,
    pub outgoing_repair: RepairBuffer<OutgoingRepair>,
    pub incoming_repair: RepairBuffer<IncomingRepair>,
    pub met_ids: BoundedIdSet,
    pub changes: ChannelChanges,
    pub journaling: bool,
    pub counters: ChannelCounters,
    pub refusals: RefusalReport,
}

/// Heap bytes of a channel's own struct and its slot in the manager's table, for a
/// channel id of `id_len` bytes (stored twice: key and field).
pub(crate) fn channel_struct_charge(id_len: usize) -> usize {
    table_slot(size_of::<String>() + size_of::<Channel>()) + 2 * heap(id_len)
}

impl Channel {
    pub(crate) fn new(
        id: &str,
        history: MessageHistory,
        bloom: RollingBloomFilter,
        met_ids: BoundedIdSet,
        journaling: bool,
    ) -> Self {
        let mut channel = Self {
            id: id.to_owned(),
            lamport: 0,
            history,
            bloom,
            outgoing: IndexMap::new(),
            incoming: IncomingBuffer::default(),
            outgoing_repair: RepairBuffer::default(),
            incoming_repair: RepairBuffer::default(),
            met_ids,
            changes: ChannelChanges::default(),
            journaling: false,
            counters: ChannelCounters::default(),
            refusals: RefusalReport::default(),
        };
        channel.set_journaling(journaling);
        channel
    }

    /// Starts or stops journaling changes for the persistence layer; starting begins
    /// with empty journals.
    pub(crate) fn set_journaling(&mut self, on: bool) {
        self.journaling = on;
        self.changes.buffers = MetaJournal::default();
        self.incoming.journal.set(on);
        self.outgoing_repair.journal.set(on);
        self.incoming_repair.journal.set(on);
        self.met_ids.journal.set(on);
    }

    /// Removes and returns what changed since the last call.
    pub(crate) fn take_changes(&mut self) -> ChannelChanges {
        let mut changes = std::mem::take(&mut self.changes);
        changes.buffers.incoming = self.incoming.journal.take();
        changes.buffers.outgoing_repair = self.outgoing_repair.journal.take();
        changes.buffers.incoming_repair = self.incoming_repair.journal.take();
        changes.buffers.met_ids = self.met_ids.journal.take();
        changes
    }

    /// What the channel holds, by kind (see [`crate::protocol::budget`]).
    pub(crate) fn usage(&self) -> Usage {
        let tracked = self.bloom.tracked_bytes();
        Usage {
            base: channel_struct_charge(self.id.len())
                + self.bloom.heap_bytes().saturating_sub(tracked)
                + self.met_ids.bytes(),
            history: self.history.bytes() + tracked,
            buffered: self.incoming.bytes(),
            repair: self.outgoing_repair.bytes() + self.incoming_repair.bytes(),
        }
    }

    /// Frees some history when memory is short: the oldest message (keeping the newest
    /// if `keep_newest`), else the oldest half of the bloom filter's ids. False when
    /// there is nothing left to give.
    pub(crate) fn give_way(&mut self, keep_newest: bool) -> bool {
        if self.history.len() > usize::from(keep_newest) {
            if let Some(id) = self.history.pop_oldest() {
                if self.journaling {
                    self.changes.history.push(HistoryChange::Evict(id));
                }
                return true;
            }
        }
        if !self.bloom.is_empty() {
            self.bloom.shed_oldest_half();
            return true;
        }
        false
    }

    /// Whether a dependency counts as present: delivered, or declared met by the host.
    pub(crate) fn has_dependency(&self, message_id: &str) -> bool {
        self.history.contains(message_id) || self.met_ids.contains(message_id)
    }

    /// The dependencies of `causal_history` that are not present.
    pub(crate) fn missing_dependencies(
        &self,
        causal_history: &[HistoryEntry],
    ) -> Vec<HistoryEntry> {
        causal_history
            .iter()
            .filter(|dep| !self.has_dependency(&dep.message_id))
            .cloned()
            .collect()
    }

    /// Appends to history, journaling the append and any evictions.
    pub(crate) fn add_to_history(&mut self, message: &SdsMessage) {
        let id = message.message_id.clone();
        let evicted = self.history.push(message);
        if self.journaling {
            self.changes.history.push(HistoryChange::Append(id));
            self.changes
                .history
                .extend(evicted.into_iter().map(HistoryChange::Evict));
        }
    }

    /// Records a retrieval hint learned for a history message.
    pub(crate) fn learn_hint(&mut self, message_id: &str, hint: Vec<u8>) {
        if self.history.set_hint(message_id, hint.clone()) && self.journaling {
            self.changes.hints.push((message_id.to_owned(), hint));
        }
    }

    /// Delivers a message whose dependencies are all present, then every buffered message
    /// this unblocks, each strictly after the messages it depends on.
    pub(crate) fn deliver(&mut self, message: SdsMessage, events: &mut Vec<Event>) {
        let mut ready = VecDeque::from([message]);
        while let Some(message) = ready.pop_front() {
            self.add_to_history(&message);
            self.counters.delivered += 1;
            let id = message.message_id;
            self.unblock(&id, &mut ready);
            events.push(Event::MessageReady {
                channel_id: self.id.clone(),
                message_id: id,
                sender_id: message.sender_id,
                lamport_timestamp: message.lamport_timestamp,
                content: message.content,
            });
        }
    }

    /// Marks `dependency` present for every buffered message waiting on it; messages left
    /// with no missing dependency move from the buffer to `ready`.
    pub(crate) fn unblock(&mut self, dependency: &str, ready: &mut VecDeque<SdsMessage>) {
        self.incoming.resolve(dependency, ready);
    }

    /// Declares a dependency present (host-retrieved or irrelevant) and cascades delivery.
    pub(crate) fn mark_met(&mut self, message_id: &str, events: &mut Vec<Event>) {
        self.met_ids.insert(message_id);
        let mut ready = VecDeque::new();
        self.unblock(message_id, &mut ready);
        while let Some(message) = ready.pop_front() {
            self.deliver(message, events);
        }
    }
}
