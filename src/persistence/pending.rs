//! History changes not yet accepted by the backend: one queue per channel in which the
//! latest operation on an id replaces earlier ones, so a retried batch is minimal and
//! never re-applies a stale append or eviction.

use indexmap::IndexMap;

use super::contract::{HistoryBatch, StoredMessage};
use crate::protocol::journal::MetaJournal;

/// Meta changes of one channel not yet accepted by a backend that stores buffer rows:
/// whether the header is to be written, and the buffer entries touched, merged in order.
#[derive(Debug, Default)]
pub(crate) struct PendingMeta {
    /// The header (Lamport clock) changed.
    pub header: bool,
    /// Buffer entries touched.
    pub buffers: MetaJournal,
}

impl PendingMeta {
    /// Adds one operation's changes.
    pub(crate) fn note(&mut self, dirty: bool, buffers: MetaJournal) {
        self.header |= dirty || !buffers.is_empty();
        self.buffers.merge(buffers);
    }

    /// Whether nothing is to be written.
    pub(crate) fn is_empty(&self) -> bool {
        !self.header && self.buffers.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PendingOp {
    Append(Vec<u8>),
    Evict,
}

/// Pending history changes of one channel, in the order of their latest operation.
#[derive(Debug, Default)]
pub(crate) struct PendingHistory {
    ops: IndexMap<String, PendingOp>,
}

impl PendingHistory {
    /// Queues an append of the stored encoding of `message_id`.
    pub(crate) fn append(&mut self, message_id: &str, bytes: Vec<u8>) {
        self.replace(message_id, PendingOp::Append(bytes));
    }

    /// Queues the eviction of `message_id`.
    pub(crate) fn evict(&mut self, message_id: &str) {
        self.replace(message_id, PendingOp::Evict);
    }

    fn replace(&mut self, message_id: &str, op: PendingOp) {
        // Move the id to the end: its latest operation is the newest.
        self.ops.shift_remove(message_id);
        self.ops.insert(message_id.to_owned(), op);
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The queued changes as one batch (the queue is kept until [`Self::clear`]).
    pub(crate) fn batch(&self) -> HistoryBatch {
        let mut batch = HistoryBatch::default();
        for (id, op) in &self.ops {
            match op {
                PendingOp::Append(bytes) => batch.append.push(StoredMessage {
                    message_id: id.clone(),
                    bytes: bytes.clone(),
                }),
                PendingOp::Evict => batch.evict.push(id.clone()),
            }
        }
        batch
    }

    /// Forgets everything queued (after the backend accepted it).
    pub(crate) fn clear(&mut self) {
        self.ops.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_operation_per_id_wins() {
        let mut pending = PendingHistory::default();
        pending.append("a", vec![1]);
        pending.append("b", vec![2]);
        pending.evict("a");
        pending.append("c", vec![3]);
        let batch = pending.batch();
        let appended: Vec<_> = batch.append.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(appended, vec!["b", "c"]);
        assert_eq!(batch.evict, vec!["a".to_string()]);
    }

    #[test]
    fn re_append_after_evict_is_an_append_at_the_end() {
        let mut pending = PendingHistory::default();
        pending.evict("a");
        pending.append("b", vec![2]);
        pending.append("a", vec![9]);
        let batch = pending.batch();
        let appended: Vec<_> = batch.append.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(appended, vec!["b", "a"]);
        assert!(batch.evict.is_empty());
        assert_eq!(batch.append[1].bytes, vec![9]);
    }

    #[test]
    fn clear_empties_the_queue() {
        let mut pending = PendingHistory::default();
        pending.append("a", vec![1]);
        assert!(!pending.is_empty());
        pending.clear();
        assert!(pending.is_empty());
        assert!(pending.batch().is_empty());
    }
}
