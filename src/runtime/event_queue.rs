//! A bounded queue of events for hosts that pull (`storage_next_event`), bounded both in
//! events and in bytes. The worker never blocks on it: when it is full the newest event is
//! dropped and counted, and the count is reported by the next successful pull as an
//! overflow notice placed before it.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a pull returns.
#[derive(Debug, PartialEq, Eq)]
pub enum Pulled<T> {
    /// The oldest queued event.
    Event(T),
    /// Events were dropped because the queue was full; how many.
    Overflow(u64),
    /// Nothing arrived before the timeout.
    TimedOut,
    /// The queue is closed (its context was freed) and empty.
    Closed,
}

#[derive(Debug)]
struct Inner<T> {
    /// Each event with its size in bytes.
    items: VecDeque<(T, usize)>,
    bytes: usize,
    dropped: u64,
    closed: bool,
    /// Pullers blocked in `pull`: a push wakes one only when there is one, as a futex
    /// wake-up per event would cost the worker a system call each time.
    waiting: usize,
}

/// A bounded multi-consumer event queue.
#[derive(Debug)]
pub struct EventQueue<T> {
    inner: Mutex<Inner<T>>,
    ready: Condvar,
    capacity: usize,
    max_bytes: usize,
}

impl<T> EventQueue<T> {
    /// An empty queue holding at most `capacity` events and `max_bytes` bytes of them
    /// (one event always fits, however large).
    pub fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                items: VecDeque::new(),
                bytes: 0,
                dropped: 0,
                closed: false,
                waiting: 0,
            }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // The queue's invariants hold between statements, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an event of `bytes` bytes without blocking; returns false (and counts it) if
    /// the queue is full.
    pub fn push(&self, item: T, bytes: usize) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            return false;
        }
        let accepted = inner.items.len() < self.capacity
            && (inner.items.is_empty() || inner.bytes.saturating_add(bytes) <= self.max_bytes);
        if accepted {
            inner.items.push_back((item, bytes));
            inner.bytes += bytes;
        } else {
            inner.dropped += 1;
        }
        let wake = inner.waiting > 0;
        drop(inner);
        if wake {
            self.ready.notify_one();
        }
        accepted
    }

    /// Waits up to `timeout` for an event (an overflow notice comes first if any).
    pub fn pull(&self, timeout: Duration) -> Pulled<T> {
        let deadline = Instant::now().checked_add(timeout);
        let mut inner = self.lock();
        loop {
            if inner.dropped > 0 {
                return Pulled::Overflow(std::mem::take(&mut inner.dropped));
            }
            if let Some((item, bytes)) = inner.items.pop_front() {
                inner.bytes -= bytes;
                return Pulled::Event(item);
            }
            if inner.closed {
                return Pulled::Closed;
            }
            let now = Instant::now();
            let wait = match deadline {
                Some(deadline) if deadline > now => deadline - now,
                Some(_) => return Pulled::TimedOut,
                None => Duration::from_secs(3600),
            };
            inner.waiting += 1;
            inner = self
                .ready
                .wait_timeout(inner, wait)
                .map_or_else(|p| p.into_inner().0, |(guard, _)| guard);
            inner.waiting -= 1;
        }
    }

    /// Closes the queue: pending events can still be pulled, then pulls return `Closed`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn delivers_in_order_then_times_out() {
        let q = EventQueue::new(4, usize::MAX);
        q.push(1, 1);
        q.push(2, 1);
        assert_eq!(q.pull(Duration::ZERO), Pulled::Event(1));
        assert_eq!(q.pull(Duration::ZERO), Pulled::Event(2));
        assert_eq!(q.pull(Duration::from_millis(1)), Pulled::TimedOut);
    }

    #[test]
    fn overflow_is_counted_and_reported_first() {
        let q = EventQueue::new(2, usize::MAX);
        assert!(q.push(1, 1) && q.push(2, 1));
        assert!(!q.push(3, 1));
        assert!(!q.push(4, 1));
        assert_eq!(q.pull(Duration::ZERO), Pulled::Overflow(2));
        assert_eq!(q.pull(Duration::ZERO), Pulled::Event(1));
    }

    #[test]
    fn bytes_bound_the_queue_but_one_event_always_fits() {
        let q = EventQueue::new(100, 10);
        assert!(q.push(1, 50), "the first event fits whatever its size");
        assert!(!q.push(2, 1));
        assert_eq!(q.pull(Duration::ZERO), Pulled::Overflow(1));
        assert_eq!(q.pull(Duration::ZERO), Pulled::Event(1));
        assert!(q.push(3, 6) && !q.push(4, 5) && q.push(5, 4));
    }

    #[test]
    fn a_waiting_puller_is_woken_and_close_ends_pulls() {
        let q = Arc::new(EventQueue::new(2, usize::MAX));
        let q2 = q.clone();
        let puller = std::thread::spawn(move || q2.pull(Duration::from_secs(30)));
        q.push(7, 1);
        assert_eq!(puller.join().unwrap(), Pulled::Event(7));
        q.push(8, 1);
        q.close();
        assert_eq!(q.pull(Duration::ZERO), Pulled::Event(8));
        assert_eq!(q.pull(Duration::from_secs(30)), Pulled::Closed);
        assert!(!q.push(9, 1));
    }
}
