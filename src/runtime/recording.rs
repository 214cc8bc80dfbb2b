//! The worker's recordings: active recorders fed from delivered (and sent) messages,
//! replays, and file jobs (list, verify, delete) run on helper threads so the worker
//! never waits on disk. Results come back as [`Request::Completion`]s.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use super::clock::Clock;
use super::config::RecordingConfig;
use super::error::ContextError;
use super::poster::Poster;
use super::replay::Replay;
use super::request::{Reply, Request, RequestError, RuntimeEvent};
use super::uploader::{UploadQueue, UploadStatus, Uploader};
use crate::persistence::durable::PersistentManager;
use crate::protocol::event::Event;
use crate::protocol::message::SdsMessage;
use crate::protocol::wire;
use crate::recording::audit::{query as audit_query, AuditQuery};
use crate::recording::frame::Frame;
use crate::recording::options::Mode;
use crate::recording::recorder::{Now, OnSealed, Recorder};
use crate::recording::recovery::recover_store;
use crate::recording::replay::ReplayOptions;
use crate::recording::store::Store;
use crate::recording::upload::{
    reconcile_recording, restore_recording, FailureClass, UploadError, UploadOptions,
};
use crate::recording::RecordingError;

/// Least time between two `recording_dropped` events of one recording.
const DROP_REPORT_INTERVAL_MS: u64 = 1000;

/// An active recorder and what was last reported about it.
struct Active {
    recorder: Recorder,
    reported_dropped: u64,
    reported_at_ms: u64,
    failure_reported: bool,
}

/// Recordings state owned by the worker.
pub(crate) struct Recordings {
    store: Option<Store>,
    config: RecordingConfig,
    /// The `upload` section, until the uploader starts with it.
    upload: Option<UploadOptions>,
    /// The background uploader, once started.
    uploader: Option<Uploader>,
    participant: String,
    clock: Arc<dyn Clock>,
    poster: Poster,
    active: HashMap<String, Active>,
    replays: HashMap<u64, Replay>,
    next_replay_id: u64,
    /// Threads whose results the worker must collect before it exits.
    helpers: Vec<JoinHandle<()>>,
    /// Whether any active recorder records sent messages (saves a lookup per wrap).
    any_record_sent: bool,
}

fn ns(ms: u64) -> u64 {
    ms.saturating_mul(1_000_000)
}

impl Recordings {
    /// Recordings under `config.root`; nothing is touched on disk before
    /// [`Recordings::start_up`].
    pub(crate) fn new(
        config: RecordingConfig,
        upload: Option<UploadOptions>,
        participant: String,
        clock: Arc<dyn Clock>,
        poster: Poster,
    ) -> Self {
        let store = config.root.as_ref().map(Store::new);
        Self {
            store,
            config,
            upload,
            uploader: None,
            participant,
            clock,
            poster,
            active: HashMap::new(),
            replays: HashMap::new(),
            next_replay_id: 1,
            helpers: Vec::new(),
            any_record_sent: false,
        }
    }

    /// Run once as the context starts: refuses a root that is not an existing folder,
    /// recovers what a crash left under the root, then
    /// starts the `recording.autostart` recording, if any. Returns the events for the
    /// host, in order: one `RecordingRecovered` per file recovery acted on, then
    /// `RecordingStarted`.
    pub(crate) fn start_up(&mut self) -> Result<Vec<RuntimeEvent>, ContextError> {
        if let Some(store) = &self.store {
            store.check_root().map_err(ContextError::RecordingRoot)?;
        }
        let mut events = self.recover();
        if let (Some(options), Some(store)) = (self.upload.take(), &self.store) {
            let uploader = Uploader::start(
                &options,
                store.clone(),
                &self.participant,
                self.clock.clone(),
                self.poster.clone(),
            )
            .map_err(ContextError::Upload)?;
            self.uploader = Some(uploader);
        }
        if let Some(autostart) = self.config.autostart.clone() {
            let name = autostart.recording_name(self.clock.now_ms());
            self.start(&name, &autostart.options_json)
                .map_err(|error| ContextError::Autostart {
                    name: name.clone(),
                    error,
                })?;
            log::info!("recording `{name}` started (recording.autostart)");
            events.push(RuntimeEvent::RecordingStarted { name });
        }
        Ok(events)
    }

    /// Crash recovery under the (checked) root, one event per action.
    fn recover(&self) -> Vec<RuntimeEvent> {
        let Some(store) = self.store.as_ref() else {
            return Vec::new();
        };
        recover_store(store)
            .into_iter()
            .map(|action| {
                log::warn!(
                    "recording `{}`: {} {} ({} messages): {}",
                    action.recording,
                    action.action,
                    action.file,
                    action.messages,
                    action.detail
                );
                RuntimeEvent::RecordingRecovered(action)
            })
            .collect()
    }

    fn store(&self) -> Result<&Store, RecordingError> {
        self.store.as_ref().ok_or(RecordingError::NotConfigured)
    }

    /// Hands a delivered message to every recorder that wants its channel. The full
    /// message (with causal history) comes from the history when it is there.
    pub(crate) fn on_event(&self, event: &Event, manager: &PersistentManager, now_ms: u64) {
        if self.active.is_empty() {
            return;
        }
        let Event::MessageReady {
            channel_id,
            message_id,
            sender_id,
            lamport_timestamp,
            content,
        } = event
        else {
            return;
        };
        // Delivery time; the send time is not known for received messages. The message
        // in the history has its causal history; an ephemeral one is not kept there.
        self.feed(channel_id, false, now_ms, |t| {
            Some(
                match manager.manager().history_stored(channel_id, message_id) {
                    Some(stored) => Frame::from_stored(channel_id, stored, t, t),
                    None => {
                        let message = SdsMessage {
                            message_id: message_id.clone(),
                            lamport_timestamp: *lamport_timestamp,
                            channel_id: channel_id.clone(),
                            content: content.clone(),
                            sender_id: sender_id.clone(),
                            ..SdsMessage::default()
                        };
                        Frame::new(&message, t, t)
                    }
                },
            )
        });
    }

    /// Hands a message this node just wrapped to recorders that record sent messages.
    pub(crate) fn on_sent(&self, channel_id: &str, wire_bytes: &[u8], now_ms: u64) {
        if !self.any_record_sent {
            return;
        }
        self.feed(channel_id, true, now_ms, |t| {
            let message = wire::decode_message(wire_bytes).ok()?;
            Some(Frame::new(&message, t, t))
        });
    }

    /// Queues the frame `make` encodes (only if some recorder wants it, stamped with the
    /// time in ns it is given) on every recorder recording `channel_id`.
    fn feed(
        &self,
        channel_id: &str,
        sent: bool,
        now_ms: u64,
        make: impl FnOnce(u64) -> Option<Frame>,
    ) {
        crate::fault::hit(crate::fault::FaultPoint::Recorder, channel_id);
        let wanting: Vec<&Recorder> = self
            .active
            .values()
            .map(|a| &a.recorder)
            .filter(|r| r.wants(channel_id, sent))
            .collect();
        let Some((last, others)) = wanting.split_last() else {
            return;
        };
        let Some(frame) = make(ns(now_ms)) else {
            return;
        };
        for recorder in others {
            recorder.record(frame.clone());
        }
        last.record(frame);
    }

    /// New drops (rate-limited) and failures of active recorders, as events to emit.
    pub(crate) fn report(&mut self, now_ms: u64) -> Vec<RuntimeEvent> {
        let mut events = Vec::new();
        for (name, active) in &mut self.active {
            let stats = active.recorder.stats();
            let dropped = stats.dropped.load(Ordering::Relaxed);
            if dropped > active.reported_dropped
                && (active.reported_dropped == 0
                    || now_ms.saturating_sub(active.reported_at_ms) >= DROP_REPORT_INTERVAL_MS)
            {
                active.reported_dropped = dropped;
                active.reported_at_ms = now_ms;
                events.push(RuntimeEvent::RecordingDropped {
                    name: name.clone(),
                    dropped,
                });
            }
            if !active.failure_reported {
                if let Some(error) = stats.failure() {
                    active.failure_reported = true;
                    events.push(RuntimeEvent::RecordingFailed {
                        name: name.clone(),
                        message: error.to_string(),
                    });
                }
            }
        }
        events
    }

    /// Runs a recording request; returns it back if it is not one.
    pub(crate) fn handle(&mut self, request: Request) -> Option<Request> {
        match request {
            Request::RecordingStart {
                name,
                options_json,
                reply,
            } => reply.send(self.start(&name, &options_json).map_err(RequestError::from)),
            Request::RecordingStop { name, reply } => match self.active.remove(&name) {
                Some(active) => {
                    self.refresh_record_sent();
                    let poster = self.poster.clone();
                    let finished = self.uploader.as_ref().map(|u| u.finishing(&name));
                    let thread = active.recorder.stop(Box::new(move |result| {
                        // Its last chunk and final manifest (its end time) go up now.
                        drop(finished);
                        complete(&poster, reply, result);
                    }));
                    self.helpers.extend(thread);
                }
                None => reply.send(Err(RecordingError::NotActive(name).into())),
            },
            Request::RecordingSeal {
                name,
                out_name,
                reply,
            } => match self.active.get(&name) {
                Some(active) => {
                    let out = out_name.unwrap_or_else(|| format!("{name}-{}", self.clock.now_ms()));
                    let poster = self.poster.clone();
                    active.recorder.seal(
                        out,
                        Box::new(move |result| complete(&poster, reply, result)),
                    );
                }
                None => reply.send(Err(RecordingError::NotActive(name).into())),
            },
            Request::RecordingsList { reply } => match self.store() {
                Ok(store) => {
                    let store = store.clone();
                    self.job(reply, move || store.list());
                }
                Err(e) => reply.send(Err(e.into())),
            },
            Request::RecordingVerify {
                name,
                anchor,
                reply,
            } => match self.store() {
                Ok(store) => {
                    let store = store.clone();
                    self.job(reply, move || {
                        let folder = store.existing(&name)?;
                        // Chunks retired by a supersession record are reported as such.
                        let records = store.audit().read(None)?.records;
                        crate::recording::verify::verify_anchored(
                            &folder,
                            &name,
                            anchor.as_deref(),
                            &records,
                        )
                    });
                }
                Err(e) => reply.send(Err(e.into())),
            },
            Request::RecordingDelete { name, reply } => {
                self.audit_job(name, None, reply, |store, name, actor, now| {
                    store
                        .delete(name, actor, "storage_recording_delete", now)
                        .map(|_| ())
                })
            }
            Request::RecordingSupersede {
                name,
                retire,
                reply,
            } => self.audit_job(
                name,
                retire.actor.clone(),
                reply,
                move |store, name, actor, now| {
                    store.supersede(
                        name,
                        retire.chunk,
                        retire.replacement.as_deref(),
                        actor,
                        &retire.reason,
                        now,
                    )
                },
            ),
            Request::RecordingErase {
                name,
                actor,
                reason,
                reply,
            } => self.audit_job(name, actor, reply, move |store, name, actor, now| {
                store.erase(name, actor, &reason, now)
            }),
            Request::AuditQuery { query_json, reply } => match self.store() {
                Ok(store) => {
                    let store = store.clone();
                    self.job(reply, move || {
                        let query = AuditQuery::from_json(&query_json)?;
                        audit_query(&store.audit(), &query)
                    });
                }
                Err(e) => reply.send(Err(e.into())),
            },
            Request::ReplayStart {
                name,
                options_json,
                reply,
            } => reply.send(
                self.start_replay(&name, &options_json)
                    .map_err(RequestError::from),
            ),
            Request::ReplayStop { replay_id, reply } => match self.replays.remove(&replay_id) {
                Some(replay) => {
                    self.helpers.extend(replay.cancel());
                    reply.send(Ok(()));
                }
                None => reply.send(Err(RecordingError::NoSuchReplay(replay_id).into())),
            },
            Request::UploadRecording { name, reply } => match &self.uploader {
                Some(uploader) => uploader.upload_now(name, reply),
                None => reply.send(Err(not_configured())),
            },
            Request::UploadStatus { name, reply } => match (&self.uploader, self.store()) {
                (Some(uploader), Ok(store)) => {
                    let (store, keys) = (store.clone(), uploader.keys().clone());
                    let view = uploader.view(&name);
                    let active = self.active.contains_key(&name);
                    self.job(reply, move || {
                        UploadStatus::read(&store, &name, active, &keys, view)
                    });
                }
                _ => reply.send(Err(not_configured())),
            },
            Request::UploadReconcile {
                name,
                restore,
                reply,
            } => match (&self.uploader, self.store()) {
                (Some(_), Ok(_)) if self.active.contains_key(&name) => {
                    reply.send(Err(RecordingError::AlreadyActive(name).into()));
                }
                (Some(uploader), Ok(store)) => {
                    let store = store.clone();
                    let (bucket, keys) = uploader.bucket_and_keys();
                    let now = ns(self.clock.now_ms());
                    self.upload_job(reply, move || match restore {
                        true => restore_recording(&store, &name, &bucket, &keys),
                        false => reconcile_recording(&store, &name, &bucket, &keys, now),
                    });
                }
                _ => reply.send(Err(not_configured())),
            },
            other => return Some(other),
        }
        None
    }

    /// The uploader's queue, if uploads are configured.
    fn upload_queue(&self) -> Option<UploadQueue> {
        self.uploader.as_ref().map(Uploader::queue)
    }

    fn start(&mut self, name: &str, options_json: &str) -> Result<(), RecordingError> {
        let store = self.store()?.clone();
        crate::recording::name::validate_name(name)?;
        if self.active.contains_key(name) {
            return Err(RecordingError::AlreadyActive(name.to_owned()));
        }
        let options = self.config.base_options().with_json(options_json)?;
        let clock = self.clock.clone();
        let now: Now = Arc::new(move || ns(clock.now_ms()));
        let poster = self.poster.clone();
        let queue = self.upload_queue();
        let on_sealed: OnSealed = Arc::new(move |chunk| {
            if let Some(queue) = &queue {
                queue.enqueue(&chunk.recording);
            }
            poster.post_without_waiting(Request::Completion(Box::new(move |sink| {
                if let Some(sink) = sink {
                    sink.deliver(RuntimeEvent::ChunkSealed(chunk));
                }
            })));
        });
        let recorder = Recorder::start_announcing(
            &store,
            name,
            &self.participant,
            options,
            now,
            Some(on_sealed),
        )?;
        if let (Some(uploader), Mode::Continuous) = (&self.uploader, &recorder.options().mode) {
            uploader.writing(name, recorder.mark_handle());
        }
        self.active.insert(
            name.to_owned(),
            Active {
                recorder,
                reported_dropped: 0,
                reported_at_ms: 0,
                failure_reported: false,
            },
        );
        self.refresh_record_sent();
        Ok(())
    }

    fn refresh_record_sent(&mut self) {
        self.any_record_sent = self
            .active
            .values()
            .any(|a| a.recorder.options().record_sent);
    }

    fn start_replay(&mut self, name: &str, options_json: &str) -> Result<u64, RecordingError> {
        let folder = self.store()?.existing(name)?;
        let options = ReplayOptions::from_json(options_json)?;
        self.replays.retain(|_, r| !r.is_finished());
        let id = self.next_replay_id;
        let replay = Replay::start(id, folder, options, self.clock.clone(), self.poster.clone())?;
        self.next_replay_id += 1;
        self.replays.insert(id, replay);
        Ok(id)
    }

    /// Runs `work`, a change of recording `name` the audit log records, on a helper
    /// thread (refused while the recording is being written): `work` gets the store, the
    /// name, the actor (`actor`, or the participant id) and the time (Unix ns).
    fn audit_job<T: Send + 'static>(
        &mut self,
        name: String,
        actor: Option<String>,
        reply: Reply<T>,
        work: impl FnOnce(&Store, &str, &str, u64) -> Result<T, RecordingError> + Send + 'static,
    ) {
        match self.store() {
            Ok(_) if self.active.contains_key(&name) => {
                reply.send(Err(RecordingError::AlreadyActive(name).into()));
            }
            Ok(store) => {
                let store = store.clone();
                let actor = actor.unwrap_or_else(|| self.participant.clone());
                let now = ns(self.clock.now_ms());
                self.job(reply, move || work(&store, &name, &actor, now));
            }
            Err(e) => reply.send(Err(e.into())),
        }
    }

    /// Runs `work` on a helper thread; its result answers `reply` on the worker.
    fn job<T: Send + 'static>(
        &mut self,
        reply: Reply<T>,
        work: impl FnOnce() -> Result<T, RecordingError> + Send + 'static,
    ) {
        self.upload_job(reply, move || work().map_err(RequestError::from));
    }

    /// [`Recordings::job`] for work that fails with any request error (an upload's).
    fn upload_job<T: Send + 'static, E: Into<RequestError> + 'static>(
        &mut self,
        reply: Reply<T>,
        work: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) {
        let poster = self.poster.clone();
        let spawned = std::thread::Builder::new()
            .name("storage-recording-job".into())
            .spawn(move || complete(&poster, reply, work().map_err(Into::into)));
        match spawned {
            Ok(thread) => self.helpers.push(thread),
            // The closure (and the reply inside it) was dropped with the failed spawn; the
            // reply's own drop guard reports the loss to the host.
            Err(e) => log::error!("cannot start a recording job thread: {e}"),
        }
        self.helpers.retain(|t| !t.is_finished());
    }

    /// After a restart of the worker: every active recording seals what it wrote so far
    /// (its open chunk) and carries on into a new chunk; the worker's own bookkeeping of
    /// them is rebuilt. Returns the names of the recordings reopened, sorted.
    pub(crate) fn reopen(&mut self) -> Vec<String> {
        let mut reopened: Vec<String> = self
            .active
            .iter()
            .filter(|(_, active)| active.recorder.reseal())
            .map(|(name, _)| name.clone())
            .collect();
        reopened.sort();
        self.refresh_record_sent();
        reopened
    }

    /// Stops every recorder (sealing its files) and cancels every replay. The worker then
    /// drains its queue until [`Recordings::helpers_done`].
    pub(crate) fn shutdown(&mut self) {
        if let Some(uploader) = self.uploader.take() {
            self.helpers.extend(uploader.stop());
        }
        for (_, active) in self.active.drain() {
            self.helpers.extend(active.recorder.stop(Box::new(|_| {})));
        }
        for (_, replay) in self.replays.drain() {
            self.helpers.extend(replay.cancel());
        }
    }

    /// Whether every helper thread has ended (joining those that have).
    pub(crate) fn helpers_done(&mut self) -> bool {
        self.helpers.retain(|t| !t.is_finished());
        self.helpers.is_empty()
    }
}

/// The error of an upload request on a context without an `upload` section.
fn not_configured() -> RequestError {
    UploadError::new(
        FailureClass::Pause,
        "uploads are not configured: the context has no `upload` section",
    )
    .into()
}

/// Posts `result` back to the worker, which answers `reply` with it (or with
/// `ShuttingDown` if the context is closing).
fn complete<T: Send + 'static, E: Into<RequestError> + Send + 'static>(
    poster: &Poster,
    reply: Reply<T>,
    result: Result<T, E>,
) {
    poster.post_without_waiting(Request::Completion(Box::new(move |sink| match sink {
        Some(_) => reply.send(result.map_err(Into::into)),
        None => reply.send(Err(RequestError::ShuttingDown)),
    })));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::clock::ManualClock;
    use crossbeam_channel::bounded;
    use tokio::sync::Notify;

    fn root(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("rtrec-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("root");
        dir
    }

    #[test]
    fn drops_and_failures_are_reported_once_and_rate_limited() {
        let dir = root("report");
        let (requests, _queue) = bounded(16);
        let poster = Poster {
            requests,
            lane: Default::default(),
            wake: Arc::new(Notify::new()),
        };
        let config = RecordingConfig {
            root: Some(dir.display().to_string()),
            ..RecordingConfig::default()
        };
        let clock = Arc::new(ManualClock::new(1_000));
        let mut recordings = Recordings::new(config, None, "p".into(), clock, poster);
        recordings.start("r", "").expect("start");
        let mut sink = Vec::new();
        sink.extend(recordings.report(1_000));
        assert!(sink.is_empty());

        let stats = recordings.active["r"].recorder.stats().clone();
        stats.dropped.fetch_add(3, Ordering::Relaxed);
        sink.extend(recordings.report(1_000));
        stats.dropped.fetch_add(2, Ordering::Relaxed);
        sink.extend(recordings.report(1_500)); // within the interval: not reported
        sink.extend(recordings.report(2_000));
        let dropped: Vec<u64> = sink
            .iter()
            .filter_map(|e| match e {
                RuntimeEvent::RecordingDropped { dropped, .. } => Some(*dropped),
                _ => None,
            })
            .collect();
        assert_eq!(dropped, [3, 5]);

        *stats.failure.lock().expect("lock") = Some(RecordingError::RecorderFailed("disk".into()));
        sink.extend(recordings.report(3_000));
        sink.extend(recordings.report(4_000));
        let failures = sink
            .iter()
            .filter(|e| matches!(e, RuntimeEvent::RecordingFailed { name, .. } if name == "r"))
            .count();
        assert_eq!(failures, 1);
        recordings.shutdown();
        while !recordings.helpers_done() {
            std::thread::yield_now();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
