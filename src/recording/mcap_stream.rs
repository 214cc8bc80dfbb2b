//! A forward-only MCAP file writer that appends chunks compressed elsewhere: magic and
//! Header, the schema, then each chunk with its Message Index records, and at the end the
//! Data End record, a summary (schemas, channels, statistics, chunk indexes, summary
//! offsets) and the Footer. It never seeks, so the output can be hashed as it is written.
//! The layout matches what the `mcap` crate's writer produces with its default summary
//! options; Channel records travel inside the chunk of their first message.

use std::collections::BTreeMap;
use std::io::{self, Write};

use mcap::records::{
    op, Channel, ChunkIndex, DataEnd, Footer, Header, MessageIndex, SchemaHeader, Statistics,
    SummaryOffset,
};
use mcap::MAGIC;

use super::mcap_chunk::CompressedChunk;
use super::mcap_records::record_bytes;

/// Output that counts its bytes and keeps a running CRC-32 of them.
struct Counted<W> {
    out: W,
    position: u64,
    crc: crc32fast::Hasher,
}

impl<W: Write> Counted<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.crc.update(bytes);
        self.position += bytes.len() as u64;
        Ok(())
    }

    /// Starts a new CRC (the summary section has its own).
    fn restart_crc(&mut self) {
        self.crc = crc32fast::Hasher::new();
    }
}

/// An MCAP file being written.
pub(crate) struct McapStream<W> {
    out: Counted<W>,
    schemas: Vec<(SchemaHeader, Vec<u8>)>,
    channels: Vec<Channel>,
    chunk_indexes: Vec<ChunkIndex>,
    statistics: Statistics,
}

impl<W: Write> McapStream<W> {
    /// Writes the magic and the Header record naming `library`.
    pub(crate) fn new(out: W, library: &str) -> io::Result<Self> {
        let mut out = Counted {
            out,
            position: 0,
            crc: crc32fast::Hasher::new(),
        };
        out.put(MAGIC)?;
        let header = Header {
            profile: String::new(),
            library: library.to_owned(),
        };
        out.put(&record_bytes(op::HEADER, &header))?;
        Ok(Self {
            out,
            schemas: Vec::new(),
            channels: Vec::new(),
            chunk_indexes: Vec::new(),
            statistics: Statistics::default(),
        })
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> u64 {
        self.out.position
    }

    /// The output.
    pub(crate) fn get_ref(&self) -> &W {
        &self.out.out
    }

    /// Flushes the output: what was written so far reaches the file (the bytes of the
    /// stream do not change).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.out.flush()
    }

    /// The Statistics record so far: messages, channels and times of the chunks
    /// appended.
    pub(crate) fn statistics(&self) -> &Statistics {
        &self.statistics
    }

    /// Writes a Schema record (outside any chunk) and keeps it for the summary.
    pub(crate) fn write_schema(&mut self, header: SchemaHeader, data: &[u8]) -> io::Result<()> {
        self.out.put(&schema_record(&header, data))?;
        self.schemas.push((header, data.to_vec()));
        self.statistics.schema_count = self.statistics.schema_count.saturating_add(1);
        Ok(())
    }

    /// Keeps a channel for the summary; its record goes into the chunk of its first
    /// message (see [`super::mcap_chunk::OpenChunk::push_channel`]).
    pub(crate) fn note_channel(&mut self, channel: Channel) {
        self.channels.push(channel);
        self.statistics.channel_count = self.statistics.channel_count.saturating_add(1);
    }

    /// Appends a Chunk record and its Message Index records.
    pub(crate) fn write_chunk(&mut self, chunk: CompressedChunk) -> io::Result<()> {
        let chunk_start_offset = self.position();
        let header = record_bytes(op::CHUNK, &chunk.header);
        let record_len = (header.len() - 9 + chunk.data.len()) as u64;
        let mut prefix = header;
        prefix[1..9].copy_from_slice(&record_len.to_le_bytes());
        self.out.put(&prefix)?;
        self.out.put(&chunk.data)?;
        let message_index_start = self.position();
        let mut message_index_offsets = BTreeMap::new();
        let message_count = chunk.message_count();
        for (channel_id, records) in chunk.indexes {
            message_index_offsets.insert(channel_id, self.position());
            let count = self
                .statistics
                .channel_message_counts
                .entry(channel_id)
                .or_default();
            *count += records.len() as u64;
            let index = MessageIndex {
                channel_id,
                records,
            };
            self.out.put(&record_bytes(op::MESSAGE_INDEX, &index))?;
        }
        let h = &chunk.header;
        let stats = &mut self.statistics;
        if stats.message_count == 0 {
            stats.message_start_time = h.message_start_time;
        }
        stats.message_start_time = stats.message_start_time.min(h.message_start_time);
        stats.message_end_time = stats.message_end_time.max(h.message_end_time);
        stats.message_count += message_count;
        stats.chunk_count = stats.chunk_count.saturating_add(1);
        self.chunk_indexes.push(ChunkIndex {
            message_start_time: h.message_start_time,
            message_end_time: h.message_end_time,
            chunk_start_offset,
            chunk_length: message_index_start - chunk_start_offset,
            message_index_offsets,
            message_index_length: self.position() - message_index_start,
            compression: h.compression.clone(),
            compressed_size: h.compressed_size,
            uncompressed_size: h.uncompressed_size,
        });
        Ok(())
    }

    /// Ends the data section and writes the summary, the Footer and the closing magic.
    /// Returns the output and the file's length.
    pub(crate) fn finish(mut self) -> io::Result<(W, u64)> {
        let data_end = DataEnd {
            data_section_crc: self.out.crc.clone().finalize(),
        };
        self.out.put(&record_bytes(op::DATA_END, &data_end))?;

        let summary_start = self.position();
        self.out.restart_crc();
        let mut offsets = Vec::new();
        let schemas: Vec<Vec<u8>> = self
            .schemas
            .iter()
            .map(|(header, data)| schema_record(header, data))
            .collect();
        self.put_group(op::SCHEMA, schemas, &mut offsets)?;
        let channels = self
            .channels
            .iter()
            .map(|c| record_bytes(op::CHANNEL, c))
            .collect();
        self.put_group(op::CHANNEL, channels, &mut offsets)?;
        let statistics = vec![record_bytes(op::STATISTICS, &self.statistics)];
        self.put_group(op::STATISTICS, statistics, &mut offsets)?;
        let chunk_indexes = self
            .chunk_indexes
            .iter()
            .map(|c| record_bytes(op::CHUNK_INDEX, c))
            .collect();
        self.put_group(op::CHUNK_INDEX, chunk_indexes, &mut offsets)?;
        let summary_offset_start = self.position();
        for offset in &offsets {
            self.out.put(&record_bytes(op::SUMMARY_OFFSET, offset))?;
        }

        // The summary CRC covers the Footer up to (not including) its own field.
        let mut footer = record_bytes(
            op::FOOTER,
            &Footer {
                summary_start,
                summary_offset_start,
                summary_crc: 0,
            },
        );
        let crc_at = footer.len() - 4;
        let mut crc = self.out.crc.clone();
        crc.update(&footer[..crc_at]);
        footer[crc_at..].copy_from_slice(&crc.finalize().to_le_bytes());
        self.out.put(&footer)?;
        self.out.put(MAGIC)?;
        self.out.out.flush()?;
        Ok((self.out.out, self.out.position))
    }

    /// Writes a group of summary records and notes its Summary Offset (none if empty).
    fn put_group(
        &mut self,
        group_opcode: u8,
        records: Vec<Vec<u8>>,
        offsets: &mut Vec<SummaryOffset>,
    ) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let group_start = self.position();
        for record in &records {
            self.out.put(record)?;
        }
        offsets.push(SummaryOffset {
            group_opcode,
            group_start,
            group_length: self.position() - group_start,
        });
        Ok(())
    }
}

/// A Schema record: its header, then the data prefixed by its u32 length.
fn schema_record(header: &SchemaHeader, data: &[u8]) -> Vec<u8> {
    let mut bytes = record_bytes(op::SCHEMA, header);
    bytes.extend_from_slice(&(data.len() as u32).to_le_bytes());
    bytes.extend_from_slice(data);
    let body_len = (bytes.len() - 9) as u64;
    bytes[1..9].copy_from_slice(&body_len.to_le_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::mcap_chunk::OpenChunk;
    use mcap::records::MessageHeader;
    use mcap::sans_io::{LinearReadEvent, LinearReader, LinearReaderOptions};

    fn channel(id: u16, topic: &str) -> Channel {
        Channel {
            id,
            schema_id: 1,
            topic: topic.into(),
            message_encoding: "protobuf".into(),
            metadata: BTreeMap::from([("k".to_owned(), topic.to_owned())]),
        }
    }

    /// A file of three chunks over two channels, each message's data naming it.
    fn three_chunk_file() -> Vec<u8> {
        let mut stream = McapStream::new(Vec::new(), "test").expect("new");
        let schema = SchemaHeader {
            id: 1,
            name: "s".into(),
            encoding: "protobuf".into(),
        };
        stream
            .write_schema(schema, b"schema bytes")
            .expect("schema");
        let mut zstd = zstd::bulk::Compressor::new(1).expect("zstd");
        let mut sequence = 0;
        for chunk_no in 0..3u64 {
            let mut chunk = OpenChunk::new();
            if chunk_no < 2 {
                let c = channel(chunk_no as u16 + 1, &format!("topic-{chunk_no}"));
                chunk.push_channel(&c);
                stream.note_channel(c);
            }
            for i in 0..100u64 {
                let header = MessageHeader {
                    channel_id: (i % 2) as u16 + 1,
                    sequence,
                    log_time: 1_000 + chunk_no * 100 + i,
                    publish_time: 7,
                };
                // Chunk 0 knows only channel 1.
                if chunk_no == 0 && header.channel_id == 2 {
                    continue;
                }
                sequence += 1;
                chunk.push_message(&header, format!("m{}", header.log_time).as_bytes());
            }
            stream
                .write_chunk(chunk.compress(&mut zstd).expect("compress"))
                .expect("chunk");
        }
        let (bytes, size) = stream.finish().expect("finish");
        assert_eq!(size, bytes.len() as u64);
        bytes
    }

    #[test]
    fn summary_indexes_and_every_crc_check_out_with_the_mcap_crate() {
        let bytes = three_chunk_file();
        let summary = mcap::Summary::read(&bytes)
            .expect("summary")
            .expect("has one");
        let stats = summary.stats.as_ref().expect("stats");
        assert_eq!(stats.message_count, 250);
        assert_eq!((stats.chunk_count, stats.channel_count), (3, 2));
        assert_eq!(
            (stats.message_start_time, stats.message_end_time),
            (1_000, 1_299)
        );
        assert_eq!(stats.channel_message_counts[&1], 150);
        assert_eq!(stats.channel_message_counts[&2], 100);
        assert_eq!(summary.chunk_indexes.len(), 3);
        assert_eq!(summary.schemas[&1].data.as_ref(), b"schema bytes");
        let mut seen = 0;
        for index in &summary.chunk_indexes {
            for (channel, entries) in summary.read_message_indexes(&bytes, index).expect("mi") {
                for entry in entries {
                    let message = summary.seek_message(&bytes, index, &entry).expect("seek");
                    assert_eq!(message.channel.topic, channel.topic);
                    assert_eq!(
                        message.data.as_ref(),
                        format!("m{}", entry.log_time).as_bytes()
                    );
                    seen += 1;
                }
            }
        }
        assert_eq!(seen, 250);

        validate(&bytes).expect("every CRC matches");
    }

    /// Reads `bytes` with every CRC check the `mcap` crate has.
    fn validate(bytes: &[u8]) -> Result<(), mcap::McapError> {
        let options = LinearReaderOptions::default()
            .with_validate_chunk_crcs(true)
            .with_validate_data_section_crc(true)
            .with_validate_summary_section_crc(true);
        let mut reader = LinearReader::new_with_options(options);
        let mut input = bytes;
        while let Some(event) = reader.next_event() {
            if let LinearReadEvent::ReadRequest(n) = event? {
                let n = n.min(input.len());
                reader.insert(n).copy_from_slice(&input[..n]);
                reader.notify_read(n);
                input = &input[n..];
            }
        }
        Ok(())
    }

    #[test]
    fn the_data_section_and_summary_crcs_cover_what_they_should() {
        let bytes = three_chunk_file();
        // A letter of the Header's library name (data section, outside any chunk) and
        // one of the schema data repeated in the summary: each still parses, so only
        // the CRCs can tell.
        let header_byte = MAGIC.len() + 9 + 4 + 4;
        assert_eq!(bytes[header_byte], b't');
        let footer = bytes.len() - MAGIC.len() - 29;
        let summary_start =
            u64::from_le_bytes(bytes[footer + 9..footer + 17].try_into().expect("8"));
        let summary_byte = summary_start as usize + 9 + 2 + (4 + 1) + (4 + 8) + 4;
        assert_eq!(bytes[summary_byte], b's');
        for at in [header_byte, summary_byte] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            assert!(validate(&damaged).is_err(), "byte {at}");
        }
    }

    #[test]
    fn messages_stream_in_order_with_their_channels() {
        let bytes = three_chunk_file();
        let topics: Vec<(String, u64)> = mcap::MessageStream::new(&bytes)
            .expect("stream")
            .map(|m| m.expect("message"))
            .map(|m| (m.channel.topic.clone(), m.log_time))
            .collect();
        assert_eq!(topics.len(), 250);
        assert_eq!(topics[0], ("topic-0".to_owned(), 1_000));
        assert!(topics.windows(2).all(|w| w[0].1 < w[1].1));
    }
}
