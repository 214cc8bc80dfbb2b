//! One chunk file being written: a hidden `.active` MCAP file, hashed while it is written,
//! sealed by renaming it to `chunk-{index:06}-{sha8}.mcap`.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mcap::records::MessageHeader;
use mcap::write::NoSeek;
use mcap::{WriteOptions, Writer};
use sha2::{Digest, Sha256};

use super::error::RecordingError;
use super::frame::Frame;
use super::manifest::{sync_folder, ChunkEntry};
use super::schema::{schema_bytes, MESSAGE_ENCODING, SCHEMA_ENCODING, SCHEMA_NAME};

/// Target size of an MCAP chunk record (uncompressed), as the issue fixes it.
pub const MCAP_CHUNK_SIZE: u64 = 786_432;

/// Name of the file a chunk is written to before it is sealed. Hidden, so tools listing
/// the folder do not take it for a finished chunk.
pub fn active_file_name(index: u64) -> String {
    format!(".chunk-{index:06}.mcap.active")
}

/// Name of a sealed chunk: its index and the first 8 hex digits of its SHA-256.
pub fn sealed_file_name(index: u64, sha256_hex: &str) -> String {
    format!(
        "chunk-{index:06}-{}.mcap",
        &sha256_hex[..8.min(sha256_hex.len())]
    )
}

/// The index and hash prefix in a sealed chunk's name, if it is one.
pub fn parse_sealed_file_name(name: &str) -> Option<(u64, &str)> {
    let rest = name.strip_prefix("chunk-")?.strip_suffix(".mcap")?;
    let (index, sha8) = rest.split_once('-')?;
    let valid = index.len() >= 6
        && index.bytes().all(|b| b.is_ascii_digit())
        && sha8.len() == 8
        && sha8.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    valid.then(|| index.parse().ok().map(|i| (i, sha8)))?
}

/// The index in an active file's name, if it is one.
pub fn parse_active_file_name(name: &str) -> Option<u64> {
    let index = name.strip_prefix(".chunk-")?.strip_suffix(".mcap.active")?;
    index
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| index.parse().ok())?
}

/// Output that hashes and counts every byte on its way to the file, so sealing needs no
/// second read.
struct HashingFile {
    file: BufWriter<File>,
    hasher: Sha256,
    /// Shared with the [`ChunkWriter`]: the MCAP writer owns this value.
    written: Arc<AtomicU64>,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// zstd level: 1 compresses about twice as fast as the default (3) on sensor-like data
/// at a few percent larger files, which keeps one recorder thread ahead of a busy node.
pub const ZSTD_LEVEL: u32 = 1;

/// The MCAP writer settings every chunk file uses: zstd, 786 432-byte chunks, CRCs,
/// single-threaded compression (the recorder is one thread by design), and no seeking so
/// the output is one forward stream that can be hashed as it is written.
pub fn write_options() -> WriteOptions {
    WriteOptions::new()
        .compression(Some(mcap::Compression::Zstd))
        .compression_level(ZSTD_LEVEL)
        .chunk_size(Some(MCAP_CHUNK_SIZE))
        .compression_threads(0)
        .calculate_chunk_crcs(true)
        .calculate_data_section_crc(true)
        .calculate_summary_section_crc(true)
        .disable_seeking(true)
        .library(concat!("libstorage-", env!("CARGO_PKG_VERSION")))
}

/// A chunk file being written.
pub struct ChunkWriter {
    index: u64,
    chunks_dir: PathBuf,
    active_path: PathBuf,
    writer: Writer<NoSeek<HashingFile>>,
    written: Arc<AtomicU64>,
    schema_id: u16,
    participant: String,
    channels: HashMap<String, u16>,
    sequence: u32,
    count: u64,
    first_log_time_ns: u64,
    last_log_time_ns: u64,
    /// When the chunk was opened (recorder time, Unix ns), for the age limit.
    opened_at_ns: u64,
}

impl ChunkWriter {
    /// Creates `chunks_dir/.chunk-{index}.mcap.active` (refusing to overwrite one) and
    /// writes the MCAP header and schema.
    pub fn create(
        chunks_dir: &Path,
        index: u64,
        participant: &str,
        opened_at_ns: u64,
    ) -> Result<Self, RecordingError> {
        let active_path = chunks_dir.join(active_file_name(index));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&active_path)
            .map_err(|e| RecordingError::io("create", &active_path, e))?;
        let written = Arc::new(AtomicU64::new(0));
        let out = HashingFile {
            file: BufWriter::with_capacity(256 * 1024, file),
            hasher: Sha256::new(),
            written: written.clone(),
        };
        let mcap_error = |e| RecordingError::mcap(&active_path, e);
        let mut writer = write_options()
            .create(NoSeek::new(out))
            .map_err(mcap_error)?;
        let schema_id = writer
            .add_schema(SCHEMA_NAME, SCHEMA_ENCODING, schema_bytes())
            .map_err(mcap_error)?;
        Ok(Self {
            index,
            chunks_dir: chunks_dir.to_owned(),
            active_path,
            writer,
            written,
            schema_id,
            participant: participant.to_owned(),
            channels: HashMap::new(),
            sequence: 0,
            count: 0,
            first_log_time_ns: 0,
            last_log_time_ns: 0,
            opened_at_ns,
        })
    }

    /// Appends one message, adding its channel on first use (metadata names the SDS
    /// channel and the participant).
    pub fn write(&mut self, frame: &Frame) -> Result<(), RecordingError> {
        let channel_id = match self.channels.get(&frame.channel_id) {
            Some(&id) => id,
            None => {
                let metadata = BTreeMap::from([
                    ("sds_channel".to_owned(), frame.channel_id.clone()),
                    ("participant".to_owned(), self.participant.clone()),
                ]);
                let id = self
                    .writer
                    .add_channel(
                        self.schema_id,
                        &frame.channel_id,
                        MESSAGE_ENCODING,
                        &metadata,
                    )
                    .map_err(|e| RecordingError::mcap(&self.active_path, e))?;
                self.channels.insert(frame.channel_id.clone(), id);
                id
            }
        };
        let header = MessageHeader {
            channel_id,
            sequence: self.sequence,
            log_time: frame.log_time_ns,
            publish_time: frame.publish_time_ns,
        };
        self.writer
            .write_to_known_channel(&header, &frame.data)
            .map_err(|e| RecordingError::mcap(&self.active_path, e))?;
        self.sequence = self.sequence.wrapping_add(1);
        if self.count == 0 {
            self.first_log_time_ns = frame.log_time_ns;
        }
        self.first_log_time_ns = self.first_log_time_ns.min(frame.log_time_ns);
        self.last_log_time_ns = self.last_log_time_ns.max(frame.log_time_ns);
        self.count += 1;
        Ok(())
    }

    /// Messages written so far.
    pub fn message_count(&self) -> u64 {
        self.count
    }

    /// Bytes that reached the file so far (MCAP chunks are buffered until full).
    pub fn bytes_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// When the chunk was opened (Unix ns).
    pub fn opened_at_ns(&self) -> u64 {
        self.opened_at_ns
    }

    /// Finishes the MCAP file, fsyncs it, renames it to its sealed name and fsyncs the
    /// folder. Returns its manifest entry.
    pub fn seal(mut self) -> Result<ChunkEntry, RecordingError> {
        let active = self.active_path.clone();
        self.writer
            .finish()
            .map_err(|e| RecordingError::mcap(&active, e))?;
        let out = self.writer.into_inner().into_inner();
        let HashingFile { file, hasher, .. } = out;
        let size = self.written.load(Ordering::Relaxed);
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
            message_count: self.count,
            first_log_time_ns: self.first_log_time_ns,
            last_log_time_ns: self.last_log_time_ns,
            extra: Default::default(),
        })
    }
}

/// Lower-case hex of `bytes`.
pub fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
