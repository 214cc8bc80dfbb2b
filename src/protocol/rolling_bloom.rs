//! nim-sds's rolling bloom filter: a [`BloomFilter`] plus the ids added to it, in order,
//! rebuilt from the newest ids whenever it holds too many.
//!
//! With `capacity` c, `min_capacity = trunc(c * 80 / 100)` and
//! `max_capacity = trunc(c * 120 / 100)` (nim-sds's 20 % flex, computed in floating point
//! exactly as nim-sds does). When an add brings the number of ids above `max_capacity`,
//! the filter is replaced by a new one sized for `max_capacity` ids (same error rate)
//! holding only the newest `min_capacity` ids. `min_capacity` and `max_capacity` keep the
//! values computed from the original capacity, so every later roll again builds a filter
//! of `max_capacity`.
//!
//! Each tracked id is kept as its [`IdHashes`] only (16 bytes, whatever the id's length),
//! which is all a rebuild needs to re-derive bit positions.

use std::collections::VecDeque;

use super::bloom::{sizing, BloomError, BloomFilter, IdHashes};
use super::dialect::WireFormat;

/// nim-sds's capacity flex, in percent.
const CAPACITY_FLEX_PERCENT: f64 = 20.0;

/// A bloom filter over the most recent ids, bit-compatible with nim-sds's
/// `RollingBloomFilter`.
#[derive(Clone, Debug)]
pub struct RollingBloomFilter {
    filter: BloomFilter,
    capacity: usize,
    min_capacity: usize,
    max_capacity: usize,
    /// Dimensions `(k, m_bits)` of the filter a roll builds (for `max_capacity`).
    rolled_sizing: (u32, u64),
    ids: VecDeque<IdHashes>,
    /// Whose hash positions the bits follow (see [`IdHashes::of_as`]).
    hashing: WireFormat,
}

impl RollingBloomFilter {
    /// An empty rolling filter for `capacity` ids at `error_rate`. Fails if either the
    /// initial filter or the one a roll would build (for `max_capacity` ids) cannot be
    /// sized (see [`BloomFilter::new`]).
    pub fn new(capacity: usize, error_rate: f64) -> Result<Self, BloomError> {
        let min_capacity = (capacity as f64 * (100.0 - CAPACITY_FLEX_PERCENT) / 100.0) as usize;
        let max_capacity = (capacity as f64 * (100.0 + CAPACITY_FLEX_PERCENT) / 100.0) as usize;
        // Validate both sizings before allocating anything.
        let (k, m_bits) = sizing(capacity, error_rate)?;
        let rolled_sizing = sizing(max_capacity, error_rate)?;
        let filter = BloomFilter::with_sizing(capacity, error_rate, k, m_bits);
        Ok(RollingBloomFilter {
            filter,
            capacity,
            min_capacity,
            max_capacity,
            rolled_sizing,
            ids: VecDeque::new(),
            hashing: WireFormat::Nim,
        })
    }

    /// The same filter, empty, hashing ids as peers of `format` do: a channel's filter
    /// must hash as the peers that read it (nim-sds and `@waku/sds` place bits differently).
    pub fn hashing_as(mut self, format: WireFormat) -> Self {
        self.ids.clear();
        self.filter.clear();
        self.hashing = format;
        self
    }

    /// The dialect whose hash positions this filter uses.
    pub fn hashing(&self) -> WireFormat {
        self.hashing
    }

    /// Adds an id (and rolls the filter if it now tracks more than `max_capacity` ids).
    pub fn add(&mut self, id: &str) {
        self.add_hashed(id, IdHashes::of_as(self.hashing, id));
    }

    /// [`add`](Self::add) with the id's precomputed hashes; `hashes` must be
    /// `IdHashes::of_as(self.hashing(), id)`.
    pub fn add_hashed(&mut self, id: &str, hashes: IdHashes) {
        debug_assert_eq!(hashes, IdHashes::of_as(self.hashing, id));
        self.filter.insert_hashed(&hashes);
        self.ids.push_back(hashes);
        if self.ids.len() > self.max_capacity {
            self.roll();
        }
    }

    /// Rebuilds the filter at `max_capacity` from the newest `min_capacity` ids.
    fn roll(&mut self) {
        let excess = self.ids.len().saturating_sub(self.min_capacity);
        self.ids.drain(..excess);
        self.rebuild();
    }

    /// Forgets the oldest half of the tracked ids and rebuilds the filter from the rest:
    /// an early roll, for when memory is short (see `protocol/budget.rs`). The
    /// filter then says "absent" for the forgotten ids, so peers may resend them; nothing
    /// else changes. Returns the heap bytes freed.
    pub fn shed_oldest_half(&mut self) -> usize {
        let before = self.heap_bytes();
        let half = self.ids.len().div_ceil(2);
        self.ids.drain(..half);
        self.ids.shrink_to_fit();
        self.rebuild();
        before.saturating_sub(self.heap_bytes())
    }

    /// Heap bytes of the bit array and the tracked ids.
    pub fn heap_bytes(&self) -> usize {
        use super::budget::heap;
        heap(self.filter.encoded_len())
            + heap(self.ids.capacity() * std::mem::size_of::<IdHashes>())
    }

    /// Heap bytes of the tracked ids alone.
    pub fn tracked_bytes(&self) -> usize {
        super::budget::heap(self.ids.capacity() * std::mem::size_of::<IdHashes>())
    }

    /// Rebuilds the filter at `max_capacity` from the tracked ids.
    fn rebuild(&mut self) {
        let (k, m_bits) = self.rolled_sizing;
        if self.filter.capacity() == self.max_capacity
            && self.filter.k() == k
            && self.filter.m_bits() == m_bits
        {
            // Already the rolled size (every roll after the first): reuse the words.
            self.filter.clear();
        } else {
            self.filter =
                BloomFilter::with_sizing(self.max_capacity, self.filter.error_rate(), k, m_bits);
        }
        for h in &self.ids {
            self.filter.insert_hashed(h);
        }
    }

    /// Whether the id may be in the filter.
    pub fn contains(&self, id: &str) -> bool {
        self.filter
            .contains_hashed(&IdHashes::of_as(self.hashing, id))
    }

    /// [`contains`](Self::contains) with precomputed hashes.
    pub fn contains_hashed(&self, h: &IdHashes) -> bool {
        self.filter.contains_hashed(h)
    }

    /// The current filter.
    pub fn filter(&self) -> &BloomFilter {
        &self.filter
    }

    /// Number of ids tracked (those the current filter was built from).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no id is tracked.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The hashes of the tracked ids, oldest first.
    pub fn tracked(&self) -> impl Iterator<Item = IdHashes> + '_ {
        self.ids.iter().copied()
    }

    /// The capacity this rolling filter was created with.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many of the newest ids a roll keeps.
    pub fn min_capacity(&self) -> usize {
        self.min_capacity
    }

    /// How many ids may be tracked before a roll.
    pub fn max_capacity(&self) -> usize {
        self.max_capacity
    }

    /// Exact length of [`serialize`](Self::serialize)'s output.
    pub fn encoded_len(&self) -> usize {
        self.filter.encoded_len()
    }

    /// Appends the current filter's nim-sds encoding to `buf`.
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        self.filter.encode_into(buf);
    }

    /// The current filter's nim-sds encoding.
    pub fn serialize(&self) -> Vec<u8> {
        self.filter.serialize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: usize) -> String {
        format!("msg-{i}")
    }

    #[test]
    fn flex_bounds_follow_nim_sds() {
        let cases = [
            (10_000, 8000, 12_000),
            (100, 80, 120),
            (2000, 1600, 2400),
            (7, 5, 8),
            (1, 0, 1),
        ];
        for (capacity, min, max) in cases {
            let r = RollingBloomFilter::new(capacity, 0.01).expect("valid");
            assert_eq!(
                (r.capacity(), r.min_capacity(), r.max_capacity()),
                (capacity, min, max)
            );
            assert_eq!(r.filter().capacity(), capacity);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn new_rejects_invalid_and_unrollable_sizings() {
        assert_eq!(
            RollingBloomFilter::new(0, 0.01).err(),
            Some(BloomError::InvalidCapacity(0))
        );
        assert!(matches!(
            RollingBloomFilter::new(10, 1.0),
            Err(BloomError::InvalidErrorRate(_))
        ));
        // At error 0.5 (2 bits per id) 2^31 ids fit the 2^32-bit limit, but the
        // 1.2x filter a roll builds would not: refused up front, before allocating.
        assert_eq!(
            RollingBloomFilter::new(1 << 31, 0.5).err(),
            Some(BloomError::TooLarge(2 * ((1u128 << 31) * 6 / 5)))
        );
    }

    #[test]
    fn rolls_when_exceeding_max_capacity_and_keeps_newest_min_capacity() {
        let mut r = RollingBloomFilter::new(100, 0.01).expect("valid");
        for i in 0..120 {
            r.add(&id(i));
        }
        assert_eq!(r.len(), 120);
        assert_eq!(r.filter().capacity(), 100);
        assert!((0..120).all(|i| r.contains(&id(i))));

        r.add(&id(120));
        assert_eq!(r.len(), 80);
        let kept: Vec<IdHashes> = r.tracked().collect();
        let want: Vec<IdHashes> = (41..=120).map(|i| IdHashes::of(&id(i))).collect();
        assert_eq!(kept, want);
        // The new filter is sized for max_capacity and holds exactly the kept ids.
        let mut expected = BloomFilter::new(120, 0.01).expect("valid");
        for i in 41..=120 {
            expected.insert(&id(i));
        }
        assert_eq!(r.filter(), &expected);
        assert_eq!(r.filter().m_bits(), 1200);
        // Bounds still come from the original capacity.
        assert_eq!((r.min_capacity(), r.max_capacity()), (80, 120));
    }

    #[test]
    fn later_rolls_rebuild_at_max_capacity_again() {
        let mut r = RollingBloomFilter::new(100, 0.01).expect("valid");
        for i in 0..121 {
            r.add(&id(i));
        }
        assert_eq!(r.len(), 80);
        // 40 more adds reach 120; the 41st rolls again.
        for i in 121..161 {
            r.add(&id(i));
        }
        assert_eq!(r.len(), 120);
        r.add(&id(161));
        assert_eq!(r.len(), 80);
        assert_eq!(r.tracked().next(), Some(IdHashes::of(&id(82))));
        let mut expected = BloomFilter::new(120, 0.01).expect("valid");
        for i in 82..=161 {
            expected.insert(&id(i));
        }
        assert_eq!(r.filter(), &expected);
    }

    #[test]
    fn capacity_one_rolls_to_empty() {
        let mut r = RollingBloomFilter::new(1, 0.01).expect("valid");
        r.add("a");
        assert_eq!(r.len(), 1);
        assert!(r.contains("a"));
        r.add("b");
        assert!(r.is_empty());
        assert!(r.filter().words().iter().all(|&w| w == 0));
    }

    #[test]
    fn hashed_variants_agree_and_encoding_delegates() {
        let mut a = RollingBloomFilter::new(50, 0.01).expect("valid");
        let mut b = RollingBloomFilter::new(50, 0.01).expect("valid");
        for i in 0..200 {
            a.add(&id(i));
            b.add_hashed(&id(i), IdHashes::of(&id(i)));
        }
        assert_eq!(a.filter(), b.filter());
        assert!(a.tracked().eq(b.tracked()));
        for i in 0..200 {
            assert_eq!(a.contains(&id(i)), a.contains_hashed(&IdHashes::of(&id(i))));
        }
        assert_eq!(a.serialize(), a.filter().serialize());
        assert_eq!(a.encoded_len(), a.serialize().len());
        let mut buf = vec![1];
        a.encode_into(&mut buf);
        assert_eq!(&buf[1..], a.serialize().as_slice());
    }
}
