//! The background uploader of a context (its `upload` section): sealed chunks go up to
//! the bucket while recording goes on, on threads of their own, so neither the worker
//! nor a recorder ever waits on the network.
//!
//! The queue holds recording names, not chunks: a seal queues its recording, and a pass
//! over a recording sends every chunk its manifest lists as not yet uploaded, in index
//! order, then the manifest once (coalesced: one manifest per pass, not one per chunk).
//! Memory is bounded by the number of recordings, whatever the backlog. At most
//! `concurrency` passes run at once, each with at most one multipart part in memory.
//!
//! Failures share one [`Backoff`]: a retryable one closes the gate for a doubling wait,
//! any success opens it. A failure that pauses (bad credentials, missing bucket) pauses
//! the whole queue, which keeps trying at the backoff's pace and resumes on the first
//! success. A chunk that keeps failing past `dead_letter_after_ms`, that the bucket
//! refuses for its content, or whose file is corrupt, is dead-lettered: marked so in its
//! manifest entry (persisted, skipped by later passes and restarts) until an upload of
//! its recording is asked for by name.
//!
//! Marks go where the manifest's owner is: to the recorder thread while the recording
//! is being written (its writer owns the manifest), else into the manifest under the
//! recording's folder lock.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use indexmap::IndexMap;

use super::clock::Clock;
use super::poster::Poster;
use super::request::{Reply, Request, RequestError, RuntimeEvent};
use crate::recording::manifest::{ChunkEntry, DeadLetter, Manifest, UploadMark};
use crate::recording::recorder::MarkHandle;
use crate::recording::store::{Store, CHUNKS_DIR};
use crate::recording::upload::{
    send_chunk, upload_manifest, Backoff, ChunkAction, ChunkFault, ChunkUpload, FailureClass,
    ManifestAction, ObjectKeys, RetryPolicy, S3Bucket, UploadError, UploadOptions, UploadReport,
};
use crate::recording::RecordingError;

/// Longest a waiting upload thread sleeps before it looks at the clock again: an
/// injected clock moved forward is noticed this soon.
const CLOCK_POLL: Duration = Duration::from_millis(200);

/// Upload progress of a context's uploader, as the `upload_progress` event reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploadProgress {
    /// Bytes sent since the context started.
    pub bytes_sent: u64,
    /// Chunks put in the bucket (or found there) since the context started.
    pub chunks_done: u64,
    /// Chunks known to await upload, over every recording the uploader looked at.
    pub chunks_pending: u64,
}

/// What the uploader says of one recording, for `storage_upload_status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueView {
    /// A pass over the recording is waiting.
    pub queued: bool,
    /// A pass over the recording is running.
    pub uploading: bool,
    /// Why the whole queue is paused, if it is.
    pub paused: Option<String>,
    /// When the queue tries again after failures (Unix ms), if it waits.
    pub retry_at_ms: Option<u64>,
}

/// A pass waiting to run, and who waits for its report.
#[derive(Default)]
struct Queued {
    /// Asked for by name: runs even while the gate is closed or the queue paused, and
    /// tries dead-lettered chunks again.
    forced: bool,
    waiters: Vec<Reply<UploadReport>>,
}

/// The queue, under one lock.
struct QueueState {
    queued: IndexMap<String, Queued>,
    busy: HashSet<String>,
    backoff: Backoff,
    paused: Option<String>,
    /// When each failing chunk (recording, index) first failed, Unix ms.
    failing_since: HashMap<(String, u64), u64>,
    /// Chunks awaiting upload per recording, as its last pass saw them.
    pending: HashMap<String, u64>,
    progress: UploadProgress,
    /// Recordings whose recorder is stopping: it holds their folder's lock and writes
    /// their final manifest, so their passes wait until it is done.
    finishing: HashSet<String>,
    stopping: bool,
}

/// What the upload threads share.
struct Shared {
    state: Mutex<QueueState>,
    changed: Condvar,
    bucket: Arc<S3Bucket>,
    keys: ObjectKeys,
    store: Store,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    poster: Poster,
    /// Recordings being written here, by name: their marks go to the recorder.
    writers: Mutex<HashMap<String, MarkHandle>>,
}

/// Queues passes of a context's uploader; cheap to clone, never waits on the network.
#[derive(Clone)]
pub(crate) struct UploadQueue(Arc<Shared>);

impl UploadQueue {
    /// Queues a pass over `recording` (a chunk of it was just sealed).
    pub(crate) fn enqueue(&self, recording: &str) {
        self.0.queue(recording, None);
    }
}

/// A recording whose recorder is stopping (see [`Uploader::finishing`]). Dropped when
/// the stop is answered (or its answer is dropped unrun): the recording's passes may run
/// again, and one is queued for its last chunk and final manifest.
pub(crate) struct FinishGuard {
    shared: Arc<Shared>,
    recording: String,
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.shared.lock().finishing.remove(&self.recording);
        self.shared.queue(&self.recording, None);
    }
}

/// A context's background uploader.
pub(crate) struct Uploader {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Uploader {
    /// Starts the uploader `options` describe for recordings of `store`, keyed under
    /// `participant` unless `options.origin` says otherwise. Every recording with a chunk
    /// not yet uploaded (or whose manifest may not be up) is queued at once.
    pub(crate) fn start(
        options: &UploadOptions,
        store: Store,
        participant: &str,
        clock: Arc<dyn Clock>,
        poster: Poster,
    ) -> Result<Self, UploadError> {
        let policy = options.retry_policy()?;
        let env = |name: &str| std::env::var(name).ok();
        let bucket = S3Bucket::new(options, &env)?;
        let origin = options.origin.as_deref().unwrap_or(participant);
        let keys = ObjectKeys::new(options.prefix.as_deref(), origin)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(QueueState {
                queued: IndexMap::new(),
                busy: HashSet::new(),
                backoff: Backoff::new(&policy),
                paused: None,
                failing_since: HashMap::new(),
                pending: HashMap::new(),
                progress: UploadProgress::default(),
                finishing: HashSet::new(),
                stopping: false,
            }),
            changed: Condvar::new(),
            bucket: Arc::new(bucket),
            keys,
            store,
            policy,
            clock,
            poster,
            writers: Mutex::new(HashMap::new()),
        });
        let mut uploader = Self {
            shared: shared.clone(),
            threads: Vec::new(),
        };
        for number in 0..policy.concurrency {
            let shared = shared.clone();
            let thread = std::thread::Builder::new()
                .name("storage-uploader".into())
                .spawn(move || {
                    // The first thread finds what earlier runs left unsent.
                    if number == 0 {
                        shared.requeue_unfinished();
                    }
                    shared.run();
                })
                .map_err(|e| {
                    UploadError::new(
                        FailureClass::Pause,
                        format!("cannot start an upload thread: {e}"),
                    )
                })?;
            uploader.threads.push(thread);
        }
        Ok(uploader)
    }

    /// A handle that queues passes, for the recorder threads' seal announcements.
    pub(crate) fn queue(&self) -> UploadQueue {
        UploadQueue(self.shared.clone())
    }

    /// Queues a forced pass over `recording` and answers `reply` with its report.
    pub(crate) fn upload_now(&self, recording: String, reply: Reply<UploadReport>) {
        self.shared.queue(&recording, Some(reply));
    }

    /// What the queue says of `recording`.
    pub(crate) fn view(&self, recording: &str) -> QueueView {
        let state = self.shared.lock();
        QueueView {
            queued: state.queued.contains_key(recording),
            uploading: state.busy.contains(recording),
            paused: state.paused.clone(),
            retry_at_ms: Some(state.backoff.retry_at_ms()).filter(|&at| at > 0),
        }
    }

    /// The object keys recordings go up under.
    pub(crate) fn keys(&self) -> &ObjectKeys {
        &self.shared.keys
    }

    /// The bucket and the keys, for a reconcile or a restore on a helper thread.
    pub(crate) fn bucket_and_keys(&self) -> (Arc<S3Bucket>, ObjectKeys) {
        (self.shared.bucket.clone(), self.shared.keys.clone())
    }

    /// Routes the marks of recording `name`, being written here, to its recorder.
    pub(crate) fn writing(&self, name: &str, handle: MarkHandle) {
        self.shared
            .writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), handle);
    }

    /// The recorder of `name` is stopping: its marks are no longer sent to it, and its
    /// passes wait until the returned guard is dropped, once the stop is answered (the
    /// recorder holds the folder's lock meanwhile; afterwards the manifest is marked
    /// under that lock).
    pub(crate) fn finishing(&self, name: &str) -> FinishGuard {
        self.shared.lock().finishing.insert(name.to_owned());
        self.shared
            .writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        FinishGuard {
            shared: self.shared.clone(),
            recording: name.to_owned(),
        }
    }

    /// Stops the uploader: running passes end after their current request (a chunk
    /// going up in parts before its next part); queued passes are answered with
    /// `ShuttingDown`. Returns the threads to join.
    pub(crate) fn stop(self) -> Vec<JoinHandle<()>> {
        let waiters: Vec<Reply<UploadReport>> = {
            let mut state = self.shared.lock();
            state.stopping = true;
            self.shared.bucket.stop_flag().store(true, Ordering::SeqCst);
            state
                .queued
                .drain(..)
                .flat_map(|(_, queued)| queued.waiters)
                .collect()
        };
        self.shared.changed.notify_all();
        for reply in waiters {
            self.shared.answer(reply, Err(RequestError::ShuttingDown));
        }
        self.threads
    }
}

/// How a pass over one recording ended.
enum PassEnd {
    /// Every chunk was looked at.
    Done,
    /// Stopped early: the queue waits (backoff or pause), or the uploader stops; the
    /// recording is queued again unless stopping.
    Interrupted,
}

impl Shared {
    /// Queues every recording under the root that may have something to send: a chunk
    /// neither uploaded nor dead-lettered, or all chunks up (its manifest is then checked
    /// with one HEAD). Run once, as the first upload thread starts.
    fn requeue_unfinished(&self) {
        let listed = match self.store.folders() {
            Ok(listed) => listed,
            Err(e) => {
                log::warn!("uploader: cannot list the recordings to resume: {e}");
                return;
            }
        };
        for recording in listed {
            let Some(manifest) = recording.manifest else {
                continue;
            };
            let waiting = manifest.chunks.iter().any(ChunkEntry::awaits_upload);
            let all_up = manifest.chunks.iter().all(|c| c.uploaded_at_ns.is_some());
            if !manifest.chunks.is_empty() && (waiting || all_up) {
                self.queue(&recording.name, None);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn queue(&self, recording: &str, reply: Option<Reply<UploadReport>>) {
        let mut state = self.lock();
        if state.stopping {
            drop(state);
            if let Some(reply) = reply {
                self.answer(reply, Err(RequestError::ShuttingDown));
            }
            return;
        }
        let queued = state.queued.entry(recording.to_owned()).or_default();
        if let Some(reply) = reply {
            queued.forced = true;
            queued.waiters.push(reply);
        }
        drop(state);
        self.changed.notify_one();
    }

    /// An upload thread: takes passes until the uploader stops.
    fn run(self: Arc<Self>) {
        while let Some((name, queued)) = self.take() {
            let (report, end) = self.pass(&name, queued.forced);
            let mut state = self.lock();
            state.busy.remove(&name);
            if matches!(end, PassEnd::Interrupted) && !state.stopping {
                state.queued.entry(name.clone()).or_default();
            }
            drop(state);
            self.changed.notify_all();
            for reply in queued.waiters {
                self.answer(reply, report.clone());
            }
        }
    }

    /// The next pass to run, waiting for one (and for the gate to open, unless it is
    /// forced); `None` once stopping.
    fn take(&self) -> Option<(String, Queued)> {
        let mut state = self.lock();
        loop {
            if state.stopping {
                return None;
            }
            let open = state.backoff.is_open(self.now_ms());
            let runnable =
                |name: &String| !state.busy.contains(name) && !state.finishing.contains(name);
            let next = state
                .queued
                .iter()
                .position(|(name, q)| runnable(name) && (open || q.forced));
            if let Some(at) = next {
                let (name, queued) = state.queued.shift_remove_index(at)?;
                state.busy.insert(name.clone());
                return Some((name, queued));
            }
            // Nothing to run now. A closed gate opens by the clock, which may be a test's:
            // look at it again soon. Otherwise only news (a queued pass, a pass ended, a
            // stop) changes anything.
            let gated = !open && state.queued.keys().any(runnable);
            state = if gated {
                let left = state.backoff.retry_at_ms().saturating_sub(self.now_ms());
                let wait = Duration::from_millis(left.max(1)).min(CLOCK_POLL);
                self.changed
                    .wait_timeout(state, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            } else {
                self.changed.wait(state).unwrap_or_else(|p| p.into_inner())
            };
        }
    }

    /// One pass over recording `name`: its unsent chunks in index order, then its
    /// manifest if every chunk is up.
    fn pass(&self, name: &str, forced: bool) -> (Result<UploadReport, RequestError>, PassEnd) {
        let read = self
            .store
            .existing(name)
            .and_then(|folder| Manifest::read(&folder).map(|m| (folder, m)));
        let (folder, mut manifest) = match read {
            Ok(found) => found,
            Err(e) => {
                log::warn!("uploader: recording `{name}` skipped: {e}");
                self.lock().pending.remove(name);
                return (Err(e.into()), PassEnd::Done);
            }
        };
        manifest.chunks.sort_by_key(|c| c.index);
        let chunks_dir = folder.join(CHUNKS_DIR);
        let mut rows = Vec::with_capacity(manifest.chunks.len());
        let mut end = PassEnd::Done;
        self.note_pending(name, &manifest, forced);
        for entry in &manifest.chunks {
            let key = self.keys.chunk(name, entry).unwrap_or_default();
            if entry.uploaded_at_ns.is_some() {
                rows.push(row(entry, key, ChunkAction::AlreadyUploaded, 0, None));
                continue;
            }
            if let (Some(letter), false) = (&entry.upload_dead_letter, forced) {
                let why = Some(letter.reason.clone());
                rows.push(row(entry, key, ChunkAction::DeadLettered, 0, why));
                continue;
            }
            if self.lock().stopping {
                end = PassEnd::Interrupted;
                break;
            }
            let outcome = if key.is_empty() {
                Err(ChunkFault::Corrupt("no SHA-256 in its entry".into()))
            } else {
                send_chunk(&self.bucket, &key, &chunks_dir.join(&entry.file), entry)
            };
            match outcome {
                Ok(sent) => {
                    if !self.mark(name, entry, sent.mark(self.now_ns())) {
                        // The manifest is locked: by its recorder stopping (the pass runs
                        // again once it is done), else by someone else (an operator's
                        // tool): wait. The next pass finds the object there and marks it.
                        if !self.lock().finishing.contains(name) {
                            let why = format!("cannot mark recording `{name}` now");
                            self.held_up(&UploadError::new(FailureClass::Retryable, why));
                        }
                        end = PassEnd::Interrupted;
                        break;
                    }
                    self.succeeded(name, entry, &key, sent.bytes);
                    rows.push(row(entry, key, sent.action, sent.bytes, None));
                }
                Err(ChunkFault::Corrupt(why)) => {
                    self.dead_letter(name, entry, format!("the local file is corrupt: {why}"));
                    rows.push(row(entry, key, ChunkAction::Corrupt, 0, Some(why)));
                }
                // Cut short by the stop, not the bucket's fault: no failure is counted.
                Err(ChunkFault::Failed(_)) if self.lock().stopping => {
                    end = PassEnd::Interrupted;
                    break;
                }
                Err(ChunkFault::Failed(error)) => {
                    let reason = Some(error.message.clone());
                    rows.push(row(entry, key, ChunkAction::Failed, 0, reason));
                    if self.failed(name, entry, error) {
                        end = PassEnd::Interrupted;
                        break;
                    }
                }
            }
        }
        let manifest_key = self.keys.manifest(name);
        let mut action = ManifestAction::Withheld;
        // Every chunk in the bucket and marked: listed up before, or sent (or found) now.
        let all_up = rows.len() == manifest.chunks.len() && rows.iter().all(ChunkUpload::is_up);
        if all_up && matches!(end, PassEnd::Done) {
            match upload_manifest(&self.bucket, &manifest_key, &folder) {
                Ok(done) => {
                    action = done;
                    self.lock().backoff.succeeded();
                    self.resume_if_paused();
                }
                Err(error) => {
                    self.held_up(&error);
                    end = PassEnd::Interrupted;
                }
            }
        }
        self.after_pass(name, &rows);
        let bytes_sent = rows.iter().map(|r| r.bytes_sent).sum();
        let report = UploadReport {
            recording: name.to_owned(),
            chunks: rows,
            manifest_key,
            manifest: action,
            bytes_sent,
        };
        (Ok(report), end)
    }

    fn now_ns(&self) -> u64 {
        self.now_ms().saturating_mul(1_000_000)
    }

    /// Records how many chunks of `name` await upload before its pass.
    fn note_pending(&self, name: &str, manifest: &Manifest, forced: bool) {
        let pending = manifest
            .chunks
            .iter()
            .filter(|c| c.awaits_upload() || (forced && c.uploaded_at_ns.is_none()))
            .count() as u64;
        self.lock().pending.insert(name.to_owned(), pending);
    }

    /// After a pass: the chunks of `name` still waiting, and a progress event.
    fn after_pass(&self, name: &str, rows: &[ChunkUpload]) {
        let waiting = rows
            .iter()
            .filter(|r| r.action == ChunkAction::Failed)
            .count() as u64;
        let mut state = self.lock();
        state.pending.insert(name.to_owned(), waiting);
        let progress = Self::progress(&state);
        drop(state);
        self.emit(RuntimeEvent::UploadProgress(progress));
    }

    fn progress(state: &QueueState) -> UploadProgress {
        UploadProgress {
            chunks_pending: state.pending.values().sum(),
            ..state.progress
        }
    }

    /// A chunk is in the bucket: the gate opens, a paused queue resumes, and the host
    /// hears of it.
    fn succeeded(&self, name: &str, entry: &ChunkEntry, key: &str, bytes: u64) {
        let mut state = self.lock();
        state.backoff.succeeded();
        state.failing_since.remove(&(name.to_owned(), entry.index));
        state.progress.bytes_sent = state.progress.bytes_sent.saturating_add(bytes);
        state.progress.chunks_done = state.progress.chunks_done.saturating_add(1);
        if let Some(pending) = state.pending.get_mut(name) {
            *pending = pending.saturating_sub(1);
        }
        let progress = Self::progress(&state);
        drop(state);
        self.changed.notify_all();
        self.resume_if_paused();
        self.emit(RuntimeEvent::ChunkUploaded {
            recording: name.to_owned(),
            index: entry.index,
            key: key.to_owned(),
            bytes_sent: bytes,
        });
        self.emit(RuntimeEvent::UploadProgress(progress));
    }

    fn resume_if_paused(&self) {
        if self.lock().paused.take().is_some() {
            log::info!("uploader: resumed");
            self.emit(RuntimeEvent::UploadResumed);
        }
    }

    /// A chunk failed to go up with `error`. True when the pass must stop (the queue
    /// waits); false when the chunk was dead-lettered and the pass goes on.
    fn failed(&self, name: &str, entry: &ChunkEntry, error: UploadError) -> bool {
        let now = self.now_ms();
        let since = *self
            .lock()
            .failing_since
            .entry((name.to_owned(), entry.index))
            .or_insert(now);
        let too_long = now.saturating_sub(since) >= self.policy.dead_letter_after_ms;
        match error.class {
            FailureClass::Terminal => {
                self.dead_letter(name, entry, error.message);
                false
            }
            FailureClass::Retryable if too_long => {
                let reason = format!(
                    "still failing after {} ms: {}",
                    now.saturating_sub(since),
                    error.message
                );
                self.dead_letter(name, entry, reason);
                false
            }
            FailureClass::Retryable | FailureClass::Pause => {
                self.held_up(&error);
                true
            }
        }
    }

    /// A failure that makes the whole queue wait: the gate closes (doubling wait), and
    /// one that pauses pauses the queue (said once).
    fn held_up(&self, error: &UploadError) {
        let mut state = self.lock();
        let wait = state.backoff.failed(self.now_ms());
        let newly_paused = error.class == FailureClass::Pause && state.paused.is_none();
        if error.class == FailureClass::Pause {
            state.paused = Some(error.message.clone());
        }
        drop(state);
        if newly_paused {
            log::warn!("uploader: paused: {}", error.message);
            self.emit(RuntimeEvent::UploadPaused {
                reason: error.message.clone(),
            });
        } else {
            log::info!("uploader: {} (trying again in {wait} ms)", error.message);
        }
    }

    /// Gives up on a chunk: marked in its manifest entry, and the host told.
    fn dead_letter(&self, name: &str, entry: &ChunkEntry, reason: String) {
        log::warn!(
            "uploader: chunk {} of `{name}` dead-lettered: {reason}",
            entry.index
        );
        self.lock()
            .failing_since
            .remove(&(name.to_owned(), entry.index));
        let letter = DeadLetter {
            at_ns: self.now_ns(),
            reason: reason.clone(),
        };
        self.mark(name, entry, UploadMark::DeadLettered(letter));
        self.emit(RuntimeEvent::ChunkDeadLettered {
            recording: name.to_owned(),
            index: entry.index,
            reason,
        });
    }

    /// Writes `mark` on `entry` of recording `name` through the manifest's owner. False
    /// (logged) when it could not be written now.
    fn mark(&self, name: &str, entry: &ChunkEntry, mark: UploadMark) -> bool {
        let handle = self
            .writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned();
        if let Some(handle) = handle {
            let (done, result) = crossbeam_channel::bounded(1);
            let sent = handle.mark(
                entry.index,
                &entry.sha256,
                mark.clone(),
                Box::new(move |r| {
                    let _ = done.send(r);
                }),
            );
            // Not sent, dropped unrun, or refused by a writer that failed: the recorder
            // no longer holds the folder's lock, so the manifest is marked under it.
            match (sent, result.recv()) {
                (true, Ok(Err(RecordingError::NotActive(_)))) | (false, _) | (true, Err(_)) => {}
                (true, Ok(result)) => return self.marked(name, result),
            }
        }
        let written = self.store.lock_sealed(name).and_then(|(folder, _lock)| {
            let mut manifest = Manifest::read(&folder)?;
            if manifest.apply_mark(entry.index, &entry.sha256, &mark) {
                manifest.write(&folder)?;
            }
            Ok(true)
        });
        self.marked(name, written)
    }

    fn marked(&self, name: &str, result: Result<bool, RecordingError>) -> bool {
        result
            .map_err(|e| log::warn!("uploader: cannot mark recording `{name}` now: {e}"))
            .is_ok()
    }

    fn emit(&self, event: RuntimeEvent) {
        self.poster
            .post_without_waiting(Request::Completion(Box::new(move |sink| {
                if let Some(sink) = sink {
                    sink.deliver(event);
                }
            })));
    }

    /// Answers `reply` on the worker (or with `ShuttingDown` if it is closing).
    fn answer(&self, reply: Reply<UploadReport>, result: Result<UploadReport, RequestError>) {
        self.poster
            .post_without_waiting(Request::Completion(Box::new(move |sink| match sink {
                Some(_) => reply.send(result),
                None => reply.send(Err(RequestError::ShuttingDown)),
            })));
    }
}

fn row(
    entry: &ChunkEntry,
    key: String,
    action: ChunkAction,
    bytes_sent: u64,
    reason: Option<String>,
) -> ChunkUpload {
    ChunkUpload {
        index: entry.index,
        key,
        action,
        bytes_sent,
        reason,
    }
}

/// One chunk's upload state, for `storage_upload_status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkStatus {
    /// The chunk's index.
    pub index: u64,
    /// Its object key (empty when its entry has no usable SHA-256).
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was found or put in the bucket (Unix ns), if it was.
    pub uploaded_at_ns: Option<u64>,
    /// The object's ETag, once uploaded.
    pub etag: Option<String>,
    /// Why the uploader gave up on it, if it did.
    pub dead_letter: Option<DeadLetter>,
}

/// A recording's upload state: its manifest's marks and the queue's view of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadStatus {
    /// The recording.
    pub recording: String,
    /// Its manifest's object key.
    pub manifest_key: String,
    /// The recording is still being written.
    pub active: bool,
    /// One row per chunk, in index order.
    pub chunks: Vec<ChunkStatus>,
    /// What the queue says of it.
    pub queue: QueueView,
}

impl UploadStatus {
    /// Reads recording `name`'s marks under `store` (`active`: it is being written
    /// here); keys under `keys`.
    pub(crate) fn read(
        store: &Store,
        name: &str,
        active: bool,
        keys: &ObjectKeys,
        queue: QueueView,
    ) -> Result<Self, RecordingError> {
        let folder = store.existing(name)?;
        let mut manifest = Manifest::read(&folder)?;
        manifest.chunks.sort_by_key(|c| c.index);
        let chunks = manifest
            .chunks
            .iter()
            .map(|c| ChunkStatus {
                index: c.index,
                key: keys.chunk(name, c).unwrap_or_default(),
                size: c.size,
                uploaded_at_ns: c.uploaded_at_ns,
                etag: c.etag.clone(),
                dead_letter: c.upload_dead_letter.clone(),
            })
            .collect();
        Ok(Self {
            recording: name.to_owned(),
            manifest_key: keys.manifest(name),
            active,
            chunks,
            queue,
        })
    }
}
