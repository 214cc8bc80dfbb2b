//! An SDS-R repair buffer: entries keyed by message id, each charged at its real size
//! (see [`budget`](super::budget)). Entries keep their insertion order (removal shifts
//! the rest, a cost bounded by `max_repair_buffer`), so that state rebuilt from stored
//! rows equals the state saved; due entries are sorted by time where order matters.

use std::mem::size_of;

use indexmap::IndexMap;

use super::budget::{entry_heap, heap, table_slot};
use super::journal::Journaling;
use super::snapshot::{IncomingRepair, OutgoingRepair};

/// A repair-buffer value whose heap allocations can be measured.
pub(crate) trait Charged {
    /// Heap bytes the value's own allocations hold.
    fn heap_bytes(&self) -> usize;
}

impl Charged for OutgoingRepair {
    fn heap_bytes(&self) -> usize {
        entry_heap(&self.entry)
    }
}

impl Charged for IncomingRepair {
    fn heap_bytes(&self) -> usize {
        entry_heap(&self.entry) + heap(self.cached_message.capacity())
    }
}

/// Repair entries by message id, with the bytes they hold.
#[derive(Debug)]
pub(crate) struct RepairBuffer<V> {
    /// Each value with the charge it was inserted with.
    entries: IndexMap<String, (V, usize)>,
    bytes: usize,
    /// What changed since the last drain, while journaling.
    pub(crate) journal: Journaling,
}

impl<V> Default for RepairBuffer<V> {
    fn default() -> Self {
        Self {
            entries: IndexMap::new(),
            bytes: 0,
            journal: Journaling::default(),
        }
    }
}

impl<V: Charged> RepairBuffer<V> {
    /// What an entry of `key` and `value` holds.
    pub(crate) fn charge(key: &str, value: &V) -> usize {
        table_slot(size_of::<String>() + size_of::<(V, usize)>() + size_of::<u64>())
            + heap(key.len())
            + value.heap_bytes()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub(crate) fn insert(&mut self, key: String, value: V) {
        let charge = Self::charge(&key, &value);
        self.bytes += charge;
        if self.entries.contains_key(&key) {
            self.journal.changed(&key);
        } else {
            self.journal.added(&key);
        }
        if let Some((_, old)) = self.entries.insert(key, (value, charge)) {
            self.bytes = self.bytes.saturating_sub(old);
        }
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let (value, charge) = self.entries.shift_remove(key)?;
        self.bytes = self.bytes.saturating_sub(charge);
        self.journal.removed(key);
        Some(value)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|(v, _)| v)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.values().map(|(v, _)| v)
    }

    /// The entries with their keys, in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries.iter().map(|(k, (v, _))| (k.as_str(), v))
    }

    /// Keeps the entries for which `keep` returns true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, &V) -> bool) {
        let mut freed = 0;
        let journal = &mut self.journal;
        self.entries.retain(|key, (value, charge)| {
            let kept = keep(key, value);
            if !kept {
                freed += *charge;
                journal.removed(key);
            }
            kept
        });
        self.bytes = self.bytes.saturating_sub(freed);
    }
}
