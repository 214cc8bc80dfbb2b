//! A running context: the handle host threads use to reach its worker thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};

use crossbeam_channel::{bounded, Sender, TrySendError};
use tokio::sync::Notify;

use super::clock::Clock;
use super::config::{ContextConfig, Durability, PersistenceConfig};
use super::error::ContextError;
use super::in_flight::InFlightBytes;
use super::poster::{Poster, ReentrantLane};
use super::recording::Recordings;
use super::request::{EventSink, Request, RequestError};
use super::restart::RestartBudget;
use super::worker::Worker;
use crate::persistence::contract::{NoPersistence, Persistence};
use crate::persistence::durable::PersistentManager;
use crate::persistence::memory::MemoryStore;
use crate::persistence::sqlite::{SqliteStore, Synchronous};
use crate::protocol::manager::Manager;

/// A context: one worker thread owning one participant's protocol state.
pub struct Context {
    requests: Sender<Request>,
    in_flight: Arc<InFlightBytes>,
    reentrant: ReentrantLane,
    wake: Arc<Notify>,
    closing: Arc<AtomicBool>,
    worker: Mutex<Option<JoinHandle<()>>>,
    worker_id: ThreadId,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("worker", &self.worker_id)
            .finish_non_exhaustive()
    }
}

fn open_backend(config: &PersistenceConfig) -> Result<Box<dyn Persistence>, ContextError> {
    match config {
        PersistenceConfig::None => Ok(Box::new(NoPersistence)),
        PersistenceConfig::Memory => Ok(Box::new(MemoryStore::new())),
        PersistenceConfig::Sqlite { path, durability } => {
            let synchronous = match durability {
                Durability::Full => Synchronous::Full,
                Durability::Normal => Synchronous::Normal,
            };
            let store = SqliteStore::open(path, synchronous)
                .map_err(|e| ContextError::Persistence(e.to_string()))?;
            Ok(Box::new(store))
        }
    }
}

impl Context {
    /// Starts a context with `config`, reading time from `clock` and handing events to
    /// `sink` on the worker thread.
    pub fn start(
        config: ContextConfig,
        clock: Arc<dyn Clock>,
        sink: Box<dyn EventSink>,
    ) -> Result<Self, ContextError> {
        let manager = Manager::new(config.protocol.clone())?;
        let backend = open_backend(&config.persistence)?;
        Self::start_with_backend(config, clock, sink, manager, backend)
    }

    /// Starts a context on a backend the caller opened (a host persistence vtable, or a
    /// store shared with a later context in tests); `config.persistence` is not used.
    pub fn start_with(
        config: ContextConfig,
        clock: Arc<dyn Clock>,
        sink: Box<dyn EventSink>,
        backend: Box<dyn Persistence>,
    ) -> Result<Self, ContextError> {
        let manager = Manager::new(config.protocol.clone())?;
        Self::start_with_backend(config, clock, sink, manager, backend)
    }

    fn start_with_backend(
        config: ContextConfig,
        clock: Arc<dyn Clock>,
        sink: Box<dyn EventSink>,
        manager: Manager,
        backend: Box<dyn Persistence>,
    ) -> Result<Self, ContextError> {
        let manager = PersistentManager::new(manager, backend);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| ContextError::Thread(e.to_string()))?;
        let (sender, receiver) = bounded(config.queues.request_queue_capacity);
        let reentrant: ReentrantLane = Arc::new(Mutex::new(VecDeque::new()));
        let wake = Arc::new(Notify::new());
        let closing = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(InFlightBytes::new(config.queues.request_queue_max_bytes));
        let poster = Poster {
            requests: sender.clone(),
            lane: reentrant.clone(),
            wake: wake.clone(),
        };
        let mut recordings = Recordings::new(
            config.recording.clone(),
            config.upload.clone(),
            config.protocol.participant_id.clone(),
            clock.clone(),
            poster,
        );
        // Before the worker runs, so that an autostart failure fails the start.
        let startup_events = recordings.start_up()?;
        let worker = Worker::new(
            manager,
            clock,
            config.timers.clone(),
            sink,
            receiver,
            reentrant.clone(),
            closing.clone(),
            in_flight.clone(),
            recordings,
            config.protocol.clone(),
            RestartBudget::new(config.restart),
        );
        let worker_wake = wake.clone();
        let handle = std::thread::Builder::new()
            .name("storage-worker".into())
            .spawn(move || worker.run(runtime, worker_wake, startup_events))
            .map_err(|e| ContextError::Thread(e.to_string()))?;
        Ok(Self {
            requests: sender,
            in_flight,
            reentrant,
            wake,
            closing,
            worker_id: handle.thread().id(),
            worker: Mutex::new(Some(handle)),
        })
    }

    /// Whether the caller runs on this context's worker thread (inside a callback).
    pub fn on_worker_thread(&self) -> bool {
        std::thread::current().id() == self.worker_id
    }

    /// Queues a request. From a host thread this waits while the queue is full, or
    /// while the queued requests hold `request_queue_max_bytes` of data (back-pressure,
    /// nothing is dropped). From inside a callback it never waits: the request joins the
    /// queue in call order if there is room, else a side lane that the worker serves
    /// first.
    pub fn submit(&self, request: Request) {
        let bytes = request.payload_bytes();
        if self.on_worker_thread() {
            self.in_flight.force(bytes);
            match self.requests.try_send(request) {
                Ok(()) => {}
                Err(TrySendError::Full(request)) => self
                    .reentrant
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_back(request),
                Err(TrySendError::Disconnected(request)) => {
                    request.fail(RequestError::ShuttingDown);
                    return;
                }
            }
        } else {
            self.in_flight.acquire(bytes);
            if let Err(unsent) = self.requests.send(request) {
                unsent.0.fail(RequestError::ShuttingDown);
                return;
            }
        }
        self.wake.notify_one();
    }

    /// Stops the worker: requests still queued are answered with
    /// [`RequestError::ShuttingDown`], then the thread is joined. After it returns no
    /// callback runs. Idempotent; refused from inside a callback.
    pub fn shutdown(&self) -> Result<(), ContextError> {
        if self.on_worker_thread() {
            return Err(ContextError::ShutdownFromCallback);
        }
        let Some(handle) = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        // From now on the worker answers whatever is still queued with an error.
        self.closing.store(true, Ordering::SeqCst);
        if self.requests.send(Request::Shutdown).is_ok() {
            self.wake.notify_one();
        }
        // A worker that panicked has already stopped; there is nothing more to stop.
        let _ = handle.join();
        self.in_flight.close();
        Ok(())
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if !self.on_worker_thread() {
            let _ = self.shutdown();
        }
    }
}
