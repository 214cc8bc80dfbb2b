//! Streaming MCAP reading with every CRC checked: the one reader behind verify, replay
//! and crash recovery. Input is never trusted: record sizes are capped, nothing panics.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use mcap::records::Record;
use mcap::sans_io::{LinearReadEvent, LinearReader, LinearReaderOptions};

use super::error::RecordingError;

/// Largest record (or decompressed chunk) accepted: bounds what a hostile file can make
/// the reader allocate. Recorded messages are at most about 1 MiB.
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

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
            let event = match self.reader.next_event() {
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
                    let read = self.source.read(self.reader.insert(need));
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
