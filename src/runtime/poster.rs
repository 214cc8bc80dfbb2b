//! How threads other than the host's (recorders, replays, file jobs) hand work back to a
//! context's worker.

use std::sync::Arc;

use crossbeam_channel::Sender;
use tokio::sync::Notify;

use super::request::Request;

/// Queues requests on the worker from a helper thread. Waits while the queue is full
/// (back-pressure on the helper, never on the worker).
#[derive(Clone)]
pub(crate) struct Poster {
    pub requests: Sender<Request>,
    pub wake: Arc<Notify>,
}

impl Poster {
    /// Queues `request` and wakes the worker. If the worker is gone the request is
    /// forgotten unanswered: its callback must not run after the context is freed (the
    /// worker joins every helper before it exits, so this does not happen in practice).
    pub fn post(&self, request: Request) {
        match self.requests.send(request) {
            Ok(()) => self.wake.notify_one(),
            Err(unsent) => std::mem::forget(unsent.0),
        }
    }
}
