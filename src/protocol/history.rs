//! A channel's delivered-message history: insertion-ordered, bounded by count and bytes,
//! with O(1) lookup, append and eviction of the oldest.
//!
//! A record keeps the message in its stored encoding (the wire bytes without the bloom
//! field) rather than as an [`SdsMessage`]: one allocation instead of one per id in its
//! causal history, which is what makes a long history cheap to hold and to evict from.
//! The encoding is what a repair rebroadcasts and what persistence stores, so both take
//! it as it is.

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::sync::Arc;

use super::budget::{array_slot, heap, table_slot};
use super::message::{HistoryEntry, SdsMessage};
use super::wire;

/// One delivered message as history keeps it (never with its bloom field).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HistoryRecord {
    /// The message's wire encoding with an empty bloom field.
    pub stored: Vec<u8>,
    /// Participant that sent the message.
    pub sender_id: String,
    /// Retrieval hint learned for it (empty until the host provides one).
    pub retrieval_hint: Vec<u8>,
    /// Bytes the record and its index entries hold, what the byte bound counts.
    charge: usize,
}

impl HistoryRecord {
    /// Bytes a record of message id `id_len` holds, with its slots in the index.
    fn measure(&self, id_len: usize) -> usize {
        heap(self.stored.capacity())
            + heap(self.sender_id.capacity())
            + heap(self.retrieval_hint.capacity())
            + heap(2 * size_of::<usize>() + id_len)
            + table_slot(size_of::<Arc<str>>() + size_of::<HistoryRecord>())
            + array_slot(size_of::<Arc<str>>())
    }
}

/// Delivered messages of one channel, oldest first.
#[derive(Debug, Default)]
pub(crate) struct MessageHistory {
    /// Ids oldest first; each id's one allocation is shared with its `records` key.
    order: VecDeque<Arc<str>>,
    records: HashMap<Arc<str>, HistoryRecord>,
    /// Sum of the records' charges.
    bytes: usize,
    max_len: usize,
    max_bytes: usize,
}

impl MessageHistory {
    /// An empty history keeping at most `max_len` messages holding `max_bytes` (records
    /// at their real size, see [`crate::protocol::budget`]).
    pub(crate) fn new(max_len: usize, max_bytes: usize) -> Self {
        Self {
            max_len,
            max_bytes,
            ..Self::default()
        }
    }

    /// Number of messages held.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Bytes the records hold.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a message with this id is held.
    pub(crate) fn contains(&self, message_id: &str) -> bool {
        self.records.contains_key(message_id)
    }

    /// The record of a held message.
    pub(crate) fn get(&self, message_id: &str) -> Option<&HistoryRecord> {
        self.records.get(message_id)
    }

    /// Appends a message (its bloom field is not kept). Re-adding a held id replaces its
    /// record in place. Returns the ids evicted to stay within bounds, oldest first; the
    /// newest message itself is never evicted.
    pub(crate) fn push(&mut self, message: &SdsMessage) -> Vec<String> {
        let mut record = HistoryRecord {
            stored: wire::encode_stored_message(message),
            sender_id: message.sender_id.clone(),
            retrieval_hint: Vec::new(),
            charge: 0,
        };
        record.charge = record.measure(message.message_id.len());
        self.bytes += record.charge;
        match self.records.get_mut(message.message_id.as_str()) {
            Some(held) => {
                self.bytes -= held.charge;
                *held = record;
            }
            None => {
                let id: Arc<str> = message.message_id.as_str().into();
                self.order.push_back(id.clone());
                self.records.insert(id, record);
            }
        }
        let mut evicted = Vec::new();
        while self.order.len() > 1
            && (self.order.len() > self.max_len || self.bytes > self.max_bytes)
        {
            match self.pop_oldest() {
                Some(oldest) => evicted.push(oldest),
                None => break,
            }
        }
        evicted
    }

    /// Evicts the oldest message, returning its id.
    pub(crate) fn pop_oldest(&mut self) -> Option<String> {
        let oldest = self.order.pop_front()?;
        if let Some(old) = self.records.remove(&oldest) {
            self.bytes -= old.charge;
        }
        Some(oldest.to_string())
    }

    /// Records a retrieval hint for a held message. Returns whether it changed.
    pub(crate) fn set_hint(&mut self, message_id: &str, hint: Vec<u8>) -> bool {
        match self.records.get_mut(message_id) {
            Some(record) if record.retrieval_hint != hint => {
                self.bytes -= record.charge;
                record.retrieval_hint = hint;
                record.charge = record.measure(message_id.len());
                self.bytes += record.charge;
                true
            }
            _ => false,
        }
    }

    /// Ids of the newest `n` messages, oldest first.
    pub(crate) fn newest_ids(&self, n: usize) -> impl Iterator<Item = &str> {
        let skip = self.order.len().saturating_sub(n);
        self.order.range(skip..).map(|id| &**id)
    }

    /// The history entries (id, hint, sender) of the newest `n` messages, oldest first.
    pub(crate) fn newest_entries(&self, n: usize) -> impl Iterator<Item = HistoryEntry> + '_ {
        self.newest_ids(n).filter_map(|id| {
            self.records.get(id).map(|r| HistoryEntry {
                message_id: id.to_owned(),
                retrieval_hint: r.retrieval_hint.clone(),
                sender_id: r.sender_id.clone(),
            })
        })
    }

    /// A held message, decoded from its stored encoding (bloom field empty).
    pub(crate) fn message(&self, message_id: &str) -> Option<SdsMessage> {
        let record = self.records.get(message_id)?;
        // History only holds what it encoded itself, so this decodes.
        wire::decode_message(&record.stored).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, content: &[u8]) -> SdsMessage {
        SdsMessage {
            message_id: id.into(),
            content: content.to_vec(),
            bloom_filter: vec![1; 10],
            ..SdsMessage::default()
        }
    }

    #[test]
    fn evicts_oldest_beyond_count() {
        let mut h = MessageHistory::new(2, usize::MAX);
        assert!(h.push(&msg("a", b"1")).is_empty());
        assert!(h.push(&msg("b", b"2")).is_empty());
        assert_eq!(h.push(&msg("c", b"3")), vec!["a".to_string()]);
        assert!(!h.contains("a"));
        assert_eq!(h.newest_ids(10).collect::<Vec<_>>(), vec!["b", "c"]);
    }

    #[test]
    fn evicts_oldest_beyond_bytes_but_keeps_newest() {
        let one = {
            let mut h = MessageHistory::new(100, usize::MAX);
            h.push(&msg("a", b"12"));
            h.bytes()
        };
        let mut h = MessageHistory::new(100, 2 * one + one / 2);
        h.push(&msg("a", b"12"));
        h.push(&msg("b", b"34"));
        assert_eq!(h.push(&msg("c", b"56")), vec!["a".to_string()]);
        assert_eq!(
            h.push(&msg("big", &[7; 10_000])),
            vec!["b".to_string(), "c".to_string()]
        );
        assert_eq!(h.len(), 1);
        assert!(h.bytes() > 10_000);
    }

    #[test]
    fn the_byte_bound_counts_causal_history_not_only_content() {
        let mut h = MessageHistory::new(100, usize::MAX);
        let mut m = msg("a", b"x");
        m.causal_history = (0..1000)
            .map(|i| HistoryEntry::new(format!("dep-{i}")))
            .collect();
        h.push(&m);
        assert!(h.bytes() > 1000 * 8, "{} bytes", h.bytes());
        assert_eq!(h.pop_oldest().as_deref(), Some("a"));
        assert_eq!(h.bytes(), 0);
    }

    #[test]
    fn drops_bloom_and_replaces_in_place() {
        let mut h = MessageHistory::new(10, usize::MAX);
        h.push(&msg("a", b"1"));
        h.push(&msg("b", b"2"));
        h.push(&msg("a", b"new"));
        assert_eq!(h.newest_ids(10).collect::<Vec<_>>(), vec!["a", "b"]);
        let a = h.message("a").expect("held");
        assert_eq!(a.content, b"new");
        assert!(a.bloom_filter.is_empty());
        assert_eq!(
            h.get("a").map(|r| r.stored.clone()),
            Some(wire::encode_message(&a))
        );
    }

    #[test]
    fn newest_ids_takes_the_tail() {
        let mut h = MessageHistory::new(10, usize::MAX);
        for id in ["a", "b", "c", "d"] {
            h.push(&msg(id, b"x"));
        }
        assert_eq!(h.newest_ids(2).collect::<Vec<_>>(), vec!["c", "d"]);
    }
}
