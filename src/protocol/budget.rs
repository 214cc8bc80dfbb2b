//! The memory budget: what peers can make a manager hold, charged at its real size.
//!
//! Everything a received message can make a manager keep is charged against one
//! per-manager limit, [`ProtocolConfig::memory_budget_bytes`]: each channel's base (its
//! state and bloom filter), its history and the ids its rolling bloom filter tracks, its
//! buffered messages with their dependency index, and its SDS-R repair buffers. Charges
//! are computed from the structures as they sit in memory (heap blocks as the allocator
//! rounds them, hash-table slots, index entries), not from the content alone.
//!
//! How the budget is shared, so that no kind of input can starve another:
//!
//! - **Buffered messages** (waiting for dependencies) may hold at most a quarter of the
//!   budget across channels, besides each channel's own `max_incoming_buffer` and
//!   `max_incoming_buffer_bytes`. When a limit is reached, the holder with the largest
//!   share gives way if it holds more than the newcomer's holder would after admission:
//!   within a channel the holders are the senders, across channels the channels. The
//!   holder's oldest buffered messages are evicted (each with a `Lost` event); otherwise
//!   the new message is refused. A flood from one sender (or on one channel) therefore
//!   never keeps another sender's (or channel's) messages out.
//! - **SDS-R repair entries** may hold at most an eighth of the budget; past it (or past
//!   `max_repair_buffer` in a channel) new entries are not kept and are counted.
//! - **History and bloom-filter ids** take the rest. They only cache what was already
//!   delivered, so when the total would exceed the budget the channel holding the most of
//!   them gives way: its oldest history goes first, then its bloom filter forgets its
//!   oldest half of ids (an early roll).
//!
//! A message is refused, changing no state, when what it needs cannot fit even after
//! history gave way. Own outgoing messages are not charged: the caller bounds them with
//! `max_outgoing_buffer` and the 1 MiB content limit.
//!
//! [`ProtocolConfig::memory_budget_bytes`]: super::config::ProtocolConfig::memory_budget_bytes

use std::mem::size_of;

use super::message::{HistoryEntry, SdsMessage};

/// Heap bytes one allocation of `bytes` occupies: glibc's malloc rounds a request plus
/// its 8-byte header up to 16 bytes, 32 at least.
pub(crate) fn heap(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        (bytes + 8 + 15).max(32) & !15
    }
}

/// Heap bytes of one hash-table entry of `key_value` bytes: the slot and its control
/// byte, at a load between 7/8 (just grown) and 7/16 (about to grow), about 1.7 slots.
pub(crate) fn table_slot(key_value: usize) -> usize {
    (key_value + 1) * 12 / 7
}

/// Heap bytes of one element of `bytes` in a growable array (`Vec`, `VecDeque`), which
/// is between half and fully used.
pub(crate) fn array_slot(bytes: usize) -> usize {
    bytes * 3 / 2
}

/// Heap bytes held by a history entry's own allocations.
pub(crate) fn entry_heap(e: &HistoryEntry) -> usize {
    heap(e.message_id.capacity()) + heap(e.retrieval_hint.capacity()) + heap(e.sender_id.capacity())
}

/// Heap bytes held by a decoded message's allocations (not its own struct).
pub(crate) fn message_heap(m: &SdsMessage) -> usize {
    let entries = |list: &Vec<HistoryEntry>| {
        heap(list.capacity() * size_of::<HistoryEntry>())
            + list.iter().map(entry_heap).sum::<usize>()
    };
    heap(m.message_id.capacity())
        + heap(m.channel_id.capacity())
        + heap(m.sender_id.capacity())
        + heap(m.content.capacity())
        + heap(m.bloom_filter.capacity())
        + entries(&m.causal_history)
        + entries(&m.repair_request)
}

/// What one channel, or a whole manager, holds, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Channel state and bloom filters (not reclaimable while the channel exists).
    pub base: usize,
    /// Delivered history and the ids bloom filters track (reclaimable: oldest first).
    pub history: usize,
    /// Messages waiting for dependencies, with their dependency index.
    pub buffered: usize,
    /// SDS-R repair buffers.
    pub repair: usize,
}

impl Usage {
    /// Everything charged.
    pub fn total(&self) -> usize {
        self.base + self.history + self.buffered + self.repair
    }

    /// What history giving way cannot free.
    pub fn unreclaimable(&self) -> usize {
        self.base + self.buffered + self.repair
    }
}

/// The manager-wide limit and what is charged against it.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: Usage,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            used: Usage::default(),
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn used(&self) -> Usage {
        self.used
    }

    /// Most bytes buffered messages may hold across channels.
    pub(crate) fn buffered_limit(&self) -> usize {
        self.limit / 4
    }

    /// Most bytes SDS-R repair entries may hold across channels.
    pub(crate) fn repair_limit(&self) -> usize {
        self.limit / 8
    }

    /// Whether `extra` bytes that history cannot make room for fit, counting history as
    /// fully reclaimable.
    pub(crate) fn fits(&self, extra: usize) -> bool {
        self.used.unreclaimable().saturating_add(extra) <= self.limit
    }

    /// Bytes over the limit (0 when within).
    pub(crate) fn excess(&self) -> usize {
        self.used.total().saturating_sub(self.limit)
    }

    /// Replaces a channel's contribution `before` by `after`.
    pub(crate) fn settle(&mut self, before: Usage, after: Usage) {
        let u = &mut self.used;
        // `before` was added when it was current, so nothing underflows; saturate anyway.
        let swap = |held: usize, old: usize, new: usize| (held + new).saturating_sub(old);
        u.base = swap(u.base, before.base, after.base);
        u.history = swap(u.history, before.history, after.history);
        u.buffered = swap(u.buffered, before.buffered, after.buffered);
        u.repair = swap(u.repair, before.repair, after.repair);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_rounds_like_glibc() {
        assert_eq!(heap(0), 0);
        assert_eq!(heap(1), 32);
        assert_eq!(heap(24), 32);
        assert_eq!(heap(25), 48);
        assert_eq!(heap(1000), 1008);
    }

    #[test]
    fn settle_replaces_a_contribution() {
        let mut b = Budget::new(1000);
        let a = Usage {
            base: 10,
            history: 20,
            buffered: 30,
            repair: 40,
        };
        b.settle(Usage::default(), a);
        assert_eq!(b.used().total(), 100);
        b.settle(a, Usage { history: 5, ..a });
        assert_eq!(b.used().history, 5);
        assert!(b.fits(900 - 80));
        assert!(!b.fits(921));
        assert_eq!(b.buffered_limit(), 250);
        assert_eq!(b.repair_limit(), 125);
    }
}
