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
use super::request::{EventSink, Reply, Request, RequestError, RuntimeEvent};
use crate::persistence::durable::{OpError, PersistentManager};
use crate::protocol::event::Event;

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
    ) -> Self {
        Self {
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
                self.run_due_timers();
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
            self.handle(request);
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

    /// Commits the open group, then delivers what it held back.
    fn end_group(&mut self) {
        let Some(outbox) = self.outbox.take() else {
            return;
        };
        self.manager.commit_group();
        self.report_save_failures();
        for item in outbox {
            match item {
                Deferred::Event(event) => self.sink.deliver(event),
                Deferred::Reply(reply) => reply(),
            }
        }
    }

    /// Answers a request now, or after the open group's commit.
    fn answer<T: Send + 'static>(&mut self, reply: Reply<T>, result: Result<T, OpError>) {
        let result = result.map_err(RequestError::from);
        match &mut self.outbox {
            Some(outbox) => outbox.push(Deferred::Reply(Box::new(move || reply(result)))),
            None => reply(result),
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
            | Request::ReplayStart { .. }
            | Request::ReplayStop { .. }) => {
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
