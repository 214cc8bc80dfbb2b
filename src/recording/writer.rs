//! A recording being written: its folder, the chunk file open now, and the manifest,
//! rewritten after every seal. Used by the continuous recorder, by ring-buffer seals and
//! by crash recovery.

use std::path::{Path, PathBuf};

use super::chunk_writer::ChunkWriter;
use super::compressor::CompressorPool;
use super::error::RecordingError;
use super::frame::Frame;
use super::manifest::Manifest;
use super::store::{FolderLock, Store, CHUNKS_DIR};

/// When a chunk file is sealed and the next one started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Seal once the file reaches this many bytes.
    pub max_bytes: u64,
    /// Seal once the file is this old (recorder time).
    pub max_age_ns: u64,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_age_ns: 60 * 1_000_000_000,
        }
    }
}

/// A recording folder open for writing.
pub struct RecordingWriter {
    folder: PathBuf,
    chunks_dir: PathBuf,
    manifest: Manifest,
    current: Option<ChunkWriter>,
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
        manifest: Manifest,
        lock: FolderLock,
        limits: ChunkLimits,
    ) -> Result<Self, RecordingError> {
        let compressor = CompressorPool::for_this_machine().map_err(|e| {
            RecordingError::RecorderFailed(format!("cannot start compression threads: {e}"))
        })?;
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

    /// Writes a frame, first sealing the open chunk if it reached a limit.
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
        // Only a channel new to this file can be new to the manifest.
        if chunk.channel_count() > channels {
            self.manifest.note_channel(&frame.channel_id);
        }
        Ok(())
    }

    /// Appends the compressed MCAP chunks that are ready, and seals the open chunk file
    /// if it is over its size or age limit.
    pub fn roll_if_due(&mut self, now_ns: u64) -> Result<(), RecordingError> {
        let Some(chunk) = self.current.as_mut() else {
            return Ok(());
        };
        chunk.append_ready()?;
        let too_old = now_ns.saturating_sub(chunk.opened_at_ns()) >= self.limits.max_age_ns;
        if too_old || chunk.reached_size(self.limits.max_bytes)? {
            self.seal_current()?;
        }
        Ok(())
    }

    /// When the open chunk reaches its age limit, if one is open.
    pub fn roll_deadline_ns(&self) -> Option<u64> {
        self.current
            .as_ref()
            .map(|c| c.opened_at_ns().saturating_add(self.limits.max_age_ns))
    }

    /// Seals the open chunk (if it holds messages) and rewrites the manifest.
    pub fn seal_current(&mut self) -> Result<(), RecordingError> {
        let Some(chunk) = self.current.take() else {
            return Ok(());
        };
        let entry = chunk.seal()?;
        self.manifest.chunks.push(entry);
        self.manifest.write(&self.folder)
    }

    /// Lists an already sealed chunk (crash recovery), keeping the list in index order,
    /// and rewrites the manifest.
    pub fn add_chunk(&mut self, entry: super::manifest::ChunkEntry) -> Result<(), RecordingError> {
        self.next_index = self.next_index.max(entry.index.saturating_add(1));
        self.manifest.chunks.push(entry);
        self.manifest.chunks.sort_by_key(|c| c.index);
        self.manifest.write(&self.folder)
    }

    /// Seals the open chunk, records the end time and writes the final manifest.
    pub fn finish(mut self, end_ns: u64) -> Result<Manifest, RecordingError> {
        self.seal_current()?;
        self.manifest.end_time_ns = Some(end_ns);
        self.manifest.write(&self.folder)?;
        Ok(self.manifest)
    }
}
