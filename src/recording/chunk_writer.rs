//! One chunk file being written: a hidden `.active` MCAP file (zstd, 786 432-byte MCAP
//! chunks compressed on the pool's threads, CRCs), hashed while it is written, sealed by
//! renaming it to `chunk-{index:06}-{sha8}.mcap`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use mcap::records::{Channel, MessageHeader, SchemaHeader};
use sha2::{Digest, Sha256};

use super::background_sync::BackgroundSync;
use super::compressor::{CompressorPool, PendingChunk};
use super::error::RecordingError;
use super::frame::Frame;
use super::manifest::{sync_folder, ChunkEntry};
use super::mcap_chunk::{CompressedChunk, OpenChunk};
use super::mcap_stream::McapStream;
use super::schema::{schema_bytes, MESSAGE_ENCODING, SCHEMA_ENCODING, SCHEMA_NAME};

/// The id of the one schema in each file.
const SCHEMA_ID: u16 = 1;

/// Name of the file a chunk is written to before it is sealed. Hidden, so tools listing
/// the folder do not take it for a finished chunk.
pub fn active_file_name(index: u64) -> String {
    format!(".chunk-{index:06}.mcap.active")
}

/// Name of a sealed chunk: its index and the first 8 hex digits of its SHA-256.
pub(crate) fn sealed_file_name(index: u64, sha256_hex: &str) -> String {
    format!(
        "chunk-{index:06}-{}.mcap",
        &sha256_hex[..8.min(sha256_hex.len())]
    )
}

/// The index and hash prefix in a sealed chunk's name, if it is one.
pub(crate) fn parse_sealed_file_name(name: &str) -> Option<(u64, &str)> {
    let rest = name.strip_prefix("chunk-")?.strip_suffix(".mcap")?;
    let (index, sha8) = rest.split_once('-')?;
    let valid = index.len() >= 6
        && index.bytes().all(|b| b.is_ascii_digit())
        && sha8.len() == 8
        && sha8.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    valid.then(|| index.parse().ok().map(|i| (i, sha8)))?
}

/// The index in an active file's name, if it is one.
pub(crate) fn parse_active_file_name(name: &str) -> Option<u64> {
    let index = name.strip_prefix(".chunk-")?.strip_suffix(".mcap.active")?;
    index
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| index.parse().ok())?
}

/// Output that hashes every byte on its way to the file, so sealing needs no second read.
struct HashingFile {
    file: BufWriter<File>,
    hasher: Sha256,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Name of the library in each file's MCAP Header.
const LIBRARY: &str = concat!("libstorage-", env!("CARGO_PKG_VERSION"));

/// A chunk file being written. Full MCAP chunks go to the compression threads; the
/// compressed ones are appended in order. Up to two chunks per compression thread are in
/// flight (one being compressed, one waiting), so a thread that finishes has its next
/// chunk at hand instead of waiting for the recorder to gather it.
pub struct ChunkWriter {
    index: u64,
    chunks_dir: PathBuf,
    active_path: PathBuf,
    stream: McapStream<HashingFile>,
    open: OpenChunk,
    in_flight: VecDeque<PendingChunk>,
    compressor: CompressorPool,
    sync: BackgroundSync,
    participant: String,
    channels: HashMap<String, u16>,
    sequence: u32,
    /// When the chunk was opened (recorder time, Unix ns), for the age limit.
    opened_at_ns: u64,
}

impl ChunkWriter {
    /// Creates `chunks_dir/.chunk-{index}.mcap.active` (refusing to overwrite one) and
    /// writes the MCAP header and schema; full MCAP chunks are compressed by `compressor`.
    pub fn create(
        chunks_dir: &Path,
        index: u64,
        participant: &str,
        opened_at_ns: u64,
        compressor: &CompressorPool,
    ) -> Result<Self, RecordingError> {
        let active_path = chunks_dir.join(active_file_name(index));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&active_path)
            .map_err(|e| RecordingError::io("create", &active_path, e))?;
        let out = HashingFile {
            file: BufWriter::with_capacity(256 * 1024, file),
            hasher: Sha256::new(),
        };
        let io_error = |e| RecordingError::io("write", &active_path, e);
        let mut stream = McapStream::new(out, LIBRARY).map_err(io_error)?;
        let schema = SchemaHeader {
            id: SCHEMA_ID,
            name: SCHEMA_NAME.into(),
            encoding: SCHEMA_ENCODING.into(),
        };
        stream
            .write_schema(schema, schema_bytes())
            .map_err(io_error)?;
        Ok(Self {
            index,
            chunks_dir: chunks_dir.to_owned(),
            active_path,
            stream,
            open: OpenChunk::new(),
            in_flight: VecDeque::new(),
            compressor: compressor.clone(),
            sync: BackgroundSync::default(),
            participant: participant.to_owned(),
            channels: HashMap::new(),
            sequence: 0,
            opened_at_ns,
        })
    }

    /// Appends one message, adding its channel on first use (metadata names the SDS
    /// channel and the participant).
    pub fn write(&mut self, frame: &Frame) -> Result<(), RecordingError> {
        let channel_id = match self.channels.get(&frame.channel_id) {
            Some(&id) => id,
            None => self.add_channel(&frame.channel_id)?,
        };
        let header = MessageHeader {
            channel_id,
            sequence: self.sequence,
            log_time: frame.log_time_ns,
            publish_time: frame.publish_time_ns,
        };
        self.open.push_message(&header, &frame.data);
        self.sequence = self.sequence.wrapping_add(1);
        if self.open.is_full() {
            self.hand_over_open_chunk()?;
        }
        Ok(())
    }

    fn add_channel(&mut self, topic: &str) -> Result<u16, RecordingError> {
        // Ids start at 1 (0 is no channel); MCAP has 16 bits for them.
        let id = u16::try_from(self.channels.len() + 1).map_err(|_| {
            RecordingError::RecorderFailed(format!(
                "`{}` would need more than {} MCAP channels",
                self.active_path.display(),
                u16::MAX
            ))
        })?;
        let channel = Channel {
            id,
            schema_id: SCHEMA_ID,
            topic: topic.to_owned(),
            message_encoding: MESSAGE_ENCODING.into(),
            metadata: BTreeMap::from([
                ("sds_channel".to_owned(), topic.to_owned()),
                ("participant".to_owned(), self.participant.clone()),
            ]),
        };
        self.open.push_channel(&channel);
        self.stream.note_channel(channel);
        self.channels.insert(topic.to_owned(), id);
        Ok(id)
    }

    /// Sends the open MCAP chunk to be compressed and appends every chunk that is ready.
    fn hand_over_open_chunk(&mut self) -> Result<(), RecordingError> {
        let chunk = std::mem::replace(&mut self.open, OpenChunk::new());
        self.in_flight.push_back(self.compressor.submit(chunk));
        self.append_ready()
    }

    /// Appends the chunks whose compression finished, oldest first, up to the first one
    /// still being compressed; waits for that one while too many are in flight. Called
    /// for every message and when the recorder is idle, so a compressed chunk reaches
    /// the file soon even when messages are rare.
    pub fn append_ready(&mut self) -> Result<(), RecordingError> {
        while let Some(oldest) = self.in_flight.pop_front() {
            let compressed = if self.in_flight.len() >= 2 * self.compressor.threads() {
                oldest.wait()
            } else {
                match oldest.try_take() {
                    Ok(done) => done,
                    Err(pending) => {
                        self.in_flight.push_front(pending);
                        break;
                    }
                }
            };
            self.append(compressed)?;
        }
        Ok(())
    }

    /// Appends a compressed chunk and, every few megabytes, starts writing the file back
    /// to disk in the background.
    fn append(&mut self, compressed: io::Result<CompressedChunk>) -> Result<(), RecordingError> {
        let stream = &mut self.stream;
        compressed
            .and_then(|chunk| stream.write_chunk(chunk))
            .and_then(|()| {
                let file = stream.get_ref().file.get_ref();
                self.sync
                    .maybe_start(stream.position(), || file.try_clone())
            })
            .map_err(|e| RecordingError::io("write", &self.active_path, e))
    }

    /// Makes every message written so far durable and recoverable: closes the open MCAP
    /// chunk early (however small), waits for the chunks being compressed, appends them,
    /// writes them out of the buffer and syncs the file's data. Crash recovery reseals
    /// complete MCAP chunks, so after this every message so far survives a crash. Where
    /// this closes an MCAP chunk shapes the file's bytes, so callers decide when by
    /// message times (see [`super::writer::RecordingWriter::write`]).
    pub fn flush(&mut self) -> Result<(), RecordingError> {
        if !self.open.is_empty() {
            let last = std::mem::replace(&mut self.open, OpenChunk::new());
            self.in_flight.push_back(self.compressor.submit(last));
        }
        self.append_in_flight()?;
        let path = &self.active_path;
        self.stream
            .flush()
            .map_err(|e| RecordingError::io("write", path, e))?;
        let length = self.stream.position();
        let file = self.stream.get_ref().file.get_ref();
        self.sync
            .sync_now(length, file)
            .map_err(|e| RecordingError::io("sync", path, e))
    }

    /// MCAP channels in the file so far.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Whether the file is at least `max_bytes` long once the MCAP chunks handed over so
    /// far are written. Waits for them only when they could make it so, which keeps the
    /// answer the same however fast the compression threads are.
    pub fn reached_size(&mut self, max_bytes: u64) -> Result<bool, RecordingError> {
        let in_flight: u64 = self.in_flight.iter().map(|p| p.max_file_bytes()).sum();
        if self.stream.position().saturating_add(in_flight) < max_bytes {
            return Ok(false);
        }
        self.append_in_flight()?;
        Ok(self.stream.position() >= max_bytes)
    }

    /// Waits for every chunk in flight and appends them.
    fn append_in_flight(&mut self) -> Result<(), RecordingError> {
        while let Some(pending) = self.in_flight.pop_front() {
            self.append(pending.wait())?;
        }
        Ok(())
    }

    /// When the chunk was opened (Unix ns).
    pub fn opened_at_ns(&self) -> u64 {
        self.opened_at_ns
    }

    /// Finishes the MCAP file, fsyncs it, renames it to its sealed name and fsyncs the
    /// folder. Returns its manifest entry.
    pub fn seal(mut self) -> Result<ChunkEntry, RecordingError> {
        if !self.open.is_empty() {
            let last = std::mem::take(&mut self.open);
            self.in_flight.push_back(self.compressor.submit(last));
        }
        self.append_in_flight()?;
        self.sync
            .wait()
            .map_err(|e| RecordingError::io("sync", &self.active_path, e))?;
        let active = self.active_path;
        // Every message is in an appended chunk now: the file's statistics count them.
        let statistics = self.stream.statistics().clone();
        let (HashingFile { file, hasher }, size) = self
            .stream
            .finish()
            .map_err(|e| RecordingError::io("write", &active, e))?;
        let file = file
            .into_inner()
            .map_err(|e| RecordingError::io("write", &active, e.into_error()))?;
        file.sync_all()
            .map_err(|e| RecordingError::io("sync", &active, e))?;
        drop(file);
        let sha256 = hex_lower(&hasher.finalize());
        let name = sealed_file_name(self.index, &sha256);
        let sealed = self.chunks_dir.join(&name);
        fs::rename(&active, &sealed).map_err(|e| RecordingError::io("rename", &active, e))?;
        sync_folder(&self.chunks_dir)?;
        Ok(ChunkEntry {
            index: self.index,
            file: name,
            sha256,
            size,
            message_count: statistics.message_count,
            first_log_time_ns: statistics.message_start_time,
            last_log_time_ns: statistics.message_end_time,
            prev_hash: None,
            uploaded_at_ns: None,
            etag: None,
            upload_dead_letter: None,
            extra: Default::default(),
        })
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
