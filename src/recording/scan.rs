//! Streaming MCAP reading with every CRC checked: the one reader behind verify, replay
//! and crash recovery. Input is never trusted: record sizes are capped, nothing panics.

use std::collections::HashMap;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use mcap::records::{op, Record};
use mcap::sans_io::{LinearReadEvent, LinearReader, LinearReaderOptions};

use super::error::RecordingError;

/// Largest record (or decompressed chunk) accepted: bounds what a hostile file can make
/// the reader allocate. Recorded messages are at most about 1 MiB.
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Largest single read the reader may ask for: a record (or a chunk, its padding, a
/// decompressor's input) of at most [`MAX_RECORD_BYTES`] plus its opcode and length. A
/// larger request comes from a length the reader does not check (a chunk header's
/// compression-name length) and means the file is damaged.
const MAX_READ_REQUEST: usize = MAX_RECORD_BYTES + 1 + 8;

/// The reader's buffer grows by at most this much per read, so what it holds is bounded
/// by the bytes the source really has (plus this step), never by a length the file claims.
const READ_STEP: usize = 256 * 1024;

/// How strictly a file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanMode {
    /// A sealed file: magic at both ends, chunk, data-section and summary CRCs, nothing
    /// after the end magic.
    Sealed,
    /// A file cut short by a crash: no end magic needed; a chunk's messages are yielded
    /// only once the whole chunk arrived and its CRC matched, so what is salvaged is
    /// exactly the complete chunks.
    Salvage,
}

/// One message read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedMessage {
    /// The MCAP topic (the SDS channel id).
    pub topic: String,
    /// `log_time`, Unix ns.
    pub log_time_ns: u64,
    /// `publish_time`, Unix ns.
    pub publish_time_ns: u64,
    /// The message bytes.
    pub data: Vec<u8>,
}

/// Iterates over the messages of an MCAP stream; the first error ends the iteration.
pub struct McapScan<R> {
    source: R,
    path: PathBuf,
    reader: LinearReader,
    topics: HashMap<u16, String>,
    finished: bool,
}

impl<R: Read> McapScan<R> {
    /// Reads `source` (named `path` in errors) in `mode`.
    pub fn new(source: R, path: &Path, mode: ScanMode) -> Self {
        let options = LinearReaderOptions::default()
            .with_record_length_limit(MAX_RECORD_BYTES)
            .with_prevalidate_chunk_crcs(true)
            .with_validate_chunk_crcs(true);
        let options = match mode {
            ScanMode::Sealed => options
                .with_validate_data_section_crc(true)
                .with_validate_summary_section_crc(true)
                .with_check_finishes_after_end_magic(true),
            ScanMode::Salvage => options.with_skip_end_magic(true),
        };
        Self {
            source,
            path: path.to_owned(),
            reader: LinearReader::new_with_options(options),
            topics: HashMap::new(),
            finished: false,
        }
    }

    fn fail(&mut self, error: RecordingError) -> Option<Result<ScannedMessage, RecordingError>> {
        self.finished = true;
        Some(Err(error))
    }
}

impl<R: Read> Iterator for McapScan<R> {
    type Item = Result<ScannedMessage, RecordingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            // mcap's reader does arithmetic on lengths it does not check (a record that
            // overruns its uncompressed chunk underflows a counter); where that panics (builds
            // with overflow checks), the file is damaged, not the process.
            let reader = &mut self.reader;
            let Ok(event) = catch_unwind(AssertUnwindSafe(move || {
                let reader = reader;
                reader.next_event()
            })) else {
                let error = RecordingError::mcap(&self.path, "damaged file: unreadable records");
                return self.fail(error);
            };
            let event = match event {
                None => {
                    self.finished = true;
                    return None;
                }
                Some(Err(e)) => {
                    let error = RecordingError::mcap(&self.path, e);
                    return self.fail(error);
                }
                Some(Ok(event)) => event,
            };
            let (opcode, body) = match event {
                LinearReadEvent::ReadRequest(need) => {
                    if need > MAX_READ_REQUEST {
                        let error = RecordingError::mcap(
                            &self.path,
                            format!("damaged file: a length claims {need} more bytes"),
                        );
                        return self.fail(error);
                    }
                    // Ask for at most one step: a length that claims more than the source
                    // holds ends in end-of-file (an error) after reading what is there.
                    let read = self.source.read(self.reader.insert(need.min(READ_STEP)));
                    match read {
                        Ok(n) => self.reader.notify_read(n),
                        Err(e) => {
                            let error = RecordingError::io("read", &self.path, e);
                            return self.fail(error);
                        }
                    }
                    continue;
                }
                LinearReadEvent::Record { opcode, data } => (opcode, data),
            };
            if let Err(reason) = check_string_lengths(opcode, body) {
                let error = RecordingError::mcap(&self.path, reason);
                return self.fail(error);
            }
            match mcap::parse_record(opcode, body) {
                Ok(Record::Channel(channel)) => {
                    self.topics.insert(channel.id, channel.topic);
                }
                Ok(Record::Message { header, data }) => {
                    let Some(topic) = self.topics.get(&header.channel_id) else {
                        let error = RecordingError::mcap(
                            &self.path,
                            format!("message on undeclared channel {}", header.channel_id),
                        );
                        return self.fail(error);
                    };
                    return Some(Ok(ScannedMessage {
                        topic: topic.clone(),
                        log_time_ns: header.log_time,
                        publish_time_ns: header.publish_time,
                        data: data.into_owned(),
                    }));
                }
                Ok(_) => {}
                Err(e) => {
                    let error = RecordingError::mcap(&self.path, e);
                    return self.fail(error);
                }
            }
        }
    }
}

/// One field of a record's layout, as far as its strings go.
#[derive(Clone, Copy)]
enum Field {
    /// Fixed-size fields.
    Fixed(usize),
    /// A string: `u32` length, then that many bytes.
    Str,
    /// A map of strings to strings: `u32` byte length, then strings.
    StrMap,
    /// A map of integers: `u32` byte length, then that many bytes.
    IntMap,
}

/// The fields of each record `mcap::parse_record` reads strings from, up to its last string.
fn string_layout(opcode: u8) -> &'static [Field] {
    use Field::{Fixed, IntMap, Str, StrMap};
    match opcode {
        op::HEADER => &[Str, Str],
        op::SCHEMA => &[Fixed(2), Str, Str],
        op::CHANNEL => &[Fixed(4), Str, Str, StrMap],
        op::CHUNK => &[Fixed(28), Str],
        op::CHUNK_INDEX => &[Fixed(32), IntMap, Fixed(8), Str],
        op::ATTACHMENT => &[Fixed(16), Str, Str],
        op::ATTACHMENT_INDEX => &[Fixed(40), Str, Str],
        op::METADATA => &[Str, StrMap],
        op::METADATA_INDEX => &[Fixed(16), Str],
        _ => &[],
    }
}

/// Checks every string (and map) length prefix of a record against what its body holds.
///
/// `mcap::parse_record` reserves a string's claimed length before reading it, so a tiny
/// record claiming a 4 GiB string would allocate 4 GiB; a claim past the body's end is
/// corrupt and is refused here first. Bodies too short for their fixed fields are left to
/// `parse_record`, which reports them.
fn check_string_lengths(opcode: u8, body: &[u8]) -> Result<(), String> {
    let mut rest = body;
    for field in string_layout(opcode) {
        let len = match *field {
            Field::Fixed(n) => Some(n).filter(|&n| n <= rest.len()),
            Field::Str | Field::IntMap => prefixed_len(rest, opcode)?,
            Field::StrMap => {
                let len = prefixed_len(rest, opcode)?;
                if let Some(len) = len {
                    let mut map = &rest[4..len];
                    while let Some(entry) = prefixed_len(map, opcode)? {
                        map = &map[entry..];
                    }
                }
                len
            }
        };
        match len {
            Some(len) => rest = &rest[len..],
            None => return Ok(()),
        }
    }
    Ok(())
}

/// The size of the `u32`-length-prefixed field at the start of `bytes`, prefix included:
/// `Ok(None)` if fewer than four bytes are left, an error if the length claims more than
/// is left.
fn prefixed_len(bytes: &[u8], opcode: u8) -> Result<Option<usize>, String> {
    let Some((prefix, rest)) = bytes.split_first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_le_bytes(*prefix) as usize;
    if len > rest.len() {
        return Err(format!(
            "damaged file: a length in record 0x{opcode:02x} claims {len} bytes, {} left",
            rest.len()
        ));
    }
    Ok(Some(4 + len))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::BTreeMap;
    use std::io::Cursor;
    use std::sync::Arc;

    use super::*;

    /// Fuzzer input: a chunk header whose compression-name length claims ~4 GiB.
    const HUGE_COMPRESSION_NAME: &str = "894d434150300d0af20000000000000000060500001000000000000000000f000f000f0000000000000b00000002000000";
    /// Fuzzer input: a Header record whose library string claims 2.26 GB.
    const HUGE_HEADER_STRING: &str = "894d434150300d0af00000000000000000010800000000000000000000000000008700000000000000000000000089";

    /// Fuzzer input: a record that overruns its uncompressed chunk (mcap's reader
    /// underflows the chunk's remaining length: a panic where overflow is checked).
    const RECORD_OVERRUNS_CHUNK: &str = "894d434150300d0a06ff290000000000002d00000000ff00f710003a000000ffffffffff0d0a0000000000000000000000020000000000000000000000000000000000000000000000000000000500000000d2000000ffffffff0000";

    #[test]
    fn a_record_overrunning_its_chunk_is_damage_not_a_panic() {
        for mode in [ScanMode::Sealed, ScanMode::Salvage] {
            let scan = McapScan::new(
                Cursor::new(unhex(RECORD_OVERRUNS_CHUNK)),
                Path::new("x"),
                mode,
            );
            // Ends (with or without an error) instead of panicking.
            assert!(scan.take(1000).count() < 1000);
        }
    }

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// A source that remembers the largest buffer it was asked to fill.
    struct Watched<R> {
        inner: R,
        largest_read: usize,
    }

    impl<R: Read> Read for Watched<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.largest_read = self.largest_read.max(buf.len());
            self.inner.read(buf)
        }
    }

    /// Scans `bytes` in `mode`: the messages read, the first error, the largest read.
    fn scan(bytes: &[u8], mode: ScanMode) -> (usize, Option<RecordingError>, usize) {
        let mut source = Watched {
            inner: Cursor::new(bytes),
            largest_read: 0,
        };
        let mut messages = 0;
        let mut error = None;
        for item in McapScan::new(&mut source, Path::new("t.mcap"), mode) {
            match item {
                Ok(_) => messages += 1,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        (messages, error, source.largest_read)
    }

    fn mcap_file(compression: Option<mcap::Compression>, message_bytes: usize) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut writer = mcap::WriteOptions::new()
            .compression(compression)
            .chunk_size(Some(4 * 1024 * 1024))
            .create(&mut out)
            .expect("writer");
        let channel = Arc::new(mcap::Channel {
            id: 0,
            topic: "c".into(),
            schema: None,
            message_encoding: "sds".into(),
            metadata: BTreeMap::new(),
        });
        for i in 0..3u64 {
            let data: Vec<u8> = (0..message_bytes)
                .map(|b| (b as u64 * (i + 7)) as u8)
                .collect();
            writer
                .write(&mcap::Message {
                    channel: channel.clone(),
                    sequence: i as u32,
                    log_time: i,
                    publish_time: i,
                    data: Cow::Owned(data),
                })
                .expect("write");
        }
        writer.finish().expect("finish");
        drop(writer);
        out.into_inner()
    }

    /// `bytes` yields no message, an error saying `expected`, and no read over a step.
    fn assert_refused(bytes: &[u8], mode: ScanMode, expected: &str) {
        let (messages, error, largest_read) = scan(bytes, mode);
        assert_eq!(messages, 0);
        let error = error.expect("damaged file reported").to_string();
        assert!(error.contains(expected), "{error}");
        assert!(largest_read <= READ_STEP, "{largest_read}");
    }

    #[test]
    fn a_huge_compression_name_length_is_refused_before_reading_it() {
        // The fuzzer's artifact has 56 `ff` bytes; the report quoted 58: both.
        for (fill, mode) in [56, 58]
            .into_iter()
            .flat_map(|fill| [(fill, ScanMode::Sealed), (fill, ScanMode::Salvage)])
        {
            let mut bytes = unhex(HUGE_COMPRESSION_NAME);
            bytes.extend(vec![0xff; fill]);
            bytes.extend([0x00, 0x00, 0x00, 0x0a]);
            assert_refused(&bytes, mode, "damaged file");
        }
    }

    #[test]
    fn a_huge_string_length_in_a_record_is_refused_before_parsing_it() {
        let bytes = unhex(HUGE_HEADER_STRING);
        for mode in [ScanMode::Sealed, ScanMode::Salvage] {
            assert_refused(&bytes, mode, "claims 2264924160 bytes");
        }
    }

    #[test]
    fn a_length_past_the_end_reads_only_what_is_there() {
        // A record claiming 60 MiB (under the record limit) in a file of a few bytes.
        let mut bytes = unhex("894d434150300d0a");
        bytes.push(op::METADATA);
        bytes.extend((60u64 * 1024 * 1024).to_le_bytes());
        bytes.extend([0u8; 100]);
        for mode in [ScanMode::Sealed, ScanMode::Salvage] {
            let (messages, error, largest_read) = scan(&bytes, mode);
            assert_eq!(messages, 0);
            assert!(error.is_some(), "a cut-short record is an error");
            assert!(largest_read <= READ_STEP, "{largest_read}");
        }
    }

    #[test]
    fn messages_and_chunks_larger_than_a_read_step_scan_whole() {
        for compression in [None, Some(mcap::Compression::Zstd)] {
            let bytes = mcap_file(compression, 3 * READ_STEP / 2);
            let (messages, error, _) = scan(&bytes, ScanMode::Sealed);
            assert!(error.is_none(), "{error:?}");
            assert_eq!(messages, 3);
            // Cut short inside the summary: the complete chunk is still salvaged.
            let (messages, error, _) = scan(&bytes[..bytes.len() - 40], ScanMode::Salvage);
            assert_eq!(messages, 3, "{error:?}");
        }
    }

    #[test]
    fn well_formed_strings_and_maps_pass_the_length_check() {
        let mut body = Vec::new();
        body.extend([1, 0, 0, 0]); // id, schema id
        for s in ["topic", "sds"] {
            body.extend((s.len() as u32).to_le_bytes());
            body.extend(s.as_bytes());
        }
        body.extend(14u32.to_le_bytes());
        for s in ["k", "value"] {
            body.extend((s.len() as u32).to_le_bytes());
            body.extend(s.as_bytes());
        }
        assert_eq!(check_string_lengths(op::CHANNEL, &body), Ok(()));
        assert!(mcap::parse_record(op::CHANNEL, &body).is_ok());
        // A map entry claiming more than the map holds is refused.
        let last = body.len() - 9;
        body[last..last + 4].copy_from_slice(&6u32.to_le_bytes());
        assert!(check_string_lengths(op::CHANNEL, &body).is_err());
    }
}
