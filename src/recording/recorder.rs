//! The recorder: one I/O thread per active recording, fed by a bounded queue so the
//! protocol worker never waits on disk.
//!
//! The worker calls [`Recorder::record`] with each delivered (or sent) message already
//! encoded as a [`Frame`] (encoding from a borrowed message costs the worker what a copy
//! would, and leaves the recorder thread only compression and I/O); the thread writes it to the recording (continuous mode) or keeps it in a
//! [`RingBuffer`] until [`Recorder::seal`] writes the window out (ring mode). When the
//! queue is full, [`FullPolicy`] decides: wait, or drop the message and count it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use serde::Serialize;

use super::error::RecordingError;
use super::frame::Frame;
use super::manifest::{Manifest, UploadMark};
use super::options::{FullPolicy, Mode, RecordingOptions};
use super::ring::RingBuffer;
use super::store::Store;
use super::writer::{ChunkLimits, RecordingWriter};

/// The recorder's source of time, Unix ns (the runtime passes its clock).
pub type Now = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Called once, on the recorder thread, with an operation's outcome.
pub type Done<T> = Box<dyn FnOnce(Result<T, RecordingError>) + Send>;

/// Told, on the recorder thread, of every chunk the recorder seals (so that the host can
/// anchor the chain's head elsewhere as it grows).
pub type OnSealed = Arc<dyn Fn(SealedChunk) + Send + Sync>;

/// A chunk just sealed, and the chain's head with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedChunk {
    /// The recording (for a ring seal: the recording written).
    pub recording: String,
    /// The chunk's index in the recording.
    pub index: u64,
    /// The chunk file's SHA-256 (lower-case hex).
    pub sha256: String,
    /// The chain's head once this chunk is linked: the SHA-256 of its manifest entry.
    pub head: String,
}

/// Tells `on_sealed` of the chunks of `manifest` from position `from` on, each with the
/// head it made (the next entry's link, or the manifest's head for the last). Returns
/// how many chunks the manifest lists.
fn announce_sealed(on_sealed: Option<&OnSealed>, manifest: &Manifest, from: usize) -> usize {
    if let Some(tell) = on_sealed {
        for (i, entry) in manifest.chunks.iter().enumerate().skip(from) {
            let head = match manifest.chunks.get(i + 1) {
                Some(next) => next.prev_hash.clone(),
                None => manifest.head.clone(),
            };
            tell(SealedChunk {
                recording: manifest.name.clone(),
                index: entry.index,
                sha256: entry.sha256.clone(),
                head: head.unwrap_or_default(),
            });
        }
    }
    manifest.chunks.len()
}

/// Longest the idle recorder thread sleeps before it checks the open chunk's age and
/// flush (it wakes sooner when one is due sooner).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// What the recorder thread is asked to do.
enum Command {
    Record(Frame),
    Seal {
        name: String,
        done: Done<Manifest>,
    },
    Reseal,
    Mark {
        index: u64,
        sha256: String,
        mark: UploadMark,
        done: Done<bool>,
    },
    Stop {
        done: Done<RecorderSummary>,
    },
}

/// A way to reach a recorder's thread that does not keep it alive: what an uploader
/// holds to send marks to the writer that owns the manifest. Once the recorder is
/// stopped or dropped, [`MarkHandle::mark`] says so and the uploader writes the
/// (then unlocked) manifest itself.
#[derive(Clone)]
pub struct MarkHandle(Weak<Sender<Command>>);

impl MarkHandle {
    /// Queues `mark` for chunk `index` (SHA-256 `sha256`) without waiting; `done` runs
    /// on the recorder thread with whether the entry changed. False, `done` dropped
    /// unrun, when the recorder is gone or its queue is full.
    pub fn mark(&self, index: u64, sha256: &str, mark: UploadMark, done: Done<bool>) -> bool {
        self.0.upgrade().is_some_and(|commands| {
            commands
                .try_send(Command::Mark {
                    index,
                    sha256: sha256.to_owned(),
                    mark,
                    done,
                })
                .is_ok()
        })
    }
}

/// Counters shared between the worker's handle and the thread.
#[derive(Debug, Default)]
pub struct RecorderStats {
    /// Messages handed to the thread.
    pub queued: AtomicU64,
    /// Messages dropped: queue full under [`FullPolicy::Drop`], or the recorder failed.
    pub dropped: AtomicU64,
    /// Messages written (continuous) or pushed into the ring.
    pub written: AtomicU64,
    /// The error that stopped the writer, if any.
    pub failure: Mutex<Option<RecordingError>>,
}

impl RecorderStats {
    /// The error that stopped the writer, if any.
    pub fn failure(&self) -> Option<RecordingError> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What a stopped recording amounts to.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct RecorderSummary {
    /// Recording name.
    pub name: String,
    /// Messages written (continuous) or held in the ring at the end.
    pub written: u64,
    /// Messages dropped.
    pub dropped: u64,
    /// The hash chain's head (continuous mode, once a chunk is sealed): the final
    /// manifest's `head`, for the host to anchor elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The final manifest (continuous mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
}

/// The worker's handle on a recording being made.
pub struct Recorder {
    name: String,
    options: RecordingOptions,
    /// Shared only weakly ([`MarkHandle`]), so that dropping it still closes the queue.
    commands: Arc<Sender<Command>>,
    stats: Arc<RecorderStats>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts recording `name` under `store`: creates the folder (continuous mode; ring
    /// mode writes nothing until sealed) and the recorder thread.
    pub fn start(
        store: &Store,
        name: &str,
        participant: &str,
        options: RecordingOptions,
        now: Now,
    ) -> Result<Self, RecordingError> {
        Self::start_announcing(store, name, participant, options, now, None)
    }

    /// [`Recorder::start`], telling `on_sealed` (on the recorder thread) of every chunk
    /// sealed.
    pub fn start_announcing(
        store: &Store,
        name: &str,
        participant: &str,
        options: RecordingOptions,
        now: Now,
        on_sealed: Option<OnSealed>,
    ) -> Result<Self, RecordingError> {
        super::name::validate_name(name)?;
        store.check_root()?;
        let target = match options.mode {
            Mode::Continuous => Target::Continuous(Box::new(RecordingWriter::create(
                store,
                name,
                participant,
                "continuous",
                now(),
                options.chunk_limits,
            )?)),
            Mode::Ring {
                window_ns,
                max_bytes,
            } => Target::Ring(RingBuffer::new(window_ns, max_bytes)),
        };
        let (commands, queue) = bounded(options.queue_capacity);
        let stats = Arc::new(RecorderStats::default());
        let thread = Thread {
            name: name.to_owned(),
            participant: participant.to_owned(),
            store: store.clone(),
            limits: options.chunk_limits,
            target,
            queue,
            stats: stats.clone(),
            now,
            on_sealed,
            announced: 0,
        };
        let handle = std::thread::Builder::new()
            .name("storage-recorder".into())
            .spawn(move || thread.run())
            .map_err(|e| RecordingError::RecorderFailed(format!("cannot start thread: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            options,
            commands: Arc::new(commands),
            stats,
            thread: Some(handle),
        })
    }

    /// The recording's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its options.
    pub fn options(&self) -> &RecordingOptions {
        &self.options
    }

    /// Its counters.
    pub fn stats(&self) -> &Arc<RecorderStats> {
        &self.stats
    }

    /// A handle for sending upload marks to the writer (continuous mode).
    pub fn mark_handle(&self) -> MarkHandle {
        MarkHandle(Arc::downgrade(&self.commands))
    }

    /// Whether messages of `channel_id` are recorded (`sent`: a message this node sent).
    pub fn wants(&self, channel_id: &str, sent: bool) -> bool {
        (!sent || self.options.record_sent)
            && self
                .options
                .channels
                .as_ref()
                .is_none_or(|list| list.iter().any(|c| c == channel_id))
    }

    /// Queues a message. Under [`FullPolicy::Drop`] never waits: a full queue drops the
    /// message and counts it; under [`FullPolicy::Block`] waits for room.
    pub fn record(&self, frame: Frame) {
        let command = Command::Record(frame);
        let sent = match self.options.when_full {
            FullPolicy::Drop => match self.commands.try_send(command) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            FullPolicy::Block => self.commands.send(command).is_ok(),
        };
        let counter = if sent {
            &self.stats.queued
        } else {
            &self.stats.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Ring mode: writes the current window as recording `name` without clearing it;
    /// `done` runs on the recorder thread.
    pub fn seal(&self, name: String, done: Done<Manifest>) {
        if !matches!(self.options.mode, Mode::Ring { .. }) {
            return done(Err(RecordingError::NotRing(self.name.clone())));
        }
        if let Err(unsent) = self.commands.send(Command::Seal { name, done }) {
            if let Command::Seal { done, .. } = unsent.0 {
                done(Err(self.stopped()));
            }
        }
    }

    /// Continuous mode: seals the open chunk now (what is queued before this is in it);
    /// recording goes on into a new chunk. What a restart of the worker does, so that
    /// everything recorded before the panic is sealed and chained. False if the recorder
    /// has stopped or failed.
    pub fn reseal(&self) -> bool {
        self.stats.failure().is_none() && self.commands.send(Command::Reseal).is_ok()
    }

    /// Stops recording: the thread drains the queue, seals the open chunk, writes the
    /// final manifest and calls `done`. Returns the thread to join.
    pub fn stop(mut self, done: Done<RecorderSummary>) -> Option<JoinHandle<()>> {
        if let Err(unsent) = self.commands.send(Command::Stop { done }) {
            if let Command::Stop { done } = unsent.0 {
                done(Err(self.stopped()));
            }
        }
        self.thread.take()
    }

    fn stopped(&self) -> RecordingError {
        self.stats
            .failure()
            .unwrap_or_else(|| RecordingError::RecorderFailed("the recorder thread is gone".into()))
    }
}

impl Drop for Recorder {
    /// A recorder dropped without `stop` still finishes its files: the thread sees the
    /// queue close, drains it and seals.
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let (closed, _) = bounded(0);
            drop(std::mem::replace(&mut self.commands, Arc::new(closed)));
            let _ = thread.join();
        }
    }
}

/// Where the thread puts messages.
enum Target {
    Continuous(Box<RecordingWriter>),
    Ring(RingBuffer),
    /// The writer failed; messages are counted as dropped.
    Failed,
}

/// State owned by the recorder thread.
struct Thread {
    name: String,
    participant: String,
    store: Store,
    limits: ChunkLimits,
    target: Target,
    queue: Receiver<Command>,
    stats: Arc<RecorderStats>,
    now: Now,
    on_sealed: Option<OnSealed>,
    /// Chunks of the continuous recording already announced to `on_sealed`.
    announced: usize,
}

impl Thread {
    /// Announces the chunks the continuous writer sealed since the last call.
    fn announce(&mut self) {
        if let Target::Continuous(writer) = &self.target {
            self.announced =
                announce_sealed(self.on_sealed.as_ref(), writer.manifest(), self.announced);
        }
    }

    fn run(mut self) {
        loop {
            let wait = self.idle_wait();
            let command = match self.queue.recv_timeout(wait) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => {
                    let now = (self.now)();
                    if let Target::Continuous(writer) = &mut self.target {
                        let result = writer.roll_if_due(now);
                        self.check(result);
                    }
                    self.announce();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.finish();
                    return;
                }
            };
            if let Some(done) = self.carry_out(command) {
                done(self.finish());
                return;
            }
        }
    }

    /// Carries out a record or seal command; hands a stop command's `done` back.
    fn carry_out(&mut self, command: Command) -> Option<Done<RecorderSummary>> {
        match command {
            Command::Record(frame) => {
                self.record(frame);
                self.announce();
            }
            Command::Seal { name, done } => done(self.seal_window(&name)),
            Command::Reseal => {
                if let Target::Continuous(writer) = &mut self.target {
                    let result = writer.seal_current();
                    self.check(result);
                }
                self.announce();
            }
            Command::Mark {
                index,
                sha256,
                mark,
                done,
            } => match &mut self.target {
                Target::Continuous(writer) => done(writer.mark(index, &sha256, &mark)),
                _ => done(Err(RecordingError::NotActive(self.name.clone()))),
            },
            Command::Stop { done } => return Some(done),
        }
        None
    }

    /// How long to wait for the next command before checking the open chunk's age and
    /// flush: an idle recorder still flushes on time.
    fn idle_wait(&self) -> Duration {
        match &self.target {
            Target::Continuous(writer) => match writer.next_deadline_ns() {
                Some(due) => {
                    let left = due.saturating_sub((self.now)());
                    Duration::from_nanos(left).clamp(Duration::from_millis(1), IDLE_POLL)
                }
                None => IDLE_POLL,
            },
            _ => IDLE_POLL,
        }
    }

    fn record(&mut self, frame: Frame) {
        match &mut self.target {
            Target::Continuous(writer) => {
                // Age is measured in log time, so it follows the runtime's (injectable)
                // clock exactly, however late the thread gets to the message.
                let result = writer.write(&frame, frame.log_time_ns);
                if self.check(result) {
                    self.stats.written.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Target::Ring(ring) => {
                ring.push(frame);
                self.stats.written.fetch_add(1, Ordering::Relaxed);
            }
            Target::Failed => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records a writer failure: the writer is abandoned (its active file is left for
    /// recovery) and later messages are dropped. True when `result` is a success.
    fn check(&mut self, result: Result<(), RecordingError>) -> bool {
        match result {
            Ok(()) => true,
            Err(error) => {
                log::error!("recording `{}` stopped: {error}", self.name);
                *self.stats.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                self.target = Target::Failed;
                false
            }
        }
    }

    fn seal_window(&mut self, name: &str) -> Result<Manifest, RecordingError> {
        let Target::Ring(ring) = &self.target else {
            return Err(RecordingError::NotRing(self.name.clone()));
        };
        let now = (self.now)();
        // The window spans its frames' log times (the seal comes later than the newest),
        // so start and end are the oldest and newest frame's, never the seal's time.
        let log_times = || ring.frames().map(|f| f.log_time_ns);
        let start = log_times().min().unwrap_or(now);
        let end = log_times().max().unwrap_or(now);
        let mut writer = RecordingWriter::create(
            &self.store,
            name,
            &self.participant,
            "ring",
            start,
            self.limits,
        )?;
        for frame in ring.frames() {
            writer.write(frame, now)?;
        }
        let manifest = writer.finish(end)?;
        announce_sealed(self.on_sealed.as_ref(), &manifest, 0);
        Ok(manifest)
    }

    fn finish(&mut self) -> Result<RecorderSummary, RecordingError> {
        // Commands still queued were accepted: they are carried out before the end.
        while let Ok(command) = self.queue.try_recv() {
            if let Some(done) = self.carry_out(command) {
                done(Err(RecordingError::NotActive(self.name.clone())));
            }
        }
        let target = std::mem::replace(&mut self.target, Target::Failed);
        let manifest = match target {
            Target::Continuous(writer) => {
                let manifest = writer.finish((self.now)())?;
                announce_sealed(self.on_sealed.as_ref(), &manifest, self.announced);
                Some(manifest)
            }
            Target::Ring(_) => None,
            Target::Failed => {
                if let Some(error) = self.stats.failure() {
                    return Err(error);
                }
                None
            }
        };
        Ok(RecorderSummary {
            name: self.name.clone(),
            written: self.stats.written.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            head: manifest.as_ref().and_then(|m| m.head.clone()),
            manifest,
        })
    }
}
