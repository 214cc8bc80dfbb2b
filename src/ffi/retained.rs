//! Buffers handed to libsds callbacks stay readable after the callback returns.
//!
//! libsds clients rely on it: the cgo Go binding stores the `msg` pointer in its callback
//! and copies `msg[0..len]` only after the waiting goroutine wakes up, which is after the
//! callback has returned (nim-sds's garbage-collected strings happen to survive that). So
//! every non-empty buffer a libsds callback receives is moved, after the call, into one
//! process-wide ring of recent buffers, independent of any context, and released only
//! under the rule of [`Retention::keep`] (stated in `include/libsds.h`). The buffer kept
//! is the very one the text was written into: retention copies nothing.
//!
//! A few released buffers of ordinary size are kept as spares and written into again by
//! later results ([`buffer`]): handing them back to `malloc` in ring order would let it
//! shrink and regrow its heap for every result, page faults and page zeroing included.
//!
//! The native `storage_*` API does not use this: its data is borrowed for the callback.

use std::collections::VecDeque;
use std::sync::Mutex;

/// A buffer is kept at least until this many later buffers have been handed over.
const ALWAYS_KEPT_LATER: usize = 8;
/// After [`ALWAYS_KEPT_LATER`], a buffer is released once this many later buffers have
/// been handed over...
const MAX_KEPT_LATER: usize = 4096;
/// ...or once the later buffers handed over total this many allocated bytes.
const MAX_LATER_BYTES: usize = 16 * 1024 * 1024;
/// Released buffers kept for reuse, at most...
const MAX_SPARES: usize = 4;
/// ...each of at most this capacity (a default wrap result takes about 75 KB).
const MAX_SPARE_CAPACITY: usize = 1024 * 1024;

/// A ring of recently handed-over buffers, oldest first, with their total allocated size.
#[derive(Debug)]
pub(crate) struct Retention {
    buffers: VecDeque<Vec<u8>>,
    bytes: usize,
    always_kept_later: usize,
    max_kept_later: usize,
    max_later_bytes: usize,
    /// Released buffers waiting to be reused, empty, at most [`MAX_SPARES`].
    spares: Vec<Vec<u8>>,
}

impl Retention {
    /// An empty ring with these limits (see the constants of this module).
    pub(super) const fn new(
        always_kept_later: usize,
        max_kept_later: usize,
        max_later_bytes: usize,
    ) -> Self {
        Self {
            buffers: VecDeque::new(),
            bytes: 0,
            always_kept_later,
            max_kept_later,
            max_later_bytes,
            spares: Vec::new(),
        }
    }

    /// An empty buffer of at least `capacity`: a spare if one is large enough.
    pub(super) fn take(&mut self, capacity: usize) -> Vec<u8> {
        match self.spares.iter().position(|b| b.capacity() >= capacity) {
            Some(i) => self.spares.swap_remove(i),
            None => Vec::with_capacity(capacity),
        }
    }

    /// Keeps `buffer` as the newest entry and returns the buffers that are now released
    /// (for the caller to free), except those kept as spares.
    ///
    /// A buffer is released once at least `always_kept_later` buffers were kept after it,
    /// and either `max_kept_later` buffers were, or the buffers kept after it total
    /// `max_later_bytes` allocated bytes. Empty buffers are not kept (they are handed to
    /// the host as a static `""`) and do not count.
    pub(super) fn keep(&mut self, buffer: Vec<u8>) -> Vec<Vec<u8>> {
        if buffer.capacity() == 0 {
            return Vec::new();
        }
        self.bytes = self.bytes.saturating_add(buffer.capacity());
        self.buffers.push_back(buffer);
        let mut released = Vec::new();
        while let Some(oldest) = self.buffers.front() {
            let later = self.buffers.len() - 1;
            let later_bytes = self.bytes - oldest.capacity();
            let release = later >= self.always_kept_later
                && (later >= self.max_kept_later || later_bytes >= self.max_later_bytes);
            if !release {
                break;
            }
            if let Some(mut oldest) = self.buffers.pop_front() {
                self.bytes -= oldest.capacity();
                if self.spares.len() < MAX_SPARES && oldest.capacity() <= MAX_SPARE_CAPACITY {
                    oldest.clear();
                    self.spares.push(oldest);
                } else {
                    released.push(oldest);
                }
            }
        }
        released
    }

    /// How many buffers are kept, and their total allocated size.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        (self.buffers.len(), self.bytes)
    }
}

/// The process-wide ring.
static RETAINED: Mutex<Retention> = Mutex::new(Retention::new(
    ALWAYS_KEPT_LATER,
    MAX_KEPT_LATER,
    MAX_LATER_BYTES,
));

/// The ring. It holds whole buffers and a byte count updated with them, so a poisoned
/// lock still holds a consistent ring.
fn ring() -> std::sync::MutexGuard<'static, Retention> {
    RETAINED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps a buffer that was just handed to a libsds callback readable for a while (see the
/// module doc). Released buffers are freed after the lock is let go.
pub(crate) fn retain(buffer: Vec<u8>) {
    let released = ring().keep(buffer);
    drop(released);
}

/// An empty buffer of at least `capacity` for a libsds result, reusing a released one
/// when it can.
pub(crate) fn buffer(capacity: usize) -> Vec<u8> {
    ring().take(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(capacity: usize, fill: u8) -> Vec<u8> {
        let mut b = Vec::with_capacity(capacity);
        b.resize(capacity, fill);
        b
    }

    /// A ring whose spares are already full, so released buffers are returned.
    fn ring_without_room_for_spares(always: usize, max: usize, bytes: usize) -> Retention {
        let mut ring = Retention::new(always, max, bytes);
        ring.spares = (0..MAX_SPARES).map(|_| Vec::with_capacity(1)).collect();
        ring
    }

    #[test]
    fn keeps_a_buffer_until_enough_later_buffers_were_kept() {
        let mut ring = ring_without_room_for_spares(2, 3, usize::MAX);
        for i in 0..3u8 {
            assert!(ring.keep(filled(10, i)).is_empty());
        }
        // The first buffer now has 3 later ones: released, unchanged.
        let released = ring.keep(filled(10, 3));
        assert_eq!(released, vec![filled(10, 0)]);
        assert_eq!(ring.held(), (3, 30));
    }

    #[test]
    fn releases_by_the_bytes_kept_after_a_buffer() {
        let mut ring = ring_without_room_for_spares(1, 100, 25);
        assert!(ring.keep(filled(10, 0)).is_empty());
        assert!(ring.keep(filled(10, 1)).is_empty());
        // 20 bytes after the first buffer: still under 25.
        assert!(ring.keep(filled(10, 2)).is_empty());
        // 30 bytes after the first, 20 after the second.
        assert_eq!(ring.keep(filled(10, 3)), vec![filled(10, 0)]);
        assert_eq!(ring.held(), (3, 30));
    }

    #[test]
    fn the_most_recent_buffers_are_kept_however_large() {
        let mut ring = ring_without_room_for_spares(2, 100, 5);
        assert!(ring.keep(filled(1000, 0)).is_empty());
        assert!(ring.keep(filled(1000, 1)).is_empty());
        assert_eq!(ring.held(), (2, 2000));
        // A third: the first now has 2 later buffers over the byte limit.
        assert_eq!(ring.keep(filled(1000, 2)), vec![filled(1000, 0)]);
        assert_eq!(ring.held(), (2, 2000));
    }

    #[test]
    fn empty_buffers_are_not_kept_and_do_not_count() {
        let mut ring = ring_without_room_for_spares(1, 1, usize::MAX);
        assert!(ring.keep(filled(4, 0)).is_empty());
        for _ in 0..10 {
            assert!(ring.keep(Vec::new()).is_empty());
        }
        assert_eq!(ring.held(), (1, 4));
        assert_eq!(ring.keep(filled(4, 1)), vec![filled(4, 0)]);
    }

    #[test]
    fn released_buffers_of_ordinary_size_are_reused() {
        let mut ring = Retention::new(0, 1, usize::MAX);
        assert!(ring.keep(filled(100, 1)).is_empty());
        // The first buffer is released into the spares, not returned.
        let first = ring.buffers.front().map(|b| b.as_ptr());
        assert!(ring.keep(filled(100, 2)).is_empty());
        let reused = ring.take(80);
        assert!(reused.is_empty() && reused.capacity() >= 100);
        assert_eq!(Some(reused.as_ptr()), first);
        // Too small a spare is not handed out; a new buffer is.
        ring.keep(reused);
        assert!(ring.take(1000).capacity() >= 1000);
        // Huge buffers and buffers beyond MAX_SPARES are returned for freeing.
        let mut ring = Retention::new(0, 1, usize::MAX);
        ring.keep(filled(MAX_SPARE_CAPACITY + 1, 0));
        assert_eq!(ring.keep(filled(1, 0)).len(), 1);
        for _ in 0..MAX_SPARES + 3 {
            ring.keep(filled(10, 0));
        }
        assert_eq!(ring.spares.len(), MAX_SPARES);
    }

    #[test]
    fn memory_stays_within_the_limits() {
        let mut ring = Retention::new(ALWAYS_KEPT_LATER, MAX_KEPT_LATER, 1000);
        for i in 0..500 {
            ring.keep(filled(1 + i % 97, 0));
            let (_, bytes) = ring.held();
            assert!(bytes < 1000 + 97, "{bytes} bytes held");
        }
        // A buffer goes once 16 later ones were kept: the ring holds 16 at most.
        let mut ring = Retention::new(ALWAYS_KEPT_LATER, 16, usize::MAX);
        for _ in 0..100 {
            ring.keep(filled(1, 0));
        }
        assert_eq!(ring.held().0, 16);
    }
}
