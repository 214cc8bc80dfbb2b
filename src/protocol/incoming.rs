//! A channel's buffer of received messages waiting for missing dependencies.
//!
//! Indexed so that every step costs a constant per dependency, whatever a peer sends: a
//! message knows how many of its dependencies are still missing (an arrival decrements
//! it), each missing dependency knows its waiters as a set, arrival order is a sorted
//! index (expiry looks at the oldest only), and each sender's share of the bytes is
//! tallied for fair eviction. Every structure is charged as it sits in memory (see
//! [`budget`](super::budget)).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::mem::size_of;
use std::sync::Arc;

use super::budget::{array_slot, heap, message_heap, table_slot};
use super::journal::Journaling;
use super::message::{HistoryEntry, SdsMessage};
use super::snapshot::IncomingEntry;

/// A buffered message.
#[derive(Debug)]
struct Buffered {
    /// The message, its bloom field empty.
    message: SdsMessage,
    /// Every dependency it was missing when buffered (resolved ones included).
    missing: Vec<Arc<str>>,
    /// How many of `missing` are still missing.
    missing_left: usize,
    received_at_ms: u64,
    /// Key in the arrival index.
    seq: u64,
    /// What the message itself holds: its sender's share.
    charge: usize,
}

/// A missing dependency and the buffered messages waiting for it.
#[derive(Debug)]
struct Waiting {
    /// The dependency as the first waiting message's causal history describes it.
    dependency: HistoryEntry,
    waiters: HashSet<Arc<str>>,
}

/// Heap bytes of one arrival-index entry (B-tree nodes hold up to 11, about 2/3 full).
const ARRIVAL_ENTRY: usize = (size_of::<u64>() + size_of::<Arc<str>>()) * 3 / 2 + 8;

/// Fixed heap bytes of one `Waiting`: its table slot, key, set header and the two
/// rotation-queue slots it may occupy.
fn waiting_base(dep: &HistoryEntry) -> usize {
    table_slot(size_of::<Arc<str>>() + size_of::<Waiting>())
        + heap(2 * size_of::<usize>() + dep.message_id.len())
        + super::budget::entry_heap(dep)
        + 2 * array_slot(size_of::<Arc<str>>())
}

/// Heap bytes of one waiter in a `Waiting`'s set.
const WAITER_SLOT: usize = (size_of::<Arc<str>>() + 1) * 12 / 7 + 8;

/// What buffering `message` with `missing` dependencies charges at most (every
/// dependency counted as new to the index).
pub(crate) fn buffered_charge(message: &SdsMessage, missing: &[HistoryEntry]) -> usize {
    own_charge(message, missing.len())
        + missing
            .iter()
            .map(|d| waiting_base(d) + WAITER_SLOT)
            .sum::<usize>()
}

/// What a buffered message holds itself, its dependency index aside.
fn own_charge(message: &SdsMessage, missing: usize) -> usize {
    table_slot(size_of::<Arc<str>>() + size_of::<Buffered>())
        + heap(2 * size_of::<usize>() + message.message_id.len())
        + message_heap(message)
        + heap(missing * size_of::<Arc<str>>())
        + ARRIVAL_ENTRY
        + table_slot(size_of::<String>() + size_of::<usize>())
        + heap(message.sender_id.len())
}

/// Messages waiting for dependencies, with their indexes.
#[derive(Debug, Default)]
pub(crate) struct IncomingBuffer {
    entries: HashMap<Arc<str>, Buffered>,
    arrival: BTreeMap<u64, Arc<str>>,
    next_seq: u64,
    waiting: HashMap<Arc<str>, Waiting>,
    /// Missing dependencies in turn for being requested again (may hold stale ids).
    rotation: VecDeque<Arc<str>>,
    /// Bytes each sender's buffered messages hold.
    senders: HashMap<String, usize>,
    bytes: usize,
    /// What changed since the last drain, while journaling.
    pub(crate) journal: Journaling,
}

impl IncomingBuffer {
    /// Messages buffered.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes everything here holds.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a message with this id is buffered.
    pub(crate) fn contains(&self, message_id: &str) -> bool {
        self.entries.contains_key(message_id)
    }

    /// Bytes `sender`'s buffered messages hold.
    pub(crate) fn share(&self, sender: &str) -> usize {
        self.senders.get(sender).copied().unwrap_or(0)
    }

    /// What removing the buffered message `message_id` frees at least.
    pub(crate) fn charge_of(&self, message_id: &str) -> Option<usize> {
        self.entries.get(message_id).map(|b| b.charge)
    }

    /// The sender (other than `except`) holding the most, with its share.
    pub(crate) fn largest_share_except(&self, except: Option<&str>) -> Option<(&str, usize)> {
        self.senders
            .iter()
            .filter(|(s, _)| Some(s.as_str()) != except)
            .max_by_key(|(_, bytes)| **bytes)
            .map(|(s, bytes)| (s.as_str(), *bytes))
    }

    /// `sender`'s buffered messages, oldest first, with what removing each frees
    /// (at least; index entries shared with other waiters stay).
    pub(crate) fn oldest_of<'a>(
        &'a self,
        sender: &'a str,
    ) -> impl Iterator<Item = (&'a str, usize)> + 'a {
        self.arrival.values().filter_map(move |id| {
            let b = self.entries.get(id)?;
            (b.message.sender_id == sender).then_some((&**id, b.charge))
        })
    }

    /// Buffers `message` until its `missing` dependencies are present.
    pub(crate) fn insert(
        &mut self,
        mut message: SdsMessage,
        missing: &[HistoryEntry],
        now_ms: u64,
    ) {
        message.bloom_filter = Vec::new();
        let id: Arc<str> = message.message_id.as_str().into();
        if self.entries.contains_key(&id) {
            return;
        }
        let mut deps = Vec::with_capacity(missing.len());
        for dep in missing {
            let (key, added) = match self.waiting.get_key_value(dep.message_id.as_str()) {
                Some((key, _)) => (key.clone(), 0),
                None => {
                    let key: Arc<str> = dep.message_id.as_str().into();
                    self.waiting.insert(
                        key.clone(),
                        Waiting {
                            dependency: dep.clone(),
                            waiters: HashSet::new(),
                        },
                    );
                    self.rotation.push_back(key.clone());
                    (key, waiting_base(dep))
                }
            };
            if let Some(w) = self.waiting.get_mut(&key) {
                if w.waiters.insert(id.clone()) {
                    self.bytes += added + WAITER_SLOT;
                    deps.push(key);
                }
            }
        }
        let own = own_charge(&message, deps.len());
        self.bytes += own;
        let charge = own + deps.len() * WAITER_SLOT;
        *self.senders.entry(message.sender_id.clone()).or_default() += charge;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.arrival.insert(seq, id.clone());
        self.journal.added(&id);
        self.entries.insert(
            id,
            Buffered {
                message,
                missing_left: deps.len(),
                missing: deps,
                received_at_ms: now_ms,
                seq,
                charge,
            },
        );
        self.compact_rotation();
    }

    /// Marks `dependency` present: every message waiting for it has one dependency
    /// fewer, and those left with none move to `ready` in arrival order.
    pub(crate) fn resolve(&mut self, dependency: &str, ready: &mut VecDeque<SdsMessage>) {
        let Some(waiting) = self.waiting.remove(dependency) else {
            return;
        };
        self.bytes = self.bytes.saturating_sub(
            waiting_base(&waiting.dependency) + waiting.waiters.len() * WAITER_SLOT,
        );
        let mut released: Vec<(u64, Arc<str>)> = Vec::new();
        for waiter in waiting.waiters {
            if let Some(b) = self.entries.get_mut(&waiter) {
                b.missing_left = b.missing_left.saturating_sub(1);
                // One dependency fewer missing: its stored entry changes.
                self.journal.changed(&waiter);
                if b.missing_left == 0 {
                    released.push((b.seq, waiter));
                }
            }
        }
        released.sort_unstable_by_key(|(seq, _)| *seq);
        for (_, id) in released {
            if let Some(b) = self.take(&id) {
                ready.push_back(b.message);
            }
        }
    }

    /// Removes a message, returning it with the dependencies it still misses.
    pub(crate) fn remove(&mut self, message_id: &str) -> Option<(SdsMessage, Vec<String>)> {
        let b = self.take(message_id)?;
        let mut still_missing = Vec::new();
        for dep in &b.missing {
            let Some(w) = self.waiting.get_mut(dep) else {
                continue;
            };
            if w.waiters.remove(message_id) {
                still_missing.push(dep.to_string());
                self.bytes = self.bytes.saturating_sub(WAITER_SLOT);
            }
            if w.waiters.is_empty() {
                if let Some(w) = self.waiting.remove(dep) {
                    self.bytes = self.bytes.saturating_sub(waiting_base(&w.dependency));
                }
            }
        }
        Some((b.message, still_missing))
    }

    /// Unlinks a message from the entries, arrival order and sender tally (not from the
    /// dependency index).
    fn take(&mut self, message_id: &str) -> Option<Buffered> {
        let b = self.entries.remove(message_id)?;
        self.arrival.remove(&b.seq);
        self.journal.removed(message_id);
        self.bytes = self
            .bytes
            .saturating_sub(own_charge(&b.message, b.missing.len()));
        if let Some(share) = self.senders.get_mut(&b.message.sender_id) {
            *share = share.saturating_sub(b.charge);
            if *share == 0 {
                self.senders.remove(&b.message.sender_id);
            }
        }
        Some(b)
    }

    /// Up to `max` ids of messages received more than `wait_ms` before `now_ms`, oldest
    /// first. Looks at no more than it returns, plus one.
    pub(crate) fn expired(&self, now_ms: u64, wait_ms: u64, max: usize) -> Vec<String> {
        self.arrival
            .values()
            .map_while(|id| {
                let b = self.entries.get(id)?;
                (now_ms.saturating_sub(b.received_at_ms) > wait_ms).then(|| id.to_string())
            })
            .take(max)
            .collect()
    }

    /// Up to `max` missing dependencies, taking turns so that each comes up in time.
    pub(crate) fn next_dependencies(&mut self, max: usize) -> Vec<HistoryEntry> {
        let mut due = Vec::new();
        for _ in 0..self.rotation.len() {
            if due.len() == max {
                break;
            }
            let Some(id) = self.rotation.pop_front() else {
                break;
            };
            if let Some(w) = self.waiting.get(&id) {
                due.push(w.dependency.clone());
                self.rotation.push_back(id);
            }
        }
        due
    }

    /// Drops stale rotation entries once they outnumber live ones, keeping the queue
    /// within the two slots per dependency its charge covers.
    fn compact_rotation(&mut self) {
        if self.rotation.len() > 2 * self.waiting.len() + 64 {
            let waiting = &self.waiting;
            self.rotation.retain(|id| waiting.contains_key(id));
            self.rotation.shrink_to(2 * self.waiting.len() + 64);
        }
    }

    /// Whether any message waits for `dependency`.
    #[cfg(test)]
    pub(crate) fn is_missing(&self, dependency: &str) -> bool {
        self.waiting.contains_key(dependency)
    }

    /// The buffered messages as persistence saves them, in arrival order, each with the
    /// dependencies it still misses.
    pub(crate) fn snapshot(&self) -> Vec<IncomingEntry> {
        self.arrival
            .values()
            .filter_map(|id| self.entry(id))
            .collect()
    }

    /// The buffered message `message_id` as persistence saves it, if buffered.
    pub(crate) fn entry(&self, message_id: &str) -> Option<IncomingEntry> {
        let b = self.entries.get(message_id)?;
        Some(IncomingEntry {
            message: b.message.clone(),
            missing_deps: b
                .missing
                .iter()
                .filter(|d| {
                    self.waiting
                        .get(*d)
                        .is_some_and(|w| w.waiters.contains(message_id))
                })
                .map(|d| d.to_string())
                .collect(),
            received_at_ms: b.received_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, sender: &str, deps: &[&str]) -> (SdsMessage, Vec<HistoryEntry>) {
        let missing: Vec<HistoryEntry> = deps.iter().map(|d| HistoryEntry::new(*d)).collect();
        let message = SdsMessage {
            message_id: id.into(),
            sender_id: sender.into(),
            channel_id: "c".into(),
            content: b"x".to_vec(),
            causal_history: missing.clone(),
            ..SdsMessage::default()
        };
        (message, missing)
    }

    fn ids(ready: &VecDeque<SdsMessage>) -> Vec<&str> {
        ready.iter().map(|m| m.message_id.as_str()).collect()
    }

    #[test]
    fn releases_when_the_last_dependency_arrives_in_arrival_order() {
        let mut b = IncomingBuffer::default();
        let (m2, d2) = msg("m2", "s", &["a", "b"]);
        let (m1, d1) = msg("m1", "s", &["a"]);
        b.insert(m2, &d2, 0);
        b.insert(m1, &d1, 0);
        let mut ready = VecDeque::new();
        b.resolve("b", &mut ready);
        assert!(ready.is_empty());
        b.resolve("a", &mut ready);
        assert_eq!(ids(&ready), ["m2", "m1"]);
        assert_eq!(b.len(), 0);
        assert_eq!(b.bytes(), 0);
    }

    #[test]
    fn removal_keeps_the_index_of_other_waiters_and_accounting_returns_to_zero() {
        let mut b = IncomingBuffer::default();
        let (m1, d1) = msg("m1", "s", &["a", "b"]);
        let (m2, d2) = msg("m2", "t", &["a"]);
        b.insert(m1, &d1, 0);
        b.insert(m2, &d2, 5);
        assert!(b.share("s") > b.share("t"));
        let (_, still) = b.remove("m1").expect("buffered");
        assert_eq!(still, ["a", "b"]);
        assert!(b.is_missing("a") && !b.is_missing("b"));
        assert_eq!(b.share("s"), 0);
        assert_eq!(b.snapshot()[0].missing_deps, ["a"]);
        b.remove("m2");
        assert_eq!(b.bytes(), 0);
    }

    #[test]
    fn expiry_looks_at_the_oldest_only() {
        let mut b = IncomingBuffer::default();
        for (i, t) in [0u64, 10, 20].iter().enumerate() {
            let (m, d) = msg(&format!("m{i}"), "s", &["x"]);
            b.insert(m, &d, *t);
        }
        assert_eq!(b.expired(25, 10, 10), ["m0", "m1"]);
        assert_eq!(b.expired(25, 10, 1), ["m0"]);
    }

    #[test]
    fn dependencies_take_turns() {
        let mut b = IncomingBuffer::default();
        let (m, d) = msg("m", "s", &["a", "b", "c"]);
        b.insert(m, &d, 0);
        let first: Vec<String> = b
            .next_dependencies(2)
            .into_iter()
            .map(|e| e.message_id)
            .collect();
        let second: Vec<String> = b
            .next_dependencies(2)
            .into_iter()
            .map(|e| e.message_id)
            .collect();
        assert_eq!(first, ["a", "b"]);
        assert_eq!(second, ["c", "a"]);
    }
}
