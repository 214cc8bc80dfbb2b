//! A channel's delivered-message history: insertion-ordered, bounded by count and bytes,
//! with O(1) lookup, append and eviction of the oldest.
//!
//! A record keeps the message in its stored encoding (the wire bytes without the bloom
//! field) rather than as an [`SdsMessage`]: one allocation instead of one per id in its
//! causal history, which is what makes a long history cheap to hold and to evict from.
//! The encoding is what a repair rebroadcasts and what persistence stores, so both take
//! it as it is.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::message::{HistoryEntry, SdsMessage};
use super::wire;

/// One delivered message as history keeps it (never with its bloom field).
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRecord {
    /// The message's wire encoding with an empty bloom field.
    pub stored: Vec<u8>,
    /// Participant that sent the message.
    pub sender_id: String,
    /// Retrieval hint learned for it (empty until the host provides one).
    pub retrieval_hint: Vec<u8>,
    /// Length of the message's content, what the byte bound counts.
    content_len: usize,
}

/// Delivered messages of one channel, oldest first.
#[derive(Debug, Default)]
pub struct MessageHistory {
    /// Ids oldest first; each id's one allocation is shared with its `records` key.
    order: VecDeque<Arc<str>>,
    records: HashMap<Arc<str>, HistoryRecord>,
    content_bytes: usize,
    max_len: usize,
    max_bytes: usize,
}

impl MessageHistory {
    /// An empty history keeping at most `max_len` messages and `max_bytes` of content.
    pub fn new(max_len: usize, max_bytes: usize) -> Self {
        Self {
            max_len,
            max_bytes,
            ..Self::default()
        }
    }

    /// Number of messages held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the history is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Whether a message with this id is held.
    pub fn contains(&self, message_id: &str) -> bool {
        self.records.contains_key(message_id)
    }

    /// The record of a held message.
    pub fn get(&self, message_id: &str) -> Option<&HistoryRecord> {
        self.records.get(message_id)
    }

    /// Appends a message (its bloom field is not kept). Re-adding a held id replaces its
    /// record in place. Returns the ids evicted to stay within bounds, oldest first; the
    /// newest message itself is never evicted.
    pub fn push(&mut self, message: &SdsMessage) -> Vec<String> {
        let record = HistoryRecord {
            stored: wire::encode_message_with_bloom(message, &[]),
            content_len: message.content.len(),
            sender_id: message.sender_id.clone(),
            retrieval_hint: Vec::new(),
        };
        self.content_bytes += record.content_len;
        match self.records.get_mut(message.message_id.as_str()) {
            Some(held) => {
                self.content_bytes -= held.content_len;
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
            && (self.order.len() > self.max_len || self.content_bytes > self.max_bytes)
        {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.records.remove(&oldest) {
                self.content_bytes -= old.content_len;
            }
            evicted.push(oldest.to_string());
        }
        evicted
    }

    /// Records a retrieval hint for a held message. Returns whether it changed.
    pub fn set_hint(&mut self, message_id: &str, hint: Vec<u8>) -> bool {
        match self.records.get_mut(message_id) {
            Some(record) if record.retrieval_hint != hint => {
                record.retrieval_hint = hint;
                true
            }
            _ => false,
        }
    }

    /// Ids of the newest `n` messages, oldest first.
    pub fn newest_ids(&self, n: usize) -> impl Iterator<Item = &str> {
        let skip = self.order.len().saturating_sub(n);
        self.order.range(skip..).map(|id| &**id)
    }

    /// The history entries (id, hint, sender) of the newest `n` messages, oldest first.
    pub fn newest_entries(&self, n: usize) -> impl Iterator<Item = HistoryEntry> + '_ {
        self.newest_ids(n).filter_map(|id| {
            self.records.get(id).map(|r| HistoryEntry {
                message_id: id.to_owned(),
                retrieval_hint: r.retrieval_hint.clone(),
                sender_id: r.sender_id.clone(),
            })
        })
    }

    /// A held message, decoded from its stored encoding (bloom field empty).
    pub fn message(&self, message_id: &str) -> Option<SdsMessage> {
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
        let mut h = MessageHistory::new(100, 4);
        h.push(&msg("a", b"12"));
        h.push(&msg("b", b"34"));
        assert_eq!(h.push(&msg("c", b"5")), vec!["a".to_string()]);
        assert_eq!(
            h.push(&msg("big", b"123456789")),
            vec!["b".to_string(), "c".to_string()]
        );
        assert_eq!(h.len(), 1);
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
