//! A replay's thread: reads the recording ([`ReplayReader`]), waits until each message is
//! due by the context's clock, and posts it to the worker, which hands it to the host as a
//! `replay_message` event. Stopping drops the cancel channel, which wakes any wait at once.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::clock::Clock;
use super::poster::Poster;
use super::request::{Request, RuntimeEvent};
use crate::recording::replay::{ReplayOptions, ReplayReader};
use crate::recording::RecordingError;

/// Longest single wait between clock readings, so an injected clock that jumps is noticed.
const CLOCK_POLL: Duration = Duration::from_millis(10);

/// The worker's handle on a running replay.
pub(crate) struct Replay {
    /// Dropping it cancels the replay.
    cancel: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Replay {
    /// Starts replaying the recording in `folder` (its manifest is read first, so a bad
    /// recording fails here, not in an event).
    pub(crate) fn start(
        replay_id: u64,
        folder: PathBuf,
        options: ReplayOptions,
        clock: Arc<dyn Clock>,
        poster: Poster,
    ) -> Result<Self, RecordingError> {
        let first_pass = ReplayReader::open(&folder, options.clone())?;
        let (cancel, cancelled) = bounded::<()>(0);
        let run = Run {
            replay_id,
            folder,
            options,
            clock,
            poster,
            cancelled,
        };
        let thread = std::thread::Builder::new()
            .name("storage-replay".into())
            .spawn(move || run.run(first_pass))
            .map_err(|e| RecordingError::RecorderFailed(format!("cannot start thread: {e}")))?;
        Ok(Self {
            cancel: Some(cancel),
            thread: Some(thread),
        })
    }

    /// Asks the replay to stop; returns its thread to join.
    pub(crate) fn cancel(mut self) -> Option<JoinHandle<()>> {
        self.cancel.take();
        self.thread.take()
    }

    /// Whether the replay thread has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

struct Run {
    replay_id: u64,
    folder: PathBuf,
    options: ReplayOptions,
    clock: Arc<dyn Clock>,
    poster: Poster,
    cancelled: Receiver<()>,
}

/// How a pass over the recording ended.
enum PassEnd {
    Done(u64),
    Cancelled,
    Failed(RecordingError),
}

impl Run {
    fn run(self, first_pass: ReplayReader) {
        let mut reader = first_pass;
        let mut total = 0u64;
        let (cancelled, error) = loop {
            match self.pass(reader, &mut total) {
                PassEnd::Cancelled => break (true, None),
                PassEnd::Failed(e) => break (false, Some(e.to_string())),
                PassEnd::Done(n) if n == 0 || !self.options.looped => break (false, None),
                PassEnd::Done(_) => {}
            }
            reader = match ReplayReader::open(&self.folder, self.options.clone()) {
                Ok(r) => r,
                Err(e) => break (false, Some(e.to_string())),
            };
        };
        let event = RuntimeEvent::ReplayFinished {
            replay_id: self.replay_id,
            messages: total,
            cancelled,
            error,
        };
        self.poster.post(Request::Completion(Box::new(move |sink| {
            if let Some(sink) = sink {
                sink.deliver(event);
            }
        })));
    }

    /// One pass: paced from the moment it starts, by the first message's log time.
    fn pass(&self, reader: ReplayReader, total: &mut u64) -> PassEnd {
        let started_ms = self.clock.now_ms();
        let mut first_log_ns = None;
        let mut count = 0;
        for item in reader {
            let replayed = match item {
                Ok(m) => m,
                Err(e) => return PassEnd::Failed(e),
            };
            let first = *first_log_ns.get_or_insert(replayed.log_time_ns);
            let since = replayed.log_time_ns.saturating_sub(first);
            if let Some(after_ns) = self.options.due_after_ns(since) {
                if !self.wait_until(started_ms.saturating_add(after_ns / 1_000_000)) {
                    return PassEnd::Cancelled;
                }
            } else if self.is_cancelled() {
                return PassEnd::Cancelled;
            }
            let event = RuntimeEvent::ReplayMessage {
                replay_id: self.replay_id,
                channel_id: replayed.channel_id,
                message: replayed.message,
                log_time_ns: replayed.log_time_ns,
            };
            self.poster.post(Request::Completion(Box::new(move |sink| {
                if let Some(sink) = sink {
                    sink.deliver(event);
                }
            })));
            count += 1;
            *total += 1;
        }
        PassEnd::Done(count)
    }

    fn is_cancelled(&self) -> bool {
        matches!(
            self.cancelled.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        )
    }

    /// Waits until the clock reads `due_ms`; false if cancelled first.
    fn wait_until(&self, due_ms: u64) -> bool {
        loop {
            let now = self.clock.now_ms();
            if now >= due_ms {
                return !self.is_cancelled();
            }
            let wait = Duration::from_millis(due_ms - now).min(CLOCK_POLL);
            match self.cancelled.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return false,
            }
        }
    }
}
