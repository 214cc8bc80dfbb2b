//! How threads other than the host's (recorders, replays, file jobs) hand work back to a
//! context's worker.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;
use tokio::sync::Notify;

use super::request::Request;

/// Requests made from inside a callback, i.e. on the worker thread itself: they cannot
/// wait for room in the bounded queue, so they take this lane, drained after each request.
pub(crate) type ReentrantLane = Arc<Mutex<VecDeque<Request>>>;

/// Queues requests on the worker from a helper thread.
#[derive(Clone)]
pub(crate) struct Poster {
    /// The context's bounded request queue.
    pub requests: Sender<Request>,
    /// The unbounded lane the worker serves first.
    pub lane: ReentrantLane,
    /// Wakes the worker.
    pub wake: Arc<Notify>,
}

impl Poster {
    /// Queues `request` on the bounded queue, waiting while it is full: back-pressure for
    /// a producer the worker never waits for (a replay). If the worker is gone the request
    /// is forgotten unanswered, since no callback may run after the context is freed (the
    /// worker joins every helper before it exits, so this does not happen in practice).
    pub(crate) fn post(&self, request: Request) {
        match self.requests.send(request) {
            Ok(()) => self.wake.notify_one(),
            Err(unsent) => std::mem::forget(unsent.0),
        }
    }

    /// Queues `request` without ever waiting, for helpers the worker itself may be waiting
    /// on (a recorder whose queue is full under the block policy): waiting for room in
    /// the request queue there could deadlock. Such results are few, one per operation.
    pub(crate) fn post_without_waiting(&self, request: Request) {
        self.lane
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(request);
        self.wake.notify_one();
    }
}
