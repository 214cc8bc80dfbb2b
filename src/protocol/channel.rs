//! One channel's state and the operations that touch only it: delivery with causal
//! cascade, buffering, acknowledgement bookkeeping, and the change journal the persistence
//! layer drains.

use std::collections::{HashMap, HashSet, VecDeque};

use indexmap::IndexMap;

use super::bloom::IdHashes;
use super::event::Event;
use super::history::MessageHistory;
use super::message::{HistoryEntry, SdsMessage};
use super::rolling_bloom::RollingBloomFilter;
use super::snapshot::{IncomingEntry, IncomingRepair, OutgoingEntry, OutgoingRepair};

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
}

/// Counters reported in channel statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    /// Duplicates received.
    pub duplicates: u64,
    /// SDS-R repair requests attached to outgoing messages.
    pub repairs_requested: u64,
    /// SDS-R repairs rebroadcast by this node.
    pub repairs_sent: u64,
    /// Received messages or repair entries refused because a limit was reached.
    pub dropped_by_limits: u64,
}

/// Approximate memory a buffered message holds: its content, ids and causal history.
pub(crate) fn buffered_size(message: &SdsMessage) -> usize {
    let entry_size =
        |e: &HistoryEntry| e.message_id.len() + e.retrieval_hint.len() + e.sender_id.len() + 48;
    message.content.len()
        + message.message_id.len()
        + message.sender_id.len()
        + message.causal_history.iter().map(entry_size).sum::<usize>()
        + message.repair_request.iter().map(entry_size).sum::<usize>()
        + 128
}

/// A bounded insertion-ordered set of ids (oldest forgotten first).
#[derive(Debug, Default)]
pub(crate) struct BoundedIdSet {
    order: VecDeque<String>,
    members: HashSet<String>,
    max_len: usize,
}

impl BoundedIdSet {
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len,
            ..Self::default()
        }
    }

    pub fn insert(&mut self, id: &str) {
        if self.members.insert(id.to_owned()) {
            self.order.push_back(id.to_owned());
            while self.order.len() > self.max_len {
                if let Some(old) = self.order.pop_front() {
                    self.members.remove(&old);
                }
            }
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.members.contains(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.order.iter()
    }
}

/// A missing dependency and the ids of the buffered messages waiting for it.
#[derive(Debug)]
pub(crate) struct Waiting {
    /// The dependency as the waiting messages' causal history describes it.
    pub dependency: HistoryEntry,
    /// Buffered messages waiting for it.
    pub messages: Vec<String>,
}

/// The complete state of one channel.
#[derive(Debug)]
pub(crate) struct Channel {
    pub id: String,
    pub lamport: i64,
    pub history: MessageHistory,
    pub bloom: RollingBloomFilter,
    pub outgoing: IndexMap<String, Outgoing>,
    pub incoming: IndexMap<String, IncomingEntry>,
    /// Approximate bytes held by `incoming` (see [`buffered_size`]).
    pub incoming_bytes: usize,
    /// Missing dependency id -> the dependency and the buffered messages waiting for it.
    pub waiters: HashMap<String, Waiting>,
    pub outgoing_repair: IndexMap<String, OutgoingRepair>,
    pub incoming_repair: IndexMap<String, IncomingRepair>,
    pub met_ids: BoundedIdSet,
    pub changes: ChannelChanges,
    pub journaling: bool,
    pub counters: ChannelCounters,
}

impl Channel {
    pub fn new(
        id: &str,
        history: MessageHistory,
        bloom: RollingBloomFilter,
        met_ids: BoundedIdSet,
        journaling: bool,
    ) -> Self {
        Self {
            id: id.to_owned(),
            lamport: 0,
            history,
            bloom,
            outgoing: IndexMap::new(),
            incoming: IndexMap::new(),
            incoming_bytes: 0,
            waiters: HashMap::new(),
            outgoing_repair: IndexMap::new(),
            incoming_repair: IndexMap::new(),
            met_ids,
            changes: ChannelChanges::default(),
            journaling,
            counters: ChannelCounters::default(),
        }
    }

    /// Whether a dependency counts as present: delivered, or declared met by the host.
    pub fn has_dependency(&self, message_id: &str) -> bool {
        self.history.contains(message_id) || self.met_ids.contains(message_id)
    }

    /// The dependencies of `causal_history` that are not present.
    pub fn missing_dependencies(&self, causal_history: &[HistoryEntry]) -> Vec<HistoryEntry> {
        causal_history
            .iter()
            .filter(|dep| !self.has_dependency(&dep.message_id))
            .cloned()
            .collect()
    }

    /// Appends to history, journaling the append and any evictions.
    pub fn add_to_history(&mut self, message: &SdsMessage) {
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
    pub fn learn_hint(&mut self, message_id: &str, hint: Vec<u8>) {
        if self.history.set_hint(message_id, hint.clone()) && self.journaling {
            self.changes.hints.push((message_id.to_owned(), hint));
        }
    }

    /// Delivers a message whose dependencies are all present, then every buffered message
    /// this unblocks, each strictly after the messages it depends on.
    pub fn deliver(&mut self, message: SdsMessage, events: &mut Vec<Event>) {
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
    pub fn unblock(&mut self, dependency: &str, ready: &mut VecDeque<SdsMessage>) {
        let Some(waiting) = self.waiters.remove(dependency) else {
            return;
        };
        for waiter in waiting.messages {
            let Some(entry) = self.incoming.get_mut(&waiter) else {
                continue;
            };
            entry.missing_deps.retain(|d| d != dependency);
            if entry.missing_deps.is_empty() {
                if let Some(entry) = self.incoming.shift_remove(&waiter) {
                    self.incoming_bytes -= buffered_size(&entry.message);
                    ready.push_back(entry.message);
                }
            }
        }
    }

    /// Buffers a message until `missing` dependencies are present.
    pub fn buffer(&mut self, mut message: SdsMessage, missing: &[HistoryEntry], now_ms: u64) {
        message.bloom_filter = Vec::new();
        self.incoming_bytes += buffered_size(&message);
        let id = message.message_id.clone();
        let missing_deps: Vec<String> = missing.iter().map(|d| d.message_id.clone()).collect();
        for dep in missing {
            self.waiters
                .entry(dep.message_id.clone())
                .or_insert_with(|| Waiting {
                    dependency: dep.clone(),
                    messages: Vec::new(),
                })
                .messages
                .push(id.clone());
        }
        self.incoming.insert(
            id,
            IncomingEntry {
                message,
                missing_deps,
                received_at_ms: now_ms,
            },
        );
    }

    /// Removes a buffered message and its entries in the waiter index.
    pub fn drop_buffered(&mut self, message_id: &str) -> Option<IncomingEntry> {
        let entry = self.incoming.shift_remove(message_id)?;
        self.incoming_bytes -= buffered_size(&entry.message);
        for dep in &entry.missing_deps {
            if let Some(waiting) = self.waiters.get_mut(dep) {
                waiting.messages.retain(|w| w != message_id);
                if waiting.messages.is_empty() {
                    self.waiters.remove(dep);
                }
            }
        }
        Some(entry)
    }

    /// Declares a dependency present (host-retrieved or irrelevant) and cascades delivery.
    pub fn mark_met(&mut self, message_id: &str, events: &mut Vec<Event>) {
        self.met_ids.insert(message_id);
        let mut ready = VecDeque::new();
        self.unblock(message_id, &mut ready);
        while let Some(message) = ready.pop_front() {
            self.deliver(message, events);
        }
    }
}
