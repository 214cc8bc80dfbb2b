//! The worker thread of a context: owns the protocol state and its persistence, runs
//! requests in arrival order, fires timers, and hands events to the sink.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use tokio::sync::Notify;

use super::clock::Clock;
use super::config::TimerConfig;
use super::in_flight::InFlightBytes;
use super::poster::ReentrantLane;
use super::recording::Recordings;
use super::request::{EventSink, Fuse, Reply, Request, RequestError, RuntimeEvent};
use super::restart::RestartBudget;
use crate::fault::{hit, FaultPoint};
use crate::persistence::contract::NoPersistence;
use crate::persistence::durable::{OpError, PersistentManager};
use crate::protocol::config::ProtocolConfig;
use crate::protocol::event::Event;
use crate::protocol::manager::Manager;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Requests handled before timers get a chance to run again.
const BATCH: usize = 1024;

/// Most requests whose saves share one group commit: bounds how long the first of them
/// waits for its reply under sustained load.
const GROUP_MAX: usize = 64;

/// How long an idle worker watches its queue before it parks, at least...
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(50);

/// ... and at most: when requests have lately come this soon after the queue ran dry (a
/// host answering each result, as libsds clients do after parsing its text), the worker
/// watches twice as long as that gap, up to this.
const MAX_SPIN_BEFORE_PARK: Duration = Duration::from_micros(300);

/// When each periodic task is next due (Unix ms), once started.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    outgoing: u64,
    incoming: u64,
    repair: u64,
    sync: u64,
}

/// Something the host is told once the group commit covering it is done.
enum Deferred {
    Event(RuntimeEvent),
    Reply(Box<dyn FnOnce() + Send>),
}

pub(crate) struct Worker {
    pub manager: PersistentManager,
    pub clock: Arc<dyn Clock>,
    pub timers: TimerConfig,
    pub sink: Box<dyn EventSink>,
    pub requests: Receiver<Request>,
    pub reentrant: ReentrantLane,
    /// Set by `Context::shutdown`: queued requests are failed, not run.
    pub closing: Arc<AtomicBool>,
    /// Bytes of data in queued requests, released as requests leave the queue.
    in_flight: Arc<InFlightBytes>,
    /// Active recorders, replays and recording file jobs.
    pub recordings: Recordings,
    deadlines: Option<Deadlines>,
    save_failures_seen: u64,
    /// How long the queue stayed empty last time before a request (or a timer) came.
    recent_gap: Duration,
    /// While a group commit is open: events and replies held until it is committed, in
    /// the order they were produced, so no reply claims a save that is not yet durable.
    outbox: Option<Vec<Deferred>>,
    /// Fuses of the requests whose replies wait in the outbox, in order.
    group_fuses: Vec<Fuse>,
    /// What a restart rebuilds the manager from.
    protocol: ProtocolConfig,
    /// Restarts left under the policy.
    budget: RestartBudget,
    /// Set once the budget is spent: every request is refused with this reason.
    failed: Option<String>,
}

/// The text of a panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Fails the requests a panic caught unanswered, with `text`.
fn fail_requests(fuses: Vec<Fuse>, text: &str) {
    for fuse in fuses {
        fuse(RequestError::Panic(text.to_owned()));
    }
}

impl Worker {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        manager: PersistentManager,
        clock: Arc<dyn Clock>,
        timers: TimerConfig,
        sink: Box<dyn EventSink>,
        requests: Receiver<Request>,
        reentrant: ReentrantLane,
        closing: Arc<AtomicBool>,
        in_flight: Arc<InFlightBytes>,
        recordings: Recordings,
        protocol: ProtocolConfig,
        budget: RestartBudget,
    ) -> Self {
        Self {
            group_fuses: Vec::new(),
            protocol,
            budget,
            failed: None,
            closing,
            in_flight,
            recordings,
            manager,
            clock,
            timers,
            sink,
            requests,
            reentrant,
            deadlines: None,
            save_failures_seen: 0,
            recent_gap: MAX_SPIN_BEFORE_PARK,
            outbox: None,
        }
    }

    /// Hands `startup_events` (what happened while the context started) to the sink,
    /// then runs until a `Shutdown` request (or until every sender is gone).
    pub(crate) fn run(
        mut self,
        runtime: tokio::runtime::Runtime,
        wake: Arc<Notify>,
        startup_events: Vec<RuntimeEvent>,
    ) {
        for event in startup_events {
            self.emit(event);
        }
        runtime.block_on(async {
            loop {
                if !self.handle_pending() {
                    break;
                }
                self.begin_group();
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.run_due_timers())) {
                    self.restart("a timer", &*payload, Vec::new());
                }
                self.end_group();
                let idle_since = Instant::now();
                if self.spin_for_request() {
                    self.recent_gap = idle_since.elapsed();
                    continue;
                }
                match self.until_next_deadline() {
                    Some(wait) => {
                        tokio::select! {
                            _ = wake.notified() => {}
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                    None => wake.notified().await,
                }
                self.recent_gap = idle_since.elapsed();
            }
        });
        self.stop_recordings();
        self.in_flight.close();
    }

    /// Stops recorders (their files are sealed) and replays, answering whatever they post
    /// meanwhile with `ShuttingDown`, so no helper thread outlives the worker.
    fn stop_recordings(&mut self) {
        self.recordings.shutdown();
        loop {
            self.fail_all();
            if self.recordings.helpers_done() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.fail_all();
    }

    /// Watches the queue briefly before the worker parks: under load the next request
    /// usually arrives within microseconds, and a futex wake-up costs more. Adaptive, so
    /// that a quiet worker spends no more than [`SPIN_BEFORE_PARK`] per request.
    fn spin_for_request(&self) -> bool {
        let spin = if self.recent_gap < MAX_SPIN_BEFORE_PARK {
            (self.recent_gap * 2).clamp(SPIN_BEFORE_PARK, MAX_SPIN_BEFORE_PARK)
        } else {
            SPIN_BEFORE_PARK
        };
        let until = Instant::now() + spin;
        loop {
            if !self.requests.is_empty() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            // Yield rather than spin hot: on a busy machine the thread we wait for may need
            // this core to produce the request.
            std::thread::yield_now();
        }
    }

    /// The next request: callbacks' requests first, then the queue. `Err` once every
    /// sender is gone (the context was dropped without a shutdown request).
    fn next_request(&self) -> Result<Option<Request>, ()> {
        let reentrant = self
            .reentrant
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        if let Some(request) = reentrant {
            self.in_flight.release(request.payload_bytes());
            return Ok(Some(request));
        }
        match self.requests.try_recv() {
            Ok(request) => {
                self.in_flight.release(request.payload_bytes());
                Ok(Some(request))
            }
            Err(crossbeam_channel::TryRecvError::Empty) => Ok(None),
            Err(crossbeam_channel::TryRecvError::Disconnected) => Err(()),
        }
    }

    /// Handles queued requests; false once the worker must stop. With a backend that
    /// groups commits, up to [`GROUP_MAX`] consecutive requests share one commit, and
    /// their events and replies go out, in order, right after it.
    fn handle_pending(&mut self) -> bool {
        self.begin_group();
        let mut in_group = 0;
        for _ in 0..BATCH {
            let request = match self.next_request() {
                Ok(None) => break,
                Ok(Some(request)) => request,
                Err(()) => {
                    self.end_group();
                    self.fail_all();
                    return false;
                }
            };
            if matches!(request, Request::Shutdown) || self.closing.load(Ordering::SeqCst) {
                self.end_group();
                request.fail(RequestError::ShuttingDown);
                self.fail_all();
                return false;
            }
            if let Some(reason) = &self.failed {
                match request {
                    Request::Completion(complete) => complete(Some(self.sink.as_mut())),
                    other => other.fail(RequestError::WorkerStopped(reason.clone())),
                }
                continue;
            }
            let kind = request.kind();
            let fuse = request.fuse();
            match catch_unwind(AssertUnwindSafe(|| self.handle(request))) {
                Ok(()) => {
                    if self.outbox.is_some() {
                        self.group_fuses.extend(fuse);
                    }
                }
                Err(payload) => {
                    let mut fuses = std::mem::take(&mut self.group_fuses);
                    fuses.extend(fuse);
                    self.restart(&format!("a {kind} request"), &*payload, fuses);
                    in_group = 0;
                    continue;
                }
            }
            in_group += 1;
            if in_group == GROUP_MAX {
                self.end_group();
                self.begin_group();
                in_group = 0;
            }
        }
        self.end_group();
        true
    }

    /// Opens a group commit if the backend has them.
    fn begin_group(&mut self) {
        if self.outbox.is_none() && self.manager.begin_group() {
            self.outbox = Some(Vec::new());
        }
    }

    /// Commits the open group, then delivers what it held back. A panic here fails the
    /// group's requests that are not answered yet.
    fn end_group(&mut self) {
        let Some(outbox) = self.outbox.take() else {
            return;
        };
        let fuses = std::mem::take(&mut self.group_fuses);
        let committed = catch_unwind(AssertUnwindSafe(|| {
            self.manager.commit_group();
            self.report_save_failures();
            for item in outbox {
                match item {
                    Deferred::Event(event) => self.sink.deliver(event),
                    Deferred::Reply(reply) => reply(),
                }
            }
        }));
        if let Err(payload) = committed {
            self.restart("a group commit", &*payload, fuses);
        }
    }

    /// After a panic in `during`: fails `fuses` (requests not answered yet) with the
    /// panic, drops the in-memory state and reloads the channels that were in memory
    /// from persistence, then tells the host (`worker_restarted`). When the restart
    /// budget is spent, the context fails instead: every later request is refused.
    fn restart(&mut self, during: &str, payload: &(dyn std::any::Any + Send), fuses: Vec<Fuse>) {
        let message = panic_text(payload);
        log::error!("the worker panicked in {during}: {message}");
        // What the panicking code produced is not trusted: events not yet delivered go.
        self.outbox = None;
        let failed_requests = fuses.len() as u64;
        let now = self.clock.now_ms();
        let mut channels = catch_unwind(AssertUnwindSafe(|| self.manager.manager().channel_ids()))
            .unwrap_or_default();
        channels.sort();
        let provider = self.manager.manager_mut().take_retrieval_hint_provider();
        let managers = Manager::new(self.protocol.clone())
            .and_then(|a| Manager::new(self.protocol.clone()).map(|b| (a, b)));
        let (fresh, spare) = match managers {
            Ok(managers) => managers,
            // The configuration was accepted at start; it cannot stop being valid.
            Err(e) => {
                log::error!("cannot rebuild the manager: {e}");
                return self.fail(format!("{message}; cannot restart: {e}"), fuses);
            }
        };
        let placeholder = PersistentManager::new(spare, Box::new(NoPersistence));
        let old = std::mem::replace(&mut self.manager, placeholder);
        let durable = old.is_durable();
        let backend = match catch_unwind(AssertUnwindSafe(|| old.into_backend())) {
            Ok(backend) => backend,
            Err(_) => {
                return self.fail(
                    format!("{message}; the backend could not be recovered"),
                    fuses,
                )
            }
        };
        self.manager = PersistentManager::new(fresh, backend);
        self.manager
            .manager_mut()
            .set_retrieval_hint_provider(provider);
        self.save_failures_seen = 0;
        let restart_count = match self.budget.spend(now) {
            Ok(count) => count,
            Err(exhausted) => {
                return self.fail(format!("panic in {during}: {message}; {exhausted}"), fuses)
            }
        };
        fail_requests(
            fuses,
            &format!("panic in {during}: {message}; the worker restarted"),
        );
        let (mut channels_reloaded, mut channels_lost) = (Vec::new(), Vec::new());
        for channel_id in channels {
            let loaded = durable
                && catch_unwind(AssertUnwindSafe(|| {
                    self.manager.channel_stats(now, &channel_id)
                }))
                .is_ok_and(|r| r.is_ok_and(|stats| stats.is_some()));
            if loaded {
                channels_reloaded.push(channel_id);
            } else {
                channels_lost.push(channel_id);
            }
        }
        self.manager.take_events();
        let recordings_reopened =
            catch_unwind(AssertUnwindSafe(|| self.recordings.reopen())).unwrap_or_default();
        self.emit(RuntimeEvent::WorkerRestarted {
            reason: format!("panic in {during}: {message}"),
            restart_count,
            failed_requests,
            state_lost: !durable,
            channels_reloaded,
            channels_lost,
            recordings_reopened,
        });
    }

    /// The restart budget is spent (or a restart is impossible): fails `fuses` and
    /// every later request with `reason`, stops the timers and the recordings.
    fn fail(&mut self, reason: String, fuses: Vec<Fuse>) {
        log::error!("the context failed: {reason}");
        fail_requests(fuses, &reason);
        self.deadlines = None;
        self.recordings.shutdown();
        self.failed = Some(reason);
    }

    /// Answers a request now, or after the open group's commit.
    fn answer<T: Send + 'static>(&mut self, reply: Reply<T>, result: Result<T, OpError>) {
        let result = result.map_err(RequestError::from);
        match &mut self.outbox {
            Some(outbox) => outbox.push(Deferred::Reply(Box::new(move || reply.send(result)))),
            None => reply.send(result),
        }
    }

    /// Hands an event to the sink now, or after the open group's commit.
    fn emit(&mut self, event: RuntimeEvent) {
        match &mut self.outbox {
            Some(outbox) => outbox.push(Deferred::Event(event)),
            None => self.sink.deliver(event),
        }
    }

    fn fail_all(&mut self) {
        while let Ok(Some(request)) = self.next_request() {
            request.fail(RequestError::ShuttingDown);
        }
    }

    fn handle(&mut self, request: Request) {
        let now = self.clock.now_ms();
        let m = &mut self.manager;
        // Events are delivered before the reply, as libsds fires its callbacks while the
        // operation runs and answers the request at the end.
        match request {
            Request::Wrap {
                channel_id,
                message_id,
                content,
                reply,
            } => {
                let result = m.wrap(now, &channel_id, &message_id, &content);
                hit(FaultPoint::Request, &channel_id);
                if let Ok(bytes) = &result {
                    self.recordings.on_sent(&channel_id, bytes, now);
                }
                self.flush_events();
                self.answer(reply, result);
            }
            Request::WrapEphemeral {
                channel_id,
                message_id,
                content,
                reply,
            } => {
                let result = m.wrap_ephemeral(&channel_id, &message_id, &content);
                if let Ok(bytes) = &result {
                    self.recordings.on_sent(&channel_id, bytes, now);
                }
                self.answer(reply, result);
            }
            Request::BuildSyncMessage { channel_id, reply } => {
                let result = m.build_sync_message(now, &channel_id);
                self.flush_events();
                self.answer(reply, result);
            }
            Request::Unwrap { bytes, reply } => {
                let result = m.unwrap(now, &bytes);
                self.flush_events();
                self.answer(reply, result);
            }
            Request::MarkDependenciesMet {
                channel_id,
                message_ids,
                reply,
            } => {
                let result = m.mark_dependencies_met(now, &message_ids, &channel_id);
                self.flush_events();
                self.answer(reply, result);
            }
            Request::EnsureChannel { channel_id, reply } => {
                let result = m.ensure_channel(now, &channel_id);
                self.flush_events();
                self.answer(reply, result);
            }
            Request::RemoveChannel { channel_id, reply } => {
                let result = m.remove_channel(&channel_id);
                self.answer(reply, result);
            }
            Request::Reset { reply } => {
                let result = m.reset();
                self.answer(reply, result);
            }
            Request::StartPeriodicTasks { reply } => {
                if self.deadlines.is_none() {
                    // As nim-sds, every task runs once right away, then at its interval.
                    self.deadlines = Some(Deadlines {
                        outgoing: now,
                        incoming: now,
                        repair: now,
                        sync: now,
                    });
                    self.run_due_timers();
                }
                self.answer(reply, Ok(()));
            }
            Request::ChannelStats { channel_id, reply } => {
                let stats = m.channel_stats(now, &channel_id);
                self.answer(reply, stats);
            }
            Request::SetRetrievalHintProvider { provider } => {
                m.manager_mut().set_retrieval_hint_provider(provider);
            }
            Request::Ping { reply } => self.answer(reply, Ok(())),
            Request::Completion(complete) => complete(Some(self.sink.as_mut())),
            request @ (Request::RecordingStart { .. }
            | Request::RecordingStop { .. }
            | Request::RecordingSeal { .. }
            | Request::RecordingsList { .. }
            | Request::RecordingVerify { .. }
            | Request::RecordingDelete { .. }
            | Request::RecordingSupersede { .. }
            | Request::RecordingErase { .. }
            | Request::AuditQuery { .. }
            | Request::ReplayStart { .. }
            | Request::ReplayStop { .. }
            | Request::UploadRecording { .. }
            | Request::UploadStatus { .. }
            | Request::UploadReconcile { .. }) => {
                if let Some(other) = self.recordings.handle(request) {
                    other.fail(RequestError::ShuttingDown);
                }
            }
            Request::Tick => self.run_due_timers(),
            Request::Shutdown => {}
        }
    }

    /// Hands the manager's events and any new save failure to the sink.
    fn flush_events(&mut self) {
        let events = self.manager.take_events();
        let now = self.clock.now_ms();
        for event in events {
            // Recorded before the host sees it: the recorder only queues a copy.
            self.recordings.on_event(&event, &self.manager, now);
            self.emit(RuntimeEvent::Protocol(event));
        }
        for event in self.recordings.report(now) {
            self.emit(event);
        }
        self.report_save_failures();
    }

    /// Emits a persistence warning if saves failed since the last one.
    fn report_save_failures(&mut self) {
        let health = self.manager.health();
        let failures = health.meta_failures + health.history_failures + health.hint_failures;
        if failures > self.save_failures_seen {
            self.save_failures_seen = failures;
            let (channel_id, message) = health.last_error.clone().unwrap_or_default();
            self.emit(RuntimeEvent::PersistenceWarning {
                channel_id,
                message,
            });
        }
    }

    fn run_due_timers(&mut self) {
        let Some(mut due) = self.deadlines else {
            return;
        };
        let now = self.clock.now_ms();
        for channel_id in self.manager.manager().channel_ids() {
            hit(FaultPoint::Timer, &channel_id);
        }
        let t = self.timers.clone();
        if now >= due.outgoing {
            self.manager.sweep_outgoing(now);
            due.outgoing = now.saturating_add(t.outgoing_sweep_interval_ms);
        }
        if now >= due.incoming {
            self.manager.sweep_incoming(now);
            due.incoming = now.saturating_add(t.incoming_sweep_interval_ms);
        }
        if now >= due.repair {
            self.manager.sweep_repair(now);
            due.repair = now.saturating_add(t.repair_sweep_interval_ms);
        }
        self.flush_events();
        if now >= due.sync {
            self.emit(RuntimeEvent::SyncTick);
            let mut channels = self.manager.manager().channel_ids();
            channels.sort();
            for channel_id in channels {
                self.emit(RuntimeEvent::Protocol(Event::PeriodicSync { channel_id }));
            }
            due.sync = now.saturating_add(t.sync_interval_ms);
        }
        self.deadlines = Some(due);
    }

    fn until_next_deadline(&self) -> Option<Duration> {
        let due = self.deadlines?;
        let next = due.outgoing.min(due.incoming).min(due.repair).min(due.sync);
        Some(Duration::from_millis(
            next.saturating_sub(self.clock.now_ms()),
        ))
    }
}
