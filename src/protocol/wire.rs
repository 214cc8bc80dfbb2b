//! The SDS wire format: protobuf, bit-compatible with nim-sds, and the written spec's
//! numbering (js-waku's `@waku/sds`) as a second dialect of the same codec.
//!
//! Field numbers of the default dialect follow nim-sds (they differ from the written
//! spec; the spec's table, and the rule that tells a received message's dialect, are in
//! `protocol::dialect`). Messages are encoded in a [`WireFormat`] given by the caller
//! (the `*_as` functions; the others write nim) and decoded in the dialect detected:
//!
//! | `SdsMessage`          | # | type                   | nim-sds emits            |
//! | --------------------- | - | ---------------------- | ------------------------ |
//! | `message_id`          | 1 | string                 | always (even empty)      |
//! | `lamport_timestamp`   | 2 | int64 (two's complement varint) | always (even 0) |
//! | `causal_history`      | 3 | repeated `HistoryEntry` | one per entry           |
//! | `channel_id`          | 4 | string                 | always                   |
//! | `content`             | 5 | bytes                  | always                   |
//! | `bloom_filter`        | 6 | bytes                  | always                   |
//! | `sender_id`           | 7 | string                 | only when non-empty      |
//! | `repair_request`      | 13 | repeated `HistoryEntry` | one per entry          |
//!
//! | `HistoryEntry`   | # | type   | nim-sds emits       |
//! | ---------------- | - | ------ | ------------------- |
//! | `message_id`     | 1 | string | always (even empty) |
//! | `retrieval_hint` | 2 | bytes  | only when non-empty |
//! | `sender_id`      | 3 | string | only when non-empty |
//!
//! Fields are written in field-number order, exactly as nim-sds writes them, so the same
//! message encodes to the same bytes in both implementations.
//!
//! Decoding follows nim-sds's reader (libp2p `minprotobuf`): fields 1, 2, 4 and 5 of a
//! message and field 1 of a history entry are required; when a singular field occurs more
//! than once the last occurrence wins; a field whose wire type is not the expected one is
//! skipped, as are unknown fields; group wire types (3, 4) and wire types 6 and 7 are
//! rejected; a varint may be at most 10 bytes (excess high bits of the tenth byte are
//! ignored, as nim-sds does). In addition to nim-sds, ids must be valid UTF-8.
//!
//! The spec dialect is written as `@waku/sds` 0.0.8 writes it (protons, proto3): fields in
//! number order (1, 2, 3, 10, 11, 12, 13, 20), strings, content and bloom only when
//! non-empty, the Lamport timestamp always except in an ephemeral message. It is read with
//! the same rules as nim, except that nothing is required (see
//! [`decode_received_within`]); history entries are the same in both dialects.
//!
//! The framing rules live in `protocol::protobuf`, shared with the bloom and snapshot
//! codecs. The encoder is driven by hand so that a message is written straight from the
//! borrowed [`SdsMessage`] into one buffer of the exact size, without first cloning it
//! (and its ~18 KB bloom filter) into an owned wire struct. The decoder walks the input
//! once, borrowing every field, and copies each kept field exactly once.

use super::dialect::{detect, WireFormat};
use super::message::{HistoryEntry, SdsMessage};
use super::protobuf::{
    len_field_len, put_bytes_field, put_len_prefix, put_varint_field, varint_field_len,
    FieldReader, FieldValue, FramingError,
};

const ENTRY_ID: u32 = 1;
const ENTRY_HINT: u32 = 2;
const ENTRY_SENDER_ID: u32 = 3;

/// Why bytes could not be decoded as an SDS message or history entry.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes are not well-formed protobuf (truncated field, bad varint, unsupported
    /// wire type, ...). The text says what and where.
    #[error("malformed protobuf: {0}")]
    Malformed(String),
    /// A field nim-sds requires is absent (named as `message.field`).
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    /// An id field (named) holds bytes that are not valid UTF-8.
    #[error("field `{0}` is not valid UTF-8")]
    InvalidUtf8(&'static str),
    /// A repeated field (named) has more entries than the `DecodeLimits` allow.
    #[error("more than {max} `{field}` entries")]
    TooManyEntries {
        /// The repeated field, e.g. `causal_history`.
        field: &'static str,
        /// The limit.
        max: usize,
    },
    /// An id or hint (named) is longer than the `DecodeLimits` allow.
    #[error("`{field}` is {len} bytes, over the {max}-byte limit")]
    TooLong {
        /// The field, e.g. `causal_history[].message_id`.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl DecodeError {
    /// Whether the bytes are well-formed but exceed a `DecodeLimits` bound.
    pub fn is_limit(&self) -> bool {
        matches!(self, Self::TooManyEntries { .. } | Self::TooLong { .. })
    }
}

/// What one received message may carry: decoding stops at the first excess, so the work
/// and memory a refused message costs stay small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Entries of `causal_history`.
    pub max_causal_history: usize,
    /// Entries of `repair_request`.
    pub max_repair_requests: usize,
    /// Bytes of every id (message, channel, sender) and retrieval hint.
    pub max_id_bytes: usize,
}

impl DecodeLimits {
    /// No bounds beyond the input's own size (for state this library wrote itself).
    pub(crate) fn unbounded() -> Self {
        Self {
            max_causal_history: usize::MAX,
            max_repair_requests: usize::MAX,
            max_id_bytes: usize::MAX,
        }
    }

    fn check_len(&self, bytes: &[u8], field: &'static str) -> Result<(), DecodeError> {
        if bytes.len() > self.max_id_bytes {
            return Err(DecodeError::TooLong {
                field,
                len: bytes.len(),
                max: self.max_id_bytes,
            });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// HistoryEntry encoding
// ---------------------------------------------------------------------------------------

/// Size of a history entry's encoding (without any enclosing key or length).
pub(crate) fn history_entry_body_len(e: &HistoryEntry) -> usize {
    let mut n = len_field_len(ENTRY_ID, e.message_id.len());
    if !e.retrieval_hint.is_empty() {
        n += len_field_len(ENTRY_HINT, e.retrieval_hint.len());
    }
    if !e.sender_id.is_empty() {
        n += len_field_len(ENTRY_SENDER_ID, e.sender_id.len());
    }
    n
}

/// Appends a history entry's encoding (without any enclosing key or length) to `buf`.
pub(crate) fn write_history_entry_body(e: &HistoryEntry, buf: &mut Vec<u8>) {
    put_bytes_field(ENTRY_ID, e.message_id.as_bytes(), buf);
    if !e.retrieval_hint.is_empty() {
        put_bytes_field(ENTRY_HINT, &e.retrieval_hint, buf);
    }
    if !e.sender_id.is_empty() {
        put_bytes_field(ENTRY_SENDER_ID, e.sender_id.as_bytes(), buf);
    }
}

/// Encodes a history entry on its own, as nim-sds's `encodeHistoryEntry` does: field 1
/// always, fields 2 and 3 only when non-empty.
pub fn encode_history_entry(e: &HistoryEntry) -> Vec<u8> {
    let mut buf = Vec::with_capacity(history_entry_body_len(e));
    write_history_entry_body(e, &mut buf);
    buf
}

// ---------------------------------------------------------------------------------------
// SdsMessage encoding
// ---------------------------------------------------------------------------------------

/// Where [`emit`] puts a message's fields: a size counter or a buffer, so that the exact
/// length and the bytes come from one description of each dialect.
trait Sink {
    fn bytes(&mut self, tag: u32, bytes: &[u8]);
    fn varint(&mut self, tag: u32, value: u64);
    fn entry(&mut self, tag: u32, entry: &HistoryEntry);
}

/// Counts the bytes [`emit`] would write.
struct Len(usize);

impl Sink for Len {
    fn bytes(&mut self, tag: u32, bytes: &[u8]) {
        self.0 += len_field_len(tag, bytes.len());
    }
    fn varint(&mut self, tag: u32, value: u64) {
        self.0 += varint_field_len(tag, value);
    }
    fn entry(&mut self, tag: u32, entry: &HistoryEntry) {
        self.0 += len_field_len(tag, history_entry_body_len(entry));
    }
}

impl Sink for Vec<u8> {
    fn bytes(&mut self, tag: u32, bytes: &[u8]) {
        put_bytes_field(tag, bytes, self);
    }
    fn varint(&mut self, tag: u32, value: u64) {
        put_varint_field(tag, value, self);
    }
    fn entry(&mut self, tag: u32, entry: &HistoryEntry) {
        put_len_prefix(tag, history_entry_body_len(entry), self);
        write_history_entry_body(entry, self);
    }
}

/// Whether `msg` (with `bloom` as its bloom field) is an ephemeral message, which the
/// spec dialect writes without a Lamport timestamp.
fn ephemeral_with(msg: &SdsMessage, bloom: &[u8]) -> bool {
    msg.lamport_timestamp == 0
        && msg.causal_history.is_empty()
        && bloom.is_empty()
        && !msg.content.is_empty()
}

/// Writes `msg`'s fields in `format`: nim-sds's order and presence rules (fields 1, 2,
/// 4, 5 and 6 always, 7 when non-empty, in field order), or `@waku/sds`'s (field order,
/// strings, bytes and the bloom only when non-empty, the Lamport timestamp unless the
/// message is ephemeral).
fn emit<S: Sink>(format: WireFormat, msg: &SdsMessage, bloom: &[u8], s: &mut S) {
    let f = format.fields();
    // Both dialects write the i64 as `uint64`: its two's complement.
    let lamport = msg.lamport_timestamp as u64;
    match format {
        WireFormat::Nim => {
            s.bytes(f.message_id, msg.message_id.as_bytes());
            s.varint(f.lamport, lamport);
            for e in &msg.causal_history {
                s.entry(f.causal_history, e);
            }
            s.bytes(f.channel_id, msg.channel_id.as_bytes());
            s.bytes(f.content, &msg.content);
            s.bytes(f.bloom, bloom);
            if !msg.sender_id.is_empty() {
                s.bytes(f.sender_id, msg.sender_id.as_bytes());
            }
        }
        WireFormat::Spec => {
            let mut non_empty = |tag, bytes: &[u8]| {
                if !bytes.is_empty() {
                    s.bytes(tag, bytes);
                }
            };
            non_empty(f.sender_id, msg.sender_id.as_bytes());
            non_empty(f.message_id, msg.message_id.as_bytes());
            non_empty(f.channel_id, msg.channel_id.as_bytes());
            if !ephemeral_with(msg, bloom) {
                s.varint(f.lamport, lamport);
            }
            for e in &msg.causal_history {
                s.entry(f.causal_history, e);
            }
            if !bloom.is_empty() {
                s.bytes(f.bloom, bloom);
            }
        }
    }
    for e in &msg.repair_request {
        s.entry(f.repair_request, e);
    }
    if format == WireFormat::Spec && !msg.content.is_empty() {
        s.bytes(f.content, &msg.content);
    }
}

/// Size of the encoding of `msg` in `format` with `bloom` as its bloom field.
pub(crate) fn message_body_len(format: WireFormat, msg: &SdsMessage, bloom: &[u8]) -> usize {
    let mut len = Len(0);
    emit(format, msg, bloom, &mut len);
    len.0
}

/// Appends the nim encoding of `msg`, with `bloom` as its field 6, to `buf`.
pub(crate) fn write_message_body(msg: &SdsMessage, bloom: &[u8], buf: &mut Vec<u8>) {
    emit(WireFormat::Nim, msg, bloom, buf);
}

/// Encodes `msg` exactly as nim-sds does, into one allocation of the exact size.
pub fn encode_message(msg: &SdsMessage) -> Vec<u8> {
    encode_message_with_bloom(msg, &msg.bloom_filter)
}

/// Encodes `msg` in `format` (its `bloom_filter` must already be that dialect's bloom
/// payload), into one allocation of the exact size.
pub fn encode_message_as(format: WireFormat, msg: &SdsMessage) -> Vec<u8> {
    encode_message_with_bloom_as(format, msg, &msg.bloom_filter)
}

/// Appends the nim-sds encoding of `msg` to `buf` (reserving exactly the space it
/// needs), so a caller can reuse one buffer across messages.
pub fn encode_message_into(msg: &SdsMessage, buf: &mut Vec<u8>) {
    buf.reserve(encoded_message_len(msg));
    emit(WireFormat::Nim, msg, &msg.bloom_filter, buf);
}

/// Number of bytes [`encode_message`] produces for `msg`, computed without encoding.
pub fn encoded_message_len(msg: &SdsMessage) -> usize {
    message_body_len(WireFormat::Nim, msg, &msg.bloom_filter)
}

/// Encode `msg` but with `bloom` as field 6 instead of `msg.bloom_filter` (lets callers
/// that keep messages without their bloom attach the current one without cloning the
/// message). Field 6 is written even when `bloom` is empty, as nim-sds does.
pub fn encode_message_with_bloom(msg: &SdsMessage, bloom: &[u8]) -> Vec<u8> {
    encode_message_with_bloom_as(WireFormat::Nim, msg, bloom)
}

/// [`encode_message_with_bloom`] in `format`; `bloom` is that dialect's bloom payload
/// (see `BloomFilter::encode_as`).
pub fn encode_message_with_bloom_as(format: WireFormat, msg: &SdsMessage, bloom: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(message_body_len(format, msg, bloom));
    emit(format, msg, bloom, &mut buf);
    buf
}

/// A message as this library stores it (history rows, snapshots, recordings): its wire
/// encoding with field 6 empty, since a stored copy never needs the sender's bloom.
pub fn encode_stored_message(msg: &SdsMessage) -> Vec<u8> {
    encode_message_with_bloom(msg, &[])
}

impl From<FramingError> for DecodeError {
    fn from(e: FramingError) -> Self {
        DecodeError::Malformed(e.to_string())
    }
}

/// Validates `bytes` as UTF-8 and copies them into a `String`.
pub(crate) fn utf8_string(bytes: &[u8], field: &'static str) -> Result<String, DecodeError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(DecodeError::InvalidUtf8(field)),
    }
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// Field names used in errors about one history entry, depending on where it sits.
#[derive(Clone, Copy)]
pub(crate) struct EntryNames {
    pub(crate) message_id: &'static str,
    pub(crate) retrieval_hint: &'static str,
    pub(crate) sender_id: &'static str,
}

/// Names for a history entry decoded on its own.
pub(crate) const STANDALONE_ENTRY: EntryNames = EntryNames {
    message_id: "HistoryEntry.message_id",
    retrieval_hint: "HistoryEntry.retrieval_hint",
    sender_id: "HistoryEntry.sender_id",
};
const CAUSAL_ENTRY: EntryNames = EntryNames {
    message_id: "causal_history[].message_id",
    retrieval_hint: "causal_history[].retrieval_hint",
    sender_id: "causal_history[].sender_id",
};
const REPAIR_ENTRY: EntryNames = EntryNames {
    message_id: "repair_request[].message_id",
    retrieval_hint: "repair_request[].retrieval_hint",
    sender_id: "repair_request[].sender_id",
};

/// Decodes a history entry, naming its fields in errors with `names`.
pub(crate) fn decode_history_entry_named(
    bytes: &[u8],
    names: EntryNames,
) -> Result<HistoryEntry, DecodeError> {
    decode_history_entry_within(bytes, names, &DecodeLimits::unbounded())
}

/// [`decode_history_entry_named`] refusing ids and hints longer than `limits` allow.
fn decode_history_entry_within(
    bytes: &[u8],
    names: EntryNames,
    limits: &DecodeLimits,
) -> Result<HistoryEntry, DecodeError> {
    let mut reader = FieldReader::new(bytes);
    let mut id = None;
    let mut hint: &[u8] = &[];
    let mut sender: &[u8] = &[];
    while let Some((number, value)) = reader.next_field()? {
        match (number, value) {
            (1, FieldValue::Bytes(b)) => id = Some(b),
            (2, FieldValue::Bytes(b)) => hint = b,
            (3, FieldValue::Bytes(b)) => sender = b,
            _ => {}
        }
    }
    let id = id.ok_or(DecodeError::MissingField(names.message_id))?;
    limits.check_len(id, names.message_id)?;
    limits.check_len(hint, names.retrieval_hint)?;
    limits.check_len(sender, names.sender_id)?;
    Ok(HistoryEntry {
        message_id: utf8_string(id, names.message_id)?,
        retrieval_hint: hint.to_vec(),
        sender_id: utf8_string(sender, names.sender_id)?,
    })
}

/// Decodes a history entry on its own. `message_id` (field 1) is required.
pub fn decode_history_entry(bytes: &[u8]) -> Result<HistoryEntry, DecodeError> {
    decode_history_entry_named(bytes, STANDALONE_ENTRY)
}

/// Decodes an SDS message, accepting exactly what nim-sds accepts (and additionally
/// requiring UTF-8 ids). Fields 1 (`message_id`), 2 (`lamport_timestamp`), 4
/// (`channel_id`) and 5 (`content`) are required; a missing bloom (6) or sender (7) is
/// empty. Never panics; allocates in proportion to the input only.
pub fn decode_message(bytes: &[u8]) -> Result<SdsMessage, DecodeError> {
    let Received {
        mut message, bloom, ..
    } = decode_received(bytes)?;
    message.bloom_filter = bloom.to_vec();
    Ok(message)
}

/// Decodes a stored message (the inverse of [`encode_stored_message`]) with the rules of
/// [`decode_message`]; a non-empty bloom field, should a row carry one, is kept.
pub fn decode_stored_message(bytes: &[u8]) -> Result<SdsMessage, DecodeError> {
    decode_message(bytes)
}

/// A received message whose bloom filter is left in the received bytes: the bloom is
/// only read (for acknowledgements) while the message is processed, and copying 18 KB
/// per message would cost more than the rest of the decode.
#[derive(Debug)]
pub struct Received<'a> {
    /// The message, `bloom_filter` empty.
    pub message: SdsMessage,
    /// The encoded bloom filter as received, in `format`'s bloom encoding (empty when
    /// absent).
    pub bloom: &'a [u8],
    /// The dialect the message arrived in (see `protocol::dialect` for the rule).
    pub format: WireFormat,
    /// A spec message without a Lamport timestamp (an ephemeral one); `false` for nim.
    lamport_absent: bool,
}

impl Received<'_> {
    /// Whether this is an ephemeral message: in the nim dialect
    /// [`SdsMessage::is_ephemeral`] (bloom included); in the spec dialect, as `@waku/sds`
    /// decides, a message without a Lamport timestamp and with content.
    pub fn is_ephemeral(&self) -> bool {
        match self.format {
            WireFormat::Nim => self.bloom.is_empty() && self.message.is_ephemeral(),
            WireFormat::Spec => self.lamport_absent && !self.message.content.is_empty(),
        }
    }
}

/// [`decode_message`] without copying the bloom filter out of `bytes`.
pub fn decode_received(bytes: &[u8]) -> Result<Received<'_>, DecodeError> {
    decode_received_within(bytes, &DecodeLimits::unbounded())
}

/// The channel id of a message that was refused undecoded (to count the refusal against
/// its channel), if the bytes are framed well enough to find one. Reads framing only.
pub(crate) fn peek_channel_id(bytes: &[u8]) -> Option<&str> {
    let tag = u64::from(detect(bytes).fields().channel_id);
    let mut reader = FieldReader::new(bytes);
    let mut channel = None;
    while let Ok(Some((number, value))) = reader.next_field() {
        if let FieldValue::Bytes(b) = value {
            if number == tag {
                channel = Some(b);
            }
        }
    }
    std::str::from_utf8(channel?).ok()
}

/// [`decode_received`] for a message from a peer: refuses, as soon as it sees them, more
/// entries and longer ids or hints than `limits` allow. The dialect is detected first
/// (see `protocol::dialect`); then both are read with the same rules: last occurrence of
/// a singular field wins, fields with an unexpected wire type and unknown fields are
/// skipped. A nim message requires `message_id`, `lamport_timestamp`, `channel_id` and
/// `content`; a spec message (proto3, as `@waku/sds` writes it) requires nothing but its
/// detecting field: absent strings and bytes are empty, an absent Lamport timestamp is 0
/// and makes a message with content ephemeral.
pub fn decode_received_within<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Result<Received<'a>, DecodeError> {
    let format = detect(bytes);
    let f = format.fields();
    let tag = |t: u32| u64::from(t);
    let mut reader = FieldReader::new(bytes);
    let mut id = None;
    let mut lamport = None;
    let mut channel = None;
    let mut content = None;
    let mut bloom: &[u8] = &[];
    let mut sender: &[u8] = &[];
    let mut causal_history = Vec::new();
    let mut repair_request = Vec::new();
    while let Some((number, value)) = reader.next_field()? {
        match value {
            FieldValue::Varint(v) if number == tag(f.lamport) => lamport = Some(v.as_u64()),
            FieldValue::Bytes(b) if number == tag(f.message_id) => id = Some(b),
            FieldValue::Bytes(b) if number == tag(f.channel_id) => channel = Some(b),
            FieldValue::Bytes(b) if number == tag(f.content) => content = Some(b),
            FieldValue::Bytes(b) if number == tag(f.bloom) => bloom = b,
            FieldValue::Bytes(b) if number == tag(f.sender_id) => sender = b,
            FieldValue::Bytes(b) if number == tag(f.causal_history) => {
                if causal_history.len() == limits.max_causal_history {
                    return Err(DecodeError::TooManyEntries {
                        field: "causal_history",
                        max: limits.max_causal_history,
                    });
                }
                causal_history.push(decode_history_entry_within(b, CAUSAL_ENTRY, limits)?)
            }
            FieldValue::Bytes(b) if number == tag(f.repair_request) => {
                if repair_request.len() == limits.max_repair_requests {
                    return Err(DecodeError::TooManyEntries {
                        field: "repair_request",
                        max: limits.max_repair_requests,
                    });
                }
                repair_request.push(decode_history_entry_within(b, REPAIR_ENTRY, limits)?)
            }
            _ => {}
        }
    }
    let lamport_absent = lamport.is_none();
    let (id, lamport, channel, content) = match format {
        WireFormat::Nim => (
            id.ok_or(DecodeError::MissingField("message_id"))?,
            lamport.ok_or(DecodeError::MissingField("lamport_timestamp"))?,
            channel.ok_or(DecodeError::MissingField("channel_id"))?,
            content.ok_or(DecodeError::MissingField("content"))?,
        ),
        WireFormat::Spec => (
            id.unwrap_or_default(),
            lamport.unwrap_or(0),
            channel.unwrap_or_default(),
            content.unwrap_or_default(),
        ),
    };
    limits.check_len(id, "message_id")?;
    limits.check_len(channel, "channel_id")?;
    limits.check_len(sender, "sender_id")?;
    let message = SdsMessage {
        message_id: utf8_string(id, "message_id")?,
        lamport_timestamp: lamport as i64,
        causal_history,
        channel_id: utf8_string(channel, "channel_id")?,
        content: content.to_vec(),
        bloom_filter: Vec::new(),
        sender_id: utf8_string(sender, "sender_id")?,
        repair_request,
    };
    Ok(Received {
        message,
        bloom,
        format,
        lamport_absent: format == WireFormat::Spec && lamport_absent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test hex")
    }

    fn entry(id: &str, hint: &[u8], sender: &str) -> HistoryEntry {
        HistoryEntry {
            message_id: id.into(),
            retrieval_hint: hint.to_vec(),
            sender_id: sender.into(),
        }
    }

    fn msg(id: &str, lamport: i64, channel: &str, content: &[u8]) -> SdsMessage {
        SdsMessage {
            message_id: id.into(),
            lamport_timestamp: lamport,
            channel_id: channel.into(),
            content: content.to_vec(),
            ..SdsMessage::default()
        }
    }

    /// Vectors taken from nim-sds's output (fixtures/nim-sds/wire.json).
    fn nim_vectors() -> Vec<(&'static str, SdsMessage, &'static str)> {
        let mut causal = msg("m3", 42, "chan-x", b"payload");
        causal.sender_id = "alice".into();
        causal.causal_history = vec![
            entry("m1", b"", ""),
            entry("m2", b"hint-2", "bob"),
            entry("m0", b"", "carol"),
        ];
        let mut repair = msg("m9", 7, "ch", b"x");
        repair.sender_id = "bob".into();
        repair.causal_history = vec![entry("m8", b"", "alice")];
        repair.repair_request = vec![entry("mx", b"", "carol"), entry("my", b"h", "dave")];
        vec![
            (
                "minimal",
                msg("m1", 1, "c1", b"hello"),
                "0a026d311001220263312a0568656c6c6f3200",
            ),
            (
                "empty_content_zero_lamport",
                msg("", 0, "ch", b""),
                "0a001000220263682a003200",
            ),
            (
                "negative_lamport",
                msg("neg", -1, "ch", &[1]),
                "0a036e656710ffffffffffffffffff01220263682a01013200",
            ),
            (
                "big_lamport",
                msg("big", 1_763_820_000_123, "ch", &[1, 2, 3]),
                "0a0362696710fba6f5deaa33220263682a030102033200",
            ),
            (
                "causal_history_with_hints_and_senders",
                causal,
                "0a026d33102a1a040a026d311a110a026d32120668696e742d321a03626f621a0b0a026d30\
                 1a056361726f6c22066368616e2d782a077061796c6f616432003a05616c696365",
            ),
            (
                "repair_request",
                repair,
                "0a026d3910071a0b0a026d381a05616c696365220263682a017832003a03626f626a0b0a02\
                 6d781a056361726f6c6a0d0a026d791201681a0464617665",
            ),
        ]
    }

    #[test]
    fn encodes_exactly_as_nim_sds() {
        for (name, m, wire_hex) in nim_vectors() {
            assert_eq!(hex::encode(encode_message(&m)), wire_hex, "{name}");
            assert_eq!(encoded_message_len(&m), wire_hex.len() / 2, "{name}");
        }
    }

    #[test]
    fn decodes_nim_sds_bytes_to_the_same_fields() {
        for (name, m, wire_hex) in nim_vectors() {
            assert_eq!(decode_message(&h(wire_hex)), Ok(m), "{name}");
        }
    }

    #[test]
    fn encoding_allocates_exactly_once_at_the_exact_size() {
        let mut m = msg("id", 5, "ch", &[7; 100]);
        m.bloom_filter = vec![0xab; 18_752];
        m.causal_history = (0..10)
            .map(|i| entry(&format!("h{i}"), b"hh", "s"))
            .collect();
        let bytes = encode_message(&m);
        assert_eq!(bytes.len(), encoded_message_len(&m));
        assert_eq!(bytes.capacity(), bytes.len());
        assert_eq!(decode_message(&bytes), Ok(m));
    }

    #[test]
    fn encode_into_appends_and_with_bloom_replaces_field_6() {
        let mut m = msg("m1", 1, "c1", b"hello");
        let mut buf = vec![0xee];
        encode_message_into(&m, &mut buf);
        assert_eq!(buf[0], 0xee);
        assert_eq!(
            hex::encode(&buf[1..]),
            "0a026d311001220263312a0568656c6c6f3200"
        );

        // The message's own bloom is ignored in favour of the one passed in.
        m.bloom_filter = vec![9, 9, 9];
        let with = encode_message_with_bloom(&m, &[1, 2]);
        assert_eq!(
            hex::encode(&with),
            "0a026d311001220263312a0568656c6c6f32020102"
        );
        assert_eq!(
            hex::encode(encode_message_with_bloom(&m, &[])),
            "0a026d311001220263312a0568656c6c6f3200"
        );
        assert_eq!(
            decode_message(&with).map(|d| d.bloom_filter),
            Ok(vec![1, 2])
        );
        assert_eq!(
            encode_message(&m),
            encode_message_with_bloom(&m, &[9, 9, 9])
        );
    }

    #[test]
    fn nim_decode_cases_are_accepted_and_rejected_as_nim_does() {
        // (name, hex, nim accepts)
        let cases = [
            ("empty", "", false),
            ("only_id", "0a026d31", false),
            ("no_content", "0a026d31100122026331", false),
            ("no_channel", "0a026d3110012a00", false),
            ("truncated", "0a056d31", false),
            ("bad_wiretype", "0b026d31", false),
            ("minimal", "0a026d311001220263312a0568656c6c6f3200", true),
        ];
        for (name, hex_str, accepts) in cases {
            assert_eq!(decode_message(&h(hex_str)).is_ok(), accepts, "{name}");
        }
        assert_eq!(
            decode_message(&[]),
            Err(DecodeError::MissingField("message_id"))
        );
        assert_eq!(
            decode_message(&h("0a026d31")),
            Err(DecodeError::MissingField("lamport_timestamp"))
        );
        assert_eq!(
            decode_message(&h("0a026d3110012a00")),
            Err(DecodeError::MissingField("channel_id"))
        );
        assert_eq!(
            decode_message(&h("0a026d31100122026331")),
            Err(DecodeError::MissingField("content"))
        );
        assert!(matches!(
            decode_message(&h("0a056d31")),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode_message(&h("0b026d31")),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn bloom_and_sender_are_optional_on_decode() {
        // minimal without its field 6
        let m = decode_message(&h("0a026d311001220263312a0568656c6c6f")).expect("decodes");
        assert_eq!(m, msg("m1", 1, "c1", b"hello"));
    }

    #[test]
    fn reads_like_nim_minprotobuf() {
        let base = "0a026d311001220263312a0568656c6c6f3200";
        // Last occurrence of a singular field wins.
        let m = decode_message(&h(&format!("{base}0a026d32"))).expect("decodes");
        assert_eq!(m.message_id, "m2");
        // A field with an unexpected wire type is skipped: message_id as a varint does not
        // count, lamport as bytes does not count.
        assert_eq!(
            decode_message(&h(&format!("{base}0805"))).map(|m| m.message_id),
            Ok("m1".into())
        );
        assert_eq!(
            decode_message(&h("0805100122026331 2a00".replace(' ', "").as_str())),
            Err(DecodeError::MissingField("message_id"))
        );
        assert_eq!(
            decode_message(&h("0a026d31120101220263312a00")),
            Err(DecodeError::MissingField("lamport_timestamp"))
        );
        // Unknown fields of every supported wire type (and field number 0) are skipped.
        let unknown = "4001 4d01020304 490102030405060708 5a03616263 0001";
        let m =
            decode_message(&h(&format!("{base}{}", unknown.replace(' ', "")))).expect("decodes");
        assert_eq!(m, msg("m1", 1, "c1", b"hello"));
        // Groups (3, 4) and wire types 6, 7 are rejected.
        for wt in ["43", "44", "46", "47"] {
            assert!(
                matches!(
                    decode_message(&h(&format!("{base}{wt}00"))),
                    Err(DecodeError::Malformed(_))
                ),
                "{wt}"
            );
        }
        // Varints: the tenth byte's excess bits are ignored; an eleventh byte is an error.
        let m = decode_message(&h("0a00 10ffffffffffffffffff7f 2200 2a00"
            .replace(' ', "")
            .as_str()))
        .expect("decodes");
        assert_eq!(m.lamport_timestamp, -1);
        assert!(matches!(
            decode_message(&h("0a00 10ffffffffffffffffffff01 2200 2a00"
                .replace(' ', "")
                .as_str())),
            Err(DecodeError::Malformed(_))
        ));
        // Truncated fixed-width and length fields.
        for tail in ["4d0102", "49010203", "5a05616263", "10", "10ff"] {
            assert!(
                matches!(
                    decode_message(&h(&format!("{base}{tail}"))),
                    Err(DecodeError::Malformed(_))
                ),
                "{tail}"
            );
        }
        // A length that does not fit in usize or exceeds the input never allocates.
        assert!(matches!(
            decode_message(&h("0affffffffffffffffff01")),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn history_entries_follow_nim() {
        assert_eq!(
            hex::encode(encode_history_entry(&entry("m1", b"", ""))),
            "0a026d31"
        );
        assert_eq!(
            hex::encode(encode_history_entry(&entry("", b"", ""))),
            "0a00"
        );
        assert_eq!(
            hex::encode(encode_history_entry(&entry("my", b"h", "dave"))),
            "0a026d791201681a0464617665"
        );
        assert_eq!(
            decode_history_entry(&h("0a026d791201681a0464617665")),
            Ok(entry("my", b"h", "dave"))
        );
        assert_eq!(decode_history_entry(&h("0a00")), Ok(entry("", b"", "")));
        assert_eq!(
            decode_history_entry(&h("1201681a0464617665")),
            Err(DecodeError::MissingField("HistoryEntry.message_id"))
        );
        // An entry without an id inside a message makes the message invalid, as in nim-sds.
        assert_eq!(
            decode_message(&h("0a026d3110011a03120168220263312a00")),
            Err(DecodeError::MissingField("causal_history[].message_id"))
        );
        assert_eq!(
            decode_message(&h("0a026d311001220263312a006a03120168")),
            Err(DecodeError::MissingField("repair_request[].message_id"))
        );
        // The old nim-sds format (causal history as plain strings) is not an entry.
        assert!(decode_message(&h("0a026d3110011a026d30220263312a00")).is_err());
    }

    /// Replaces the first occurrence of `needle` in `bytes` (which must occur) by bytes of
    /// the same length that are not UTF-8.
    fn corrupt(bytes: &[u8], needle: &[u8]) -> Vec<u8> {
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("needle present");
        let mut out = bytes.to_vec();
        out[at] = 0xff;
        out
    }

    fn full_message() -> SdsMessage {
        let mut m = msg("MID", 3, "CHN", b"content");
        m.sender_id = "SND".into();
        m.causal_history = vec![entry("CHI", b"hint", "CHS")];
        m.repair_request = vec![entry("RRI", b"", "RRS")];
        m
    }

    fn assert_invalid_utf8(needle: &[u8], field: &'static str) {
        let bytes = corrupt(&encode_message(&full_message()), needle);
        let err = decode_message(&bytes).expect_err("invalid UTF-8 rejected");
        assert_eq!(err, DecodeError::InvalidUtf8(field));
        assert!(err.to_string().contains(field), "{err}");
    }

    #[test]
    fn invalid_utf8_message_id_is_rejected() {
        assert_invalid_utf8(b"MID", "message_id");
    }

    #[test]
    fn invalid_utf8_channel_id_is_rejected() {
        assert_invalid_utf8(b"CHN", "channel_id");
    }

    #[test]
    fn invalid_utf8_sender_id_is_rejected() {
        assert_invalid_utf8(b"SND", "sender_id");
    }

    #[test]
    fn invalid_utf8_causal_history_ids_are_rejected() {
        assert_invalid_utf8(b"CHI", "causal_history[].message_id");
        assert_invalid_utf8(b"CHS", "causal_history[].sender_id");
    }

    #[test]
    fn invalid_utf8_repair_request_ids_are_rejected() {
        assert_invalid_utf8(b"RRI", "repair_request[].message_id");
        assert_invalid_utf8(b"RRS", "repair_request[].sender_id");
    }

    #[test]
    fn invalid_utf8_standalone_history_entry_ids_are_rejected() {
        let bytes = encode_history_entry(&entry("EID", b"", "ESD"));
        assert_eq!(
            decode_history_entry(&corrupt(&bytes, b"EID")),
            Err(DecodeError::InvalidUtf8("HistoryEntry.message_id"))
        );
        assert_eq!(
            decode_history_entry(&corrupt(&bytes, b"ESD")),
            Err(DecodeError::InvalidUtf8("HistoryEntry.sender_id"))
        );
    }

    #[test]
    fn content_and_hints_may_be_any_bytes() {
        let mut m = msg("id", 1, "ch", &[0xff, 0xfe, 0x00]);
        m.bloom_filter = vec![0xc3, 0x28];
        m.causal_history = vec![entry("d", &[0xff], "")];
        assert_eq!(decode_message(&encode_message(&m)), Ok(m));
    }

    /// The same schema declared with `prost` derive, with `optional` fields so presence is
    /// explicit: used to check our hand-driven codec against prost's generated one.
    mod derived {
        #[derive(Clone, PartialEq, prost::Message)]
        pub(super) struct Entry {
            #[prost(string, optional, tag = "1")]
            pub message_id: Option<String>,
            #[prost(bytes = "vec", optional, tag = "2")]
            pub retrieval_hint: Option<Vec<u8>>,
            #[prost(string, optional, tag = "3")]
            pub sender_id: Option<String>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub(super) struct Message {
            #[prost(string, optional, tag = "1")]
            pub message_id: Option<String>,
            #[prost(int64, optional, tag = "2")]
            pub lamport_timestamp: Option<i64>,
            #[prost(message, repeated, tag = "3")]
            pub causal_history: Vec<Entry>,
            #[prost(string, optional, tag = "4")]
            pub channel_id: Option<String>,
            #[prost(bytes = "vec", optional, tag = "5")]
            pub content: Option<Vec<u8>>,
            #[prost(bytes = "vec", optional, tag = "6")]
            pub bloom_filter: Option<Vec<u8>>,
            #[prost(string, optional, tag = "7")]
            pub sender_id: Option<String>,
            #[prost(message, repeated, tag = "13")]
            pub repair_request: Vec<Entry>,
        }
    }

    fn non_empty<T: AsRef<[u8]> + Clone>(v: &T) -> Option<T> {
        (!v.as_ref().is_empty()).then(|| v.clone())
    }

    fn to_derived_entry(e: &HistoryEntry) -> derived::Entry {
        derived::Entry {
            message_id: Some(e.message_id.clone()),
            retrieval_hint: non_empty(&e.retrieval_hint),
            sender_id: non_empty(&e.sender_id),
        }
    }

    fn to_derived(m: &SdsMessage) -> derived::Message {
        derived::Message {
            message_id: Some(m.message_id.clone()),
            lamport_timestamp: Some(m.lamport_timestamp),
            causal_history: m.causal_history.iter().map(to_derived_entry).collect(),
            channel_id: Some(m.channel_id.clone()),
            content: Some(m.content.clone()),
            bloom_filter: Some(m.bloom_filter.clone()),
            sender_id: non_empty(&m.sender_id),
            repair_request: m.repair_request.iter().map(to_derived_entry).collect(),
        }
    }

    #[test]
    fn agrees_with_prost_derived_schema_both_ways() {
        use prost::Message as _;
        let mut big = full_message();
        big.bloom_filter = vec![0x5a; 18_752];
        big.lamport_timestamp = i64::MIN;
        let mut all: Vec<SdsMessage> = nim_vectors().into_iter().map(|(_, m, _)| m).collect();
        all.push(full_message());
        all.push(big);
        for m in all {
            let ours = encode_message(&m);
            let theirs = to_derived(&m).encode_to_vec();
            assert_eq!(ours, theirs, "{}", m.message_id);
            assert_eq!(
                derived::Message::decode(ours.as_slice()),
                Ok(to_derived(&m))
            );
        }
    }
}
