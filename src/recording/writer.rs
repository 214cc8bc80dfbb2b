//! A recording being written: its folder, the chunk file open now, and the manifest,
//! rewritten after every seal. Used by the continuous recorder, by ring-buffer seals and
//! by crash recovery.

use std::path::{Path, PathBuf};

use super::chunk_writer::ChunkWriter;
use super::compressor::CompressorPool;
use super::error::RecordingError;
use super::frame::Frame;
use super::manifest::{ChunkEntry, Manifest};
use super::store::{FolderLock, Store, CHUNKS_DIR};

/// When a chunk file is sealed and the next one started, and how long a message may
/// wait before it is in the file in a complete, synced MCAP chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Seal once the file reaches this many bytes.
    pub max_bytes: u64,
    /// Seal once the file is this old (recorder time).
    pub max_age_ns: u64,
    /// Flush ([`ChunkWriter::flush`]) once the oldest message not yet flushed is this old
    /// (recorder time): what a crash can lose is bounded by it.
    pub flush_interval_ns: u64,
}

/// Default [`ChunkLimits::flush_interval_ns`]: 1 s.
const DEFAULT_FLUSH_INTERVAL_NS: u64 = 1_000_000_000;

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_age_ns: 60 * 1_000_000_000,
            flush_interval_ns: DEFAULT_FLUSH_INTERVAL_NS,
        }
    }
}

/// A recording folder open for writing.
pub struct RecordingWriter {
    folder: PathBuf,
    chunks_dir: PathBuf,
    manifest: Manifest,
    current: Option<ChunkWriter>,
    /// Recorder time of the oldest message written since the last flush or seal.
    unflushed_since_ns: Option<u64>,
    next_index: u64,
    limits: ChunkLimits,
    compressor: CompressorPool,
    _lock: FolderLock,
}

impl RecordingWriter {
    /// Creates recording `name` under `store` (refusing an existing name) and writes its
    /// first, empty manifest.
    pub fn create(
        store: &Store,
        name: &str,
        participant: &str,
        mode: &str,
        now_ns: u64,
        limits: ChunkLimits,
    ) -> Result<Self, RecordingError> {
        let (folder, lock) = store.create(name)?;
        let manifest = Manifest::new(name, participant, mode, now_ns);
        manifest.write(&folder)?;
        Self::resume(folder, manifest, lock, limits)
    }

    /// Continues an existing folder whose `manifest` was read and whose lock is held.
    /// Starts the recording's compression threads.
    pub fn resume(
        folder: PathBuf,
        mut manifest: Manifest,
        lock: FolderLock,
        limits: ChunkLimits,
    ) -> Result<Self, RecordingError> {
        let compressor = CompressorPool::for_this_machine().map_err(|e| {
            RecordingError::RecorderFailed(format!("cannot start compression threads: {e}"))
        })?;
        // A legacy manifest is chained as found before anything is added to it.
        super::chain::migrate_legacy(&mut manifest);
        let next_index = manifest
            .chunks
            .iter()
            .map(|c| c.index.saturating_add(1))
            .max()
            .unwrap_or(0);
        Ok(Self {
            chunks_dir: folder.join(CHUNKS_DIR),
            folder,
            manifest,
            current: None,
            unflushed_since_ns: None,
            next_index,
            limits,
            compressor,
            _lock: lock,
        })
    }

    /// The folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The manifest as last written (plus channels seen since).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Writes a frame, first sealing the open chunk if it reached a limit, or flushing it
    /// if its oldest unflushed message is [`ChunkLimits::flush_interval_ns`] old at
    /// `now_ns`. The recorder passes each frame's log time as `now_ns`, so where a
    /// message closes a chunk depends on the messages and their times, not on how fast
    /// the recorder runs; only an idle recorder flushes by its clock (`roll_if_due`).
    pub fn write(&mut self, frame: &Frame, now_ns: u64) -> Result<(), RecordingError> {
        self.roll_if_due(now_ns)?;
        let chunk = match &mut self.current {
            Some(chunk) => chunk,
            None => {
                let chunk = ChunkWriter::create(
                    &self.chunks_dir,
                    self.next_index,
                    &self.manifest.participant,
                    now_ns,
                    &self.compressor,
                )?;
                self.next_index = self.next_index.saturating_add(1);
                self.current.insert(chunk)
            }
        };
        let channels = chunk.channel_count();
        chunk.write(frame)?;
        self.unflushed_since_ns.get_or_insert(now_ns);
        // Only a channel new to this file can be new to the manifest.
        if chunk.channel_count() > channels {
            self.manifest.note_channel(&frame.channel_id);
        }
        Ok(())
    }

    /// Appends the compressed MCAP chunks that are ready, seals the open chunk file if
    /// it is over its size or age limit, and otherwise flushes it if its oldest unflushed
    /// message is [`ChunkLimits::flush_interval_ns`] old.
    pub fn roll_if_due(&mut self, now_ns: u64) -> Result<(), RecordingError> {
        let flush_due = self.flush_deadline_ns().is_some_and(|due| now_ns >= due);
        let Some(chunk) = self.current.as_mut() else {
            return Ok(());
        };
        chunk.append_ready()?;
        let too_old = now_ns.saturating_sub(chunk.opened_at_ns()) >= self.limits.max_age_ns;
        if too_old || chunk.reached_size(self.limits.max_bytes)? {
            return self.seal_current();
        }
        if flush_due {
            chunk.flush()?;
            self.unflushed_since_ns = None;
        }
        Ok(())
    }

    /// When the open chunk file next needs the recorder, if one is open: its age limit,
    /// or the flush of its oldest unflushed message if that comes first.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        let sealing = self
            .current
            .as_ref()
            .map(|c| c.opened_at_ns().saturating_add(self.limits.max_age_ns))?;
        Some(self.flush_deadline_ns().map_or(sealing, |f| f.min(sealing)))
    }

    /// When the oldest unflushed message is due to be flushed, if there is one.
    fn flush_deadline_ns(&self) -> Option<u64> {
        self.unflushed_since_ns
            .map(|since| since.saturating_add(self.limits.flush_interval_ns))
    }

    /// Seals the open chunk (if it holds messages) and rewrites the manifest.
    pub fn seal_current(&mut self) -> Result<(), RecordingError> {
        let Some(chunk) = self.current.take() else {
            return Ok(());
        };
        // Sealing syncs the whole file: nothing is left to flush.
        self.unflushed_since_ns = None;
        let entry = chunk.seal()?;
        self.push_linked(entry)
    }

    /// Links `entry` onto the chain's head, lists it and rewrites the manifest.
    fn push_linked(&mut self, mut entry: ChunkEntry) -> Result<(), RecordingError> {
        super::chain::link(&mut self.manifest, &mut entry);
        self.manifest.chunks.push(entry);
        self.manifest.write(&self.folder)
    }

    /// Lists an already sealed chunk (crash recovery) at the end of the chain and
    /// rewrites the manifest. Refuses (`Ok(false)`) a chunk whose index is not after
    /// every listed one: listing it would rewrite the chain's history.
    pub fn add_chunk(&mut self, entry: ChunkEntry) -> Result<bool, RecordingError> {
        if self.manifest.chunks.iter().any(|c| c.index >= entry.index) {
            return Ok(false);
        }
        self.next_index = self.next_index.max(entry.index.saturating_add(1));
        self.push_linked(entry)?;
        Ok(true)
    }

    /// Records an uploader's `mark` on sealed chunk `index` (whose file has SHA-256
    /// `sha256`) and rewrites the manifest if that changed it. The writer owns the
    /// manifest of a recording being written, so marks go through it. Returns whether
    /// an entry changed.
    pub fn mark(
        &mut self,
        index: u64,
        sha256: &str,
        mark: &super::manifest::UploadMark,
    ) -> Result<bool, RecordingError> {
        if !self.manifest.apply_mark(index, sha256, mark) {
            return Ok(false);
        }
        self.manifest.write(&self.folder)?;
        Ok(true)
    }

    /// The chain's head: the hash of the last sealed chunk's entry.
    pub fn head(&self) -> Option<&str> {
        self.manifest.head.as_deref()
    }

    /// Seals the open chunk, records the end time and writes the final manifest.
    pub fn finish(mut self, end_ns: u64) -> Result<Manifest, RecordingError> {
        self.seal_current()?;
        self.manifest.end_time_ns = Some(end_ns);
        self.manifest.write(&self.folder)?;
        Ok(self.manifest)
    }
}
