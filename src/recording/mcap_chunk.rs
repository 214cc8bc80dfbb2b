//! One MCAP chunk: its records gathered uncompressed ([`OpenChunk`]), then compressed as
//! a whole on one thread ([`OpenChunk::compress`]) into what the file writer appends
//! ([`CompressedChunk`]). Keeping the two steps apart is what lets a recording compress
//! several chunks at once, each single-threaded, while its file stays in order.

use std::collections::BTreeMap;
use std::io;

use mcap::records::{op, Channel, ChunkHeader, MessageHeader, MessageIndexEntry};

use super::mcap_records::record_bytes;

/// Target size of an MCAP chunk record (uncompressed), as the issue fixes it.
pub(crate) const MCAP_CHUNK_SIZE: u64 = 786_432;

/// zstd level: 1 compresses about twice as fast as the default (3) on sensor-like data
/// at a few percent larger files.
pub(crate) const ZSTD_LEVEL: i32 = 1;

/// Bytes of a Message record before its data: opcode, length, channel id, sequence, log
/// time, publish time.
const MESSAGE_PREFIX: usize = 1 + 8 + 2 + 4 + 8 + 8;

/// Bytes of a zstd Chunk record's header: times, sizes, CRC and the compression name.
const CHUNK_HEADER_LEN: usize = 8 + 8 + 8 + 4 + (4 + 4) + 8;

/// Records of a chunk being filled, with what its index and header need.
#[derive(Debug, Default)]
pub struct OpenChunk {
    records: Vec<u8>,
    /// Per channel: each message's log time and offset in `records`.
    indexes: BTreeMap<u16, Vec<MessageIndexEntry>>,
    /// Least and greatest log time.
    bounds: Option<(u64, u64)>,
}

impl OpenChunk {
    /// An empty chunk with room for a full one.
    pub fn new() -> Self {
        Self {
            records: Vec::with_capacity(MCAP_CHUNK_SIZE as usize + 64 * 1024),
            ..Self::default()
        }
    }

    /// Uncompressed bytes so far.
    pub fn len(&self) -> u64 {
        self.records.len() as u64
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether the chunk reached [`MCAP_CHUNK_SIZE`] and should be compressed.
    pub fn is_full(&self) -> bool {
        self.len() >= MCAP_CHUNK_SIZE
    }

    /// Most bytes the chunk can add to a file once compressed: its Chunk record (zstd's
    /// worst case) and its Message Index records.
    pub fn max_file_bytes(&self) -> u64 {
        let chunk_record =
            9 + CHUNK_HEADER_LEN + zstd::zstd_safe::compress_bound(self.records.len());
        let index_records: usize = self
            .indexes
            .values()
            .map(|entries| 9 + 2 + 4 + 16 * entries.len())
            .sum();
        (chunk_record + index_records) as u64
    }

    /// Adds a Channel record (before the first message that uses it).
    pub fn push_channel(&mut self, channel: &Channel) {
        self.records
            .extend_from_slice(&record_bytes(op::CHANNEL, channel));
    }

    /// Adds a Message record. Written by hand rather than through `binrw` because it is
    /// the one record per message: a fixed little-endian prefix, then the data.
    pub fn push_message(&mut self, header: &MessageHeader, data: &[u8]) {
        let offset = self.len();
        let body_len = (MESSAGE_PREFIX - 9 + data.len()) as u64;
        self.records.reserve(MESSAGE_PREFIX + data.len());
        self.records.push(op::MESSAGE);
        self.records.extend_from_slice(&body_len.to_le_bytes());
        self.records
            .extend_from_slice(&header.channel_id.to_le_bytes());
        self.records
            .extend_from_slice(&header.sequence.to_le_bytes());
        self.records
            .extend_from_slice(&header.log_time.to_le_bytes());
        self.records
            .extend_from_slice(&header.publish_time.to_le_bytes());
        self.records.extend_from_slice(data);
        self.indexes
            .entry(header.channel_id)
            .or_default()
            .push(MessageIndexEntry {
                log_time: header.log_time,
                offset,
            });
        let t = header.log_time;
        self.bounds = Some(match self.bounds {
            None => (t, t),
            Some((first, last)) => (first.min(t), last.max(t)),
        });
    }

    /// Compresses the records into one zstd frame with `zstd` (a reusable context).
    pub fn compress(self, zstd: &mut zstd::bulk::Compressor<'_>) -> io::Result<CompressedChunk> {
        let data = zstd.compress(&self.records)?;
        let (message_start_time, message_end_time) = self.bounds.unwrap_or((0, 0));
        Ok(CompressedChunk {
            header: ChunkHeader {
                message_start_time,
                message_end_time,
                uncompressed_size: self.len(),
                uncompressed_crc: crc32fast::hash(&self.records),
                compression: "zstd".into(),
                compressed_size: data.len() as u64,
            },
            data,
            indexes: self.indexes,
        })
    }
}

/// A chunk ready to be appended to a file.
#[derive(Debug)]
pub struct CompressedChunk {
    /// The Chunk record's header.
    pub header: ChunkHeader,
    /// The compressed records.
    pub data: Vec<u8>,
    /// Per channel: the entries of its Message Index record (offsets into the
    /// uncompressed records).
    pub indexes: BTreeMap<u16, Vec<MessageIndexEntry>>,
}

impl CompressedChunk {
    /// Messages in the chunk.
    pub fn message_count(&self) -> u64 {
        self.indexes.values().map(|v| v.len() as u64).sum()
    }
}
