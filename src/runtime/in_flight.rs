//! Back-pressure by bytes for a context's request queue: the queue's capacity bounds how
//! many requests wait, this bounds how much message data they hold together (1024
//! queued unwraps of 4 MiB would otherwise hold 4 GiB).

use std::sync::{Condvar, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct State {
    bytes: usize,
    closed: bool,
}

/// Bytes of message data in queued requests, with a limit host threads wait on.
#[derive(Debug)]
pub(crate) struct InFlightBytes {
    state: Mutex<State>,
    room: Condvar,
    max: usize,
}

impl InFlightBytes {
    /// A gate letting `max` bytes wait at once (and always one request, however large).
    pub(crate) fn new(max: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            room: Condvar::new(),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two plain values, consistent between statements.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `bytes` more fit (or nothing is in flight, or the gate is closed),
    /// then counts them.
    pub(crate) fn acquire(&self, bytes: usize) {
        let mut state = self.lock();
        while state.bytes > 0 && state.bytes.saturating_add(bytes) > self.max && !state.closed {
            state = self.room.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.bytes = state.bytes.saturating_add(bytes);
    }

    /// Counts `bytes` without waiting (for requests made on the worker thread itself,
    /// which must never wait for the worker).
    pub(crate) fn force(&self, bytes: usize) {
        let mut state = self.lock();
        state.bytes = state.bytes.saturating_add(bytes);
    }

    /// The worker took a request holding `bytes` off the queue.
    pub(crate) fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let mut state = self.lock();
        state.bytes = state.bytes.saturating_sub(bytes);
        drop(state);
        self.room.notify_all();
    }

    /// No more releases will come (the worker stopped): nobody waits any longer.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn one_request_always_fits_and_a_second_waits_for_room() {
        let gate = Arc::new(InFlightBytes::new(10));
        gate.acquire(100);
        let done = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (gate, done) = (gate.clone(), done.clone());
            std::thread::spawn(move || {
                gate.acquire(5);
                done.store(true, Ordering::SeqCst);
            })
        };
        // The waiter cannot get in until the first request leaves the queue.
        gate.release(100);
        waiter.join().expect("waiter");
        assert!(done.load(Ordering::SeqCst));
    }

    #[test]
    fn closing_lets_waiters_go() {
        let gate = Arc::new(InFlightBytes::new(10));
        gate.acquire(10);
        let waiter = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.acquire(10))
        };
        gate.close();
        waiter.join().expect("waiter");
    }
}
