//! What host threads ask of a context's worker, and how answers come back.

use std::sync::{Arc, Mutex};

use thiserror::Error;

use crate::persistence::durable::OpError;
use crate::protocol::event::Event;
use crate::protocol::manager::{ChannelStats, RetrievalHintProvider, Unwrapped};
use crate::protocol::message::SdsMessage;
use crate::recording::audit::{AuditReading, AuditRecord};
use crate::recording::manifest::Manifest;
use crate::recording::recorder::{RecorderSummary, SealedChunk};
use crate::recording::recovery::RecoveryAction;
use crate::recording::store::ListedRecording;
use crate::recording::upload::{ReconcileReport, UploadError, UploadReport};
use crate::recording::verify::VerifyReport;
use crate::recording::RecordingError;
use crate::runtime::uploader::{UploadProgress, UploadStatus};

/// Receives a request's outcome, once, on the worker thread. Built around the host's
/// answer when the request is made, so that whoever holds the request (the worker after a
/// panic, a shutdown) can also answer it through a fuse: whichever answers first
/// wins, the other does nothing.
pub struct Reply<T>(Arc<Mutex<Option<Answer<T>>>>);

/// The host's side of a [`Reply`].
type Answer<T> = Box<dyn FnOnce(Result<T, RequestError>) + Send>;

impl<T: 'static> Reply<T> {
    /// A reply that hands the outcome to `answer`.
    pub fn new(answer: impl FnOnce(Result<T, RequestError>) + Send + 'static) -> Self {
        Self(Arc::new(Mutex::new(Some(Box::new(answer)))))
    }

    /// Answers with `result`, unless a fuse answered already.
    pub fn send(self, result: Result<T, RequestError>) {
        if let Some(answer) = take(&self.0) {
            answer(result);
        }
    }

    /// Fails the request with an error, unless it was answered already.
    pub(crate) fn fuse(&self) -> Fuse {
        let slot = self.0.clone();
        Box::new(move |error| {
            if let Some(answer) = take(&slot) {
                answer(Err(error));
            }
        })
    }
}

/// The answer in `slot`, if nobody took it yet (a panic while it was held leaves it).
fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Why a request did not succeed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The operation failed.
    #[error(transparent)]
    Op(#[from] OpError),
    /// A recording operation failed.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// An upload, reconcile or restore failed (or uploads are not configured).
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// The context was freed before the request ran.
    #[error("the context was freed before the request ran")]
    ShuttingDown,
    /// The worker panicked while running the request (or before the commit that would
    /// have saved it); it restarted from the persisted state, or stopped if its restart
    /// budget was spent.
    #[error("internal error: {0}")]
    Panic(String),
    /// The worker stopped after a panic because its restart budget was spent: the
    /// request was not run.
    #[error("the context failed: {0}")]
    WorkerStopped(String),
}

/// Fails a request through its [`Reply`], unless it was answered already.
pub(crate) type Fuse = Box<dyn FnOnce(RequestError) + Send>;

/// Work finished on another thread (a recorder, a replay, a file job), run on the worker
/// so the host hears of it there. Called with the sink, or with `None` when the context
/// is shutting down (the closure then answers its request with
/// [`RequestError::ShuttingDown`]).
pub type Completion = Box<dyn FnOnce(Option<&mut dyn EventSink>) + Send>;

/// What a supersession asks for, besides the recording's name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retirement {
    /// One chunk only (by index), or the whole recording.
    pub chunk: Option<u64>,
    /// The recording that replaces it, if any (it must exist).
    pub replacement: Option<String>,
    /// Who (`None`: the participant id).
    pub actor: Option<String>,
    /// Why.
    pub reason: String,
}

/// A request for the worker. Every variant with a reply gets exactly one answer.
pub enum Request {
    /// Wrap content for sending.
    Wrap {
        /// Channel.
        channel_id: String,
        /// Message id.
        message_id: String,
        /// Content.
        content: Vec<u8>,
        /// Receives the wire bytes.
        reply: Reply<Vec<u8>>,
    },
    /// Wrap an ephemeral message.
    WrapEphemeral {
        /// Channel.
        channel_id: String,
        /// Message id.
        message_id: String,
        /// Content.
        content: Vec<u8>,
        /// Receives the wire bytes.
        reply: Reply<Vec<u8>>,
    },
    /// Build a sync message.
    BuildSyncMessage {
        /// Channel.
        channel_id: String,
        /// Receives the wire bytes.
        reply: Reply<Vec<u8>>,
    },
    /// Process received bytes.
    Unwrap {
        /// The wire bytes.
        bytes: Vec<u8>,
        /// Receives the outcome.
        reply: Reply<Unwrapped>,
    },
    /// Declare dependencies present.
    MarkDependenciesMet {
        /// Channel.
        channel_id: String,
        /// The ids.
        message_ids: Vec<String>,
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Load or create a channel.
    EnsureChannel {
        /// Channel.
        channel_id: String,
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Delete a channel.
    RemoveChannel {
        /// Channel.
        channel_id: String,
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Delete every channel.
    Reset {
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Start the periodic sweeps and sync timer (again: harmless).
    StartPeriodicTasks {
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Read a channel's statistics.
    ChannelStats {
        /// Channel.
        channel_id: String,
        /// Receives the statistics (a channel stored by an earlier run is loaded first,
        /// as by any request), `None` for a channel neither in use nor stored.
        reply: Reply<Option<ChannelStats>>,
    },
    /// Install or remove the retrieval-hint provider.
    SetRetrievalHintProvider {
        /// The provider, called on the worker thread.
        provider: Option<Box<dyn RetrievalHintProvider>>,
    },
    /// Start recording into a new recording folder (or a ring buffer).
    RecordingStart {
        /// Recording name.
        name: String,
        /// Options JSON (may be empty).
        options_json: String,
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Stop an active recording: seal, write the final manifest.
    RecordingStop {
        /// Recording name.
        name: String,
        /// Receives the summary.
        reply: Reply<RecorderSummary>,
    },
    /// Write a ring buffer's current window as recording `out_name`.
    RecordingSeal {
        /// The ring recording.
        name: String,
        /// The recording to create; `None`: `{name}-{unix ms}`.
        out_name: Option<String>,
        /// Receives the new recording's manifest.
        reply: Reply<Manifest>,
    },
    /// List the recordings under the root.
    RecordingsList {
        /// Receives the list.
        reply: Reply<Vec<ListedRecording>>,
    },
    /// Check a recording's integrity.
    RecordingVerify {
        /// Recording name.
        name: String,
        /// A chain head the host anchored elsewhere, to check the chain against.
        anchor: Option<String>,
        /// Receives the report.
        reply: Reply<VerifyReport>,
    },
    /// Delete a recording that is not being written.
    RecordingDelete {
        /// Recording name.
        name: String,
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Retire a recording (or one of its chunks) with a supersession record in the audit
    /// log; its files are kept.
    RecordingSupersede {
        /// Recording name.
        name: String,
        /// What is asked: chunk, replacement, actor, reason.
        retire: Retirement,
        /// Receives the audit record appended.
        reply: Reply<AuditRecord>,
    },
    /// Delete a superseded recording's files, recording the erasure in the audit log.
    RecordingErase {
        /// Recording name.
        name: String,
        /// Who (`None`: the participant id).
        actor: Option<String>,
        /// Why.
        reason: String,
        /// Receives the audit record appended.
        reply: Reply<AuditRecord>,
    },
    /// Read the audit log: the records a query selects, and the verdict on the log.
    AuditQuery {
        /// The query document (empty: every record).
        query_json: String,
        /// Receives the records and the verdict.
        reply: Reply<AuditReading>,
    },
    /// Replay a recording as `replay_message` events.
    ReplayStart {
        /// Recording name.
        name: String,
        /// Options JSON (may be empty).
        options_json: String,
        /// Receives the replay id.
        reply: Reply<u64>,
    },
    /// Cancel a replay.
    ReplayStop {
        /// The id `ReplayStart` answered with.
        replay_id: u64,
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Upload a recording now (the `upload` section's bucket), trying again what the
    /// background uploader gave up on.
    UploadRecording {
        /// Recording name.
        name: String,
        /// Receives the report of the pass.
        reply: Reply<UploadReport>,
    },
    /// Report a recording's upload state.
    UploadStatus {
        /// Recording name.
        name: String,
        /// Receives the state.
        reply: Reply<UploadStatus>,
    },
    /// Reconcile a recording with the bucket (`restore`: rebuild a recording this
    /// machine lacks from the bucket alone).
    UploadReconcile {
        /// Recording name.
        name: String,
        /// Restore instead: the recording must not exist here.
        restore: bool,
        /// Receives one row per chunk.
        reply: Reply<ReconcileReport>,
    },
    /// Internal: see [`Completion`].
    Completion(Completion),
    /// Answer once every request queued before it has run.
    Ping {
        /// Receives `Ok(())`.
        reply: Reply<()>,
    },
    /// Re-read the clock and run whatever timers are due.
    Tick,
    /// Stop: fail everything still queued, then exit.
    Shutdown,
}

impl Request {
    /// A fuse that fails the request (if running it panics, say), never a second time.
    /// `None` for requests without a reply of their own.
    pub(crate) fn fuse(&self) -> Option<Fuse> {
        Some(match self {
            Request::Wrap { reply, .. }
            | Request::WrapEphemeral { reply, .. }
            | Request::BuildSyncMessage { reply, .. } => reply.fuse(),
            Request::Unwrap { reply, .. } => reply.fuse(),
            Request::MarkDependenciesMet { reply, .. }
            | Request::EnsureChannel { reply, .. }
            | Request::RemoveChannel { reply, .. }
            | Request::Reset { reply }
            | Request::Ping { reply }
            | Request::StartPeriodicTasks { reply }
            | Request::RecordingStart { reply, .. }
            | Request::RecordingDelete { reply, .. }
            | Request::ReplayStop { reply, .. } => reply.fuse(),
            Request::ChannelStats { reply, .. } => reply.fuse(),
            Request::RecordingStop { reply, .. } => reply.fuse(),
            Request::RecordingSeal { reply, .. } => reply.fuse(),
            Request::RecordingsList { reply } => reply.fuse(),
            Request::RecordingVerify { reply, .. } => reply.fuse(),
            Request::RecordingSupersede { reply, .. } | Request::RecordingErase { reply, .. } => {
                reply.fuse()
            }
            Request::AuditQuery { reply, .. } => reply.fuse(),
            Request::ReplayStart { reply, .. } => reply.fuse(),
            Request::UploadRecording { reply, .. } => reply.fuse(),
            Request::UploadStatus { reply, .. } => reply.fuse(),
            Request::UploadReconcile { reply, .. } => reply.fuse(),
            Request::SetRetrievalHintProvider { .. }
            | Request::Completion(_)
            | Request::Tick
            | Request::Shutdown => return None,
        })
    }

    /// What the request is, for messages (`"wrap"`, `"unwrap"`, ...).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Request::Wrap { .. } => "wrap",
            Request::WrapEphemeral { .. } => "wrap_ephemeral",
            Request::BuildSyncMessage { .. } => "build_sync_message",
            Request::Unwrap { .. } => "unwrap",
            Request::MarkDependenciesMet { .. } => "mark_dependencies_met",
            Request::EnsureChannel { .. } => "ensure_channel",
            Request::RemoveChannel { .. } => "remove_channel",
            Request::Reset { .. } => "reset",
            Request::StartPeriodicTasks { .. } => "start_periodic_tasks",
            Request::ChannelStats { .. } => "channel_stats",
            Request::SetRetrievalHintProvider { .. } => "set_retrieval_hint_provider",
            Request::RecordingStart { .. } => "recording_start",
            Request::RecordingStop { .. } => "recording_stop",
            Request::RecordingSeal { .. } => "recording_seal",
            Request::RecordingsList { .. } => "recordings_list",
            Request::RecordingVerify { .. } => "recording_verify",
            Request::RecordingDelete { .. } => "recording_delete",
            Request::RecordingSupersede { .. } => "recording_supersede",
            Request::RecordingErase { .. } => "recording_erase",
            Request::AuditQuery { .. } => "audit_query",
            Request::ReplayStart { .. } => "replay_start",
            Request::ReplayStop { .. } => "replay_stop",
            Request::UploadRecording { .. } => "upload_recording",
            Request::UploadStatus { .. } => "upload_status",
            Request::UploadReconcile { restore: false, .. } => "upload_reconcile",
            Request::UploadReconcile { restore: true, .. } => "upload_restore",
            Request::Completion(_) => "completion",
            Request::Ping { .. } => "ping",
            Request::Tick => "tick",
            Request::Shutdown => "shutdown",
        }
    }

    /// Bytes of message data the request carries while it waits in the queue.
    pub fn payload_bytes(&self) -> usize {
        match self {
            Request::Wrap {
                channel_id,
                message_id,
                content,
                ..
            }
            | Request::WrapEphemeral {
                channel_id,
                message_id,
                content,
                ..
            } => channel_id.len() + message_id.len() + content.len(),
            Request::Unwrap { bytes, .. } => bytes.len(),
            Request::MarkDependenciesMet {
                channel_id,
                message_ids,
                ..
            } => channel_id.len() + message_ids.iter().map(|id| id.len() + 24).sum::<usize>(),
            _ => 0,
        }
    }

    /// Answers the request with `error` without running it.
    pub fn fail(self, error: RequestError) {
        match self {
            Request::Completion(complete) => complete(None),
            other => {
                if let Some(fuse) = other.fuse() {
                    fuse(error);
                }
            }
        }
    }
}

/// Something the worker tells the host, besides request outcomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeEvent {
    /// A protocol event.
    Protocol(Event),
    /// The sync timer fired (once per tick, before the per-channel `PeriodicSync` events).
    SyncTick,
    /// A save failed; the operation still succeeded (see the persistence contract).
    PersistenceWarning {
        /// The channel whose state was being saved.
        channel_id: String,
        /// The backend's message.
        message: String,
    },
    /// A recorder dropped messages (queue full under the drop policy, or after a failure).
    RecordingDropped {
        /// Recording name.
        name: String,
        /// Messages dropped so far.
        dropped: u64,
    },
    /// A recorder stopped writing after an error (disk full, folder gone).
    RecordingFailed {
        /// Recording name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// A recorder sealed a chunk: the chain's head moved.
    ChunkSealed(SealedChunk),
    /// Crash recovery acted on a file left by an earlier run (reported once per file,
    /// when the context starts).
    RecordingRecovered(RecoveryAction),
    /// The recording `recording.autostart` asks for started, under this generated name.
    RecordingStarted {
        /// Recording name (`{autostart name}-{unix ms}`).
        name: String,
    },
    /// A replayed message.
    ReplayMessage {
        /// The replay.
        replay_id: u64,
        /// Channel it is replayed on (after remapping).
        channel_id: String,
        /// The recorded message.
        message: SdsMessage,
        /// Its recorded log time (Unix ns).
        log_time_ns: u64,
    },
    /// The worker panicked and restarted under its restart policy: in-memory state was
    /// dropped and rebuilt from persistence, recordings reopened.
    WorkerRestarted {
        /// What panicked, and the panic's message.
        reason: String,
        /// Restarts in the life of the context, this one included.
        restart_count: u64,
        /// Requests failed with the panic: the one that panicked and those whose
        /// changes were not yet committed with it.
        failed_requests: u64,
        /// The backend keeps nothing (`none` persistence): the state is lost.
        state_lost: bool,
        /// Channels reloaded from persistence, sorted.
        channels_reloaded: Vec<String>,
        /// Channels in memory before the panic that could not be reloaded (all of them
        /// when the state is lost), sorted.
        channels_lost: Vec<String>,
        /// Recordings that were being made and were sealed and reopened, sorted.
        recordings_reopened: Vec<String>,
    },
    /// The uploader's progress: after each chunk and each pass over a recording.
    UploadProgress(UploadProgress),
    /// A chunk is in the bucket (sent now, or found there and marked).
    ChunkUploaded {
        /// The recording.
        recording: String,
        /// The chunk's index.
        index: u64,
        /// Its object key.
        key: String,
        /// Bytes sent for it (0 when it was found there).
        bytes_sent: u64,
    },
    /// The uploader gave up on a chunk: it is on the dead-letter list (its manifest
    /// entry says so) until its recording's upload is asked for by name.
    ChunkDeadLettered {
        /// The recording.
        recording: String,
        /// The chunk's index.
        index: u64,
        /// Why (never a credential).
        reason: String,
    },
    /// The upload queue stopped until the bucket or the credentials are fixed; it
    /// keeps trying at the backoff's pace.
    UploadPaused {
        /// What the bucket said.
        reason: String,
    },
    /// The upload queue runs again after a pause.
    UploadResumed,
    /// A replay ended: all messages replayed, cancelled, or failed.
    ReplayFinished {
        /// The replay.
        replay_id: u64,
        /// Messages replayed.
        messages: u64,
        /// Stopped by `storage_replay_stop` (or the context's end).
        cancelled: bool,
        /// Why it failed, if it did.
        error: Option<String>,
    },
}

/// Receives events on the worker thread.
pub trait EventSink: Send {
    /// Handles one event. Must not block for long: the worker waits for it.
    fn deliver(&mut self, event: RuntimeEvent);
}
