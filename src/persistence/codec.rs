//! The snapshot codec: protocol state as bytes, field-compatible with nim-sds's
//! `snapshot_codec.nim`, so a store written by either implementation loads in the other.
//!
//! Every message inside a snapshot is an SDS wire encoding ([`crate::protocol::wire`])
//! written with an empty bloom field (field 6 present, zero length). Times are Unix
//! milliseconds as `uint64` varints.
//!
//! | message | fields |
//! | --- | --- |
//! | `ChannelMeta` | 1 `schema_version` (= 1, required), 2 `lamport` (i64 as uint64, required), 3 repeated `UnacknowledgedMessage`, 4 repeated `IncomingMessage`, 5 repeated `OutgoingRepairKV`, 6 repeated `IncomingRepairKV`, *7 repeated met id (ours)* |
//! | `UnacknowledgedMessage` | 1 message (required), 2 send time (required), 3 resend attempts (uint32), *4 bloom hits (ours, uint32)* |
//! | `IncomingMessage` | 1 message (required), 2 repeated missing dep id, *3 received-at time (ours)* |
//! | `OutgoingRepairKV` | 1 message id (required), 2 `OutgoingRepairEntry` (required) |
//! | `OutgoingRepairEntry` | 1 `HistoryEntry` (required), 2 T_req time (required) |
//! | `IncomingRepairKV` | 1 message id (required), 2 `IncomingRepairEntry` (required) |
//! | `IncomingRepairEntry` | 1 `HistoryEntry` (required), 2 cached message bytes (required), 3 T_resp time (required) |
//! | `ChannelData` | 1 `ChannelMeta` (required), 2 repeated history message |
//! | `HistoryUpdate` | 1 repeated appended message, 2 repeated evicted id |
//!
//! Like nim-sds, the encoder writes every scalar field even when it is zero (the schema
//! version, the Lamport clock, resend attempts, times) and every bytes field even when
//! empty (the cached message). The fields nim-sds does not have (in italics) are written
//! only when non-zero or non-empty, so state nim-sds could have produced encodes to
//! exactly nim-sds's bytes; nim-sds skips them when reading.
//!
//! The decoder follows nim-sds's reading rules (see [`crate::protocol::wire`]: last
//! occurrence wins, unexpected wire types and unknown fields are skipped) and refuses
//! schema versions other than [`SCHEMA_VERSION`]. Ids must be valid UTF-8.

use crate::protocol::message::{HistoryEntry, SdsMessage};
use crate::protocol::protobuf::{
    len_field_len, put_bytes_field, put_len_prefix, put_varint_field, varint_field_len,
    FieldReader, FieldValue, FramingError, Varint,
};
use crate::protocol::snapshot::{
    ChannelData, ChannelMeta, HistoryUpdate, IncomingEntry, IncomingRepair, OutgoingEntry,
    OutgoingRepair,
};
use crate::protocol::wire::{
    self, decode_history_entry_named, history_entry_body_len, message_body_len, utf8_string,
    write_history_entry_body, write_message_body, DecodeError, EntryNames,
};
use crate::protocol::WireFormat;

/// The only `ChannelMeta` schema version this build writes and reads.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// Why bytes could not be decoded as snapshot state.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The `ChannelMeta` was written with a schema this build does not know.
    #[error(
        "unsupported snapshot schema version {0} (this build reads version {SCHEMA_VERSION} only)"
    )]
    UnsupportedSchemaVersion(u32),
    /// A required field (named as `Message.field`) is absent; a `ChannelMeta` without a
    /// schema version reports `ChannelMeta.schema_version`.
    #[error("missing required snapshot field `{0}`")]
    MissingField(&'static str),
    /// An SDS message or history entry stored in the snapshot (in the named field) does
    /// not decode.
    #[error("invalid stored message in `{field}`: {source}")]
    Message {
        /// Where the message or entry sits, e.g. `UnacknowledgedMessage.message`.
        field: &'static str,
        /// Why it does not decode.
        source: DecodeError,
    },
    /// The bytes are not well-formed protobuf.
    #[error("malformed snapshot: {0}")]
    Malformed(String),
    /// An id field (named) holds bytes that are not valid UTF-8.
    #[error("snapshot field `{0}` is not valid UTF-8")]
    InvalidUtf8(&'static str),
}

impl From<FramingError> for SnapshotError {
    fn from(e: FramingError) -> Self {
        SnapshotError::Malformed(e.to_string())
    }
}

// Field numbers.
const META_SCHEMA_VERSION: u32 = 1;
const META_LAMPORT: u32 = 2;
const META_OUTGOING: u32 = 3;
const META_INCOMING: u32 = 4;
const META_OUTGOING_REPAIR: u32 = 5;
const META_INCOMING_REPAIR: u32 = 6;
const META_MET_IDS: u32 = 7;

const UNACKED_MESSAGE: u32 = 1;
const UNACKED_SEND_TIME: u32 = 2;
const UNACKED_ATTEMPTS: u32 = 3;
const UNACKED_BLOOM_HITS: u32 = 4;

const INCOMING_MESSAGE: u32 = 1;
const INCOMING_MISSING_DEP: u32 = 2;
const INCOMING_RECEIVED_AT: u32 = 3;

const KV_ID: u32 = 1;
const KV_ENTRY: u32 = 2;

const OUT_REPAIR_ENTRY: u32 = 1;
const OUT_REPAIR_TIME: u32 = 2;

const IN_REPAIR_ENTRY: u32 = 1;
const IN_REPAIR_CACHED: u32 = 2;
const IN_REPAIR_TIME: u32 = 3;

const DATA_META: u32 = 1;
const DATA_HISTORY: u32 = 2;

const UPDATE_APPEND: u32 = 1;
const UPDATE_EVICT: u32 = 2;

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// A stored message: its wire encoding with an empty bloom field.
fn stored_len(msg: &SdsMessage) -> usize {
    message_body_len(WireFormat::Nim, msg, &[])
}

fn put_stored_message(tag: u32, msg: &SdsMessage, buf: &mut Vec<u8>) {
    put_len_prefix(tag, stored_len(msg), buf);
    write_message_body(msg, &[], buf);
}

fn put_history_entry(tag: u32, e: &HistoryEntry, buf: &mut Vec<u8>) {
    put_len_prefix(tag, history_entry_body_len(e), buf);
    write_history_entry_body(e, buf);
}

// The outgoing and incoming entries take their message's encoded length from the caller,
// which computes it once per entry for both the entry's length prefix and its body.

fn outgoing_len(o: &OutgoingEntry, msg_len: usize) -> usize {
    let mut n = len_field_len(UNACKED_MESSAGE, msg_len)
        + varint_field_len(UNACKED_SEND_TIME, o.send_time_ms)
        + varint_field_len(UNACKED_ATTEMPTS, u64::from(o.resend_attempts));
    if o.bloom_hits != 0 {
        n += varint_field_len(UNACKED_BLOOM_HITS, u64::from(o.bloom_hits));
    }
    n
}

fn put_outgoing(o: &OutgoingEntry, buf: &mut Vec<u8>) {
    let msg_len = stored_len(&o.message);
    put_len_prefix(META_OUTGOING, outgoing_len(o, msg_len), buf);
    put_len_prefix(UNACKED_MESSAGE, msg_len, buf);
    write_message_body(&o.message, &[], buf);
    put_varint_field(UNACKED_SEND_TIME, o.send_time_ms, buf);
    put_varint_field(UNACKED_ATTEMPTS, u64::from(o.resend_attempts), buf);
    if o.bloom_hits != 0 {
        put_varint_field(UNACKED_BLOOM_HITS, u64::from(o.bloom_hits), buf);
    }
}

fn incoming_len(i: &IncomingEntry, msg_len: usize) -> usize {
    let mut n = len_field_len(INCOMING_MESSAGE, msg_len);
    for dep in &i.missing_deps {
        n += len_field_len(INCOMING_MISSING_DEP, dep.len());
    }
    if i.received_at_ms != 0 {
        n += varint_field_len(INCOMING_RECEIVED_AT, i.received_at_ms);
    }
    n
}

fn put_incoming(i: &IncomingEntry, buf: &mut Vec<u8>) {
    let msg_len = stored_len(&i.message);
    put_len_prefix(META_INCOMING, incoming_len(i, msg_len), buf);
    put_len_prefix(INCOMING_MESSAGE, msg_len, buf);
    write_message_body(&i.message, &[], buf);
    for dep in &i.missing_deps {
        put_bytes_field(INCOMING_MISSING_DEP, dep.as_bytes(), buf);
    }
    if i.received_at_ms != 0 {
        put_varint_field(INCOMING_RECEIVED_AT, i.received_at_ms, buf);
    }
}

fn out_repair_entry_len(r: &OutgoingRepair) -> usize {
    len_field_len(OUT_REPAIR_ENTRY, history_entry_body_len(&r.entry))
        + varint_field_len(OUT_REPAIR_TIME, r.min_time_ms)
}

fn out_repair_kv_len(r: &OutgoingRepair) -> usize {
    len_field_len(KV_ID, r.entry.message_id.len())
        + len_field_len(KV_ENTRY, out_repair_entry_len(r))
}

fn write_out_repair_kv(r: &OutgoingRepair, buf: &mut Vec<u8>) {
    put_bytes_field(KV_ID, r.entry.message_id.as_bytes(), buf);
    put_len_prefix(KV_ENTRY, out_repair_entry_len(r), buf);
    put_history_entry(OUT_REPAIR_ENTRY, &r.entry, buf);
    put_varint_field(OUT_REPAIR_TIME, r.min_time_ms, buf);
}

fn in_repair_entry_len(r: &IncomingRepair) -> usize {
    len_field_len(IN_REPAIR_ENTRY, history_entry_body_len(&r.entry))
        + len_field_len(IN_REPAIR_CACHED, r.cached_message.len())
        + varint_field_len(IN_REPAIR_TIME, r.min_time_ms)
}

fn in_repair_kv_len(r: &IncomingRepair) -> usize {
    len_field_len(KV_ID, r.entry.message_id.len()) + len_field_len(KV_ENTRY, in_repair_entry_len(r))
}

fn write_in_repair_kv(r: &IncomingRepair, buf: &mut Vec<u8>) {
    put_bytes_field(KV_ID, r.entry.message_id.as_bytes(), buf);
    put_len_prefix(KV_ENTRY, in_repair_entry_len(r), buf);
    put_history_entry(IN_REPAIR_ENTRY, &r.entry, buf);
    put_bytes_field(IN_REPAIR_CACHED, &r.cached_message, buf);
    put_varint_field(IN_REPAIR_TIME, r.min_time_ms, buf);
}

fn meta_len(meta: &ChannelMeta) -> usize {
    let mut n = varint_field_len(META_SCHEMA_VERSION, u64::from(SCHEMA_VERSION))
        + varint_field_len(META_LAMPORT, meta.lamport_timestamp as u64);
    for o in &meta.outgoing {
        n += len_field_len(META_OUTGOING, outgoing_len(o, stored_len(&o.message)));
    }
    for i in &meta.incoming {
        n += len_field_len(META_INCOMING, incoming_len(i, stored_len(&i.message)));
    }
    for r in &meta.outgoing_repair {
        n += len_field_len(META_OUTGOING_REPAIR, out_repair_kv_len(r));
    }
    for r in &meta.incoming_repair {
        n += len_field_len(META_INCOMING_REPAIR, in_repair_kv_len(r));
    }
    for id in &meta.met_ids {
        n += len_field_len(META_MET_IDS, id.len());
    }
    n
}

fn write_meta(meta: &ChannelMeta, buf: &mut Vec<u8>) {
    put_varint_field(META_SCHEMA_VERSION, u64::from(SCHEMA_VERSION), buf);
    put_varint_field(META_LAMPORT, meta.lamport_timestamp as u64, buf);
    for o in &meta.outgoing {
        put_outgoing(o, buf);
    }
    for i in &meta.incoming {
        put_incoming(i, buf);
    }
    for r in &meta.outgoing_repair {
        put_len_prefix(META_OUTGOING_REPAIR, out_repair_kv_len(r), buf);
        write_out_repair_kv(r, buf);
    }
    for r in &meta.incoming_repair {
        put_len_prefix(META_INCOMING_REPAIR, in_repair_kv_len(r), buf);
        write_in_repair_kv(r, buf);
    }
    for id in &meta.met_ids {
        put_bytes_field(META_MET_IDS, id.as_bytes(), buf);
    }
}

/// Encodes a channel's state (schema version 1) as nim-sds's snapshot codec does, into
/// one allocation of the exact size. Stored messages lose their bloom field.
pub fn encode_channel_meta(meta: &ChannelMeta) -> Vec<u8> {
    let mut buf = Vec::with_capacity(meta_len(meta));
    write_meta(meta, &mut buf);
    buf
}

/// Encodes a channel's meta and history (the bootstrap payload), history in append
/// order, messages without their bloom field.
pub fn encode_channel_data(d: &ChannelData) -> Vec<u8> {
    let meta_len = meta_len(&d.meta);
    let mut n = len_field_len(DATA_META, meta_len);
    for m in &d.history {
        n += len_field_len(DATA_HISTORY, stored_len(m));
    }
    let mut buf = Vec::with_capacity(n);
    put_len_prefix(DATA_META, meta_len, &mut buf);
    write_meta(&d.meta, &mut buf);
    for m in &d.history {
        put_stored_message(DATA_HISTORY, m, &mut buf);
    }
    buf
}

/// Encodes a batch of history changes: appended messages (without their bloom field),
/// then evicted ids.
pub fn encode_history_update(u: &HistoryUpdate) -> Vec<u8> {
    let mut n = 0;
    for m in &u.append {
        n += len_field_len(UPDATE_APPEND, stored_len(m));
    }
    for id in &u.evict {
        n += len_field_len(UPDATE_EVICT, id.len());
    }
    let mut buf = Vec::with_capacity(n);
    for m in &u.append {
        put_stored_message(UPDATE_APPEND, m, &mut buf);
    }
    for id in &u.evict {
        put_bytes_field(UPDATE_EVICT, id.as_bytes(), &mut buf);
    }
    buf
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

fn message_in(bytes: &[u8], field: &'static str) -> Result<SdsMessage, SnapshotError> {
    wire::decode_message(bytes).map_err(|source| SnapshotError::Message { field, source })
}

fn entry_in(
    bytes: &[u8],
    field: &'static str,
    names: EntryNames,
) -> Result<HistoryEntry, SnapshotError> {
    decode_history_entry_named(bytes, names)
        .map_err(|source| SnapshotError::Message { field, source })
}

fn id_in(bytes: &[u8], field: &'static str) -> Result<String, SnapshotError> {
    utf8_string(bytes, field).map_err(|_| SnapshotError::InvalidUtf8(field))
}

/// A `uint32` field, read as nim-sds reads one (at most 5 bytes).
fn u32_in(v: Varint, field: &'static str) -> Result<u32, SnapshotError> {
    v.as_u32().ok_or_else(|| {
        SnapshotError::Malformed(format!("varint of over 5 bytes in 32-bit field `{field}`"))
    })
}

fn decode_outgoing(bytes: &[u8]) -> Result<OutgoingEntry, SnapshotError> {
    let mut reader = FieldReader::new(bytes);
    let (mut message, mut send_time, mut attempts, mut hits) = (None, None, 0, 0);
    while let Some((number, value)) = reader.next_field()? {
        match (number, value) {
            (1, FieldValue::Bytes(b)) => message = Some(b),
            (2, FieldValue::Varint(v)) => send_time = Some(v.as_u64()),
            (3, FieldValue::Varint(v)) => {
                attempts = u32_in(v, "UnacknowledgedMessage.resend_attempts")?
            }
            (4, FieldValue::Varint(v)) => hits = u32_in(v, "UnacknowledgedMessage.bloom_hits")?,
            _ => {}
        }
    }
    let message = message.ok_or(SnapshotError::MissingField("UnacknowledgedMessage.message"))?;
    let send_time_ms = send_time.ok_or(SnapshotError::MissingField(
        "UnacknowledgedMessage.send_time",
    ))?;
    Ok(OutgoingEntry {
        message: message_in(message, "UnacknowledgedMessage.message")?,
        send_time_ms,
        resend_attempts: attempts,
        bloom_hits: hits,
    })
}

fn decode_incoming(bytes: &[u8]) -> Result<IncomingEntry, SnapshotError> {
    let mut reader = FieldReader::new(bytes);
    let (mut message, mut missing_deps, mut received_at_ms) = (None, Vec::new(), 0);
    while let Some((number, value)) = reader.next_field()? {
        match (number, value) {
            (1, FieldValue::Bytes(b)) => message = Some(b),
            (2, FieldValue::Bytes(b)) => {
                missing_deps.push(id_in(b, "IncomingMessage.missing_deps")?)
            }
            (3, FieldValue::Varint(v)) => received_at_ms = v.as_u64(),
            _ => {}
        }
    }
    let message = message.ok_or(SnapshotError::MissingField("IncomingMessage.message"))?;
    Ok(IncomingEntry {
        message: message_in(message, "IncomingMessage.message")?,
        missing_deps,
        received_at_ms,
    })
}

/// Splits a repair KV into its id and entry bytes, both required.
fn decode_kv<'a>(
    bytes: &'a [u8],
    id_field: &'static str,
    entry_field: &'static str,
) -> Result<(String, &'a [u8]), SnapshotError> {
    let mut reader = FieldReader::new(bytes);
    let (mut id, mut entry) = (None, None);
    while let Some((number, value)) = reader.next_field()? {
        match (number, value) {
            (1, FieldValue::Bytes(b)) => id = Some(b),
            (2, FieldValue::Bytes(b)) => entry = Some(b),
            _ => {}
        }
    }
    let id = id.ok_or(SnapshotError::MissingField(id_field))?;
    let entry = entry.ok_or(SnapshotError::MissingField(entry_field))?;
    Ok((id_in(id, id_field)?, entry))
}

const OUT_REPAIR_NAMES: EntryNames = EntryNames {
    message_id: "OutgoingRepairEntry.entry.message_id",
    retrieval_hint: "OutgoingRepairEntry.entry.retrieval_hint",
    sender_id: "OutgoingRepairEntry.entry.sender_id",
};
const IN_REPAIR_NAMES: EntryNames = EntryNames {
    message_id: "IncomingRepairEntry.entry.message_id",
    retrieval_hint: "IncomingRepairEntry.entry.retrieval_hint",
    sender_id: "IncomingRepairEntry.entry.sender_id",
};

fn decode_out_repair(bytes: &[u8]) -> Result<OutgoingRepair, SnapshotError> {
    let (id, entry_bytes) = decode_kv(
        bytes,
        "OutgoingRepairKV.message_id",
        "OutgoingRepairKV.entry",
    )?;
    let mut reader = FieldReader::new(entry_bytes);
    let (mut entry, mut time) = (None, None);
    while let Some((number, value)) = reader.next_field()? {
        match (number, value) {
            (1, FieldValue::Bytes(b)) => entry = Some(b),
            (2, FieldValue::Varint(v)) => time = Some(v.as_u64()),
            _ => {}
        }
    }
    let entry = entry.ok_or(SnapshotError::MissingField("OutgoingRepairEntry.entry"))?;
    let min_time_ms = time.ok_or(SnapshotError::MissingField(
        "OutgoingRepairEntry.min_time_repair_req",
    ))?;
    let mut entry = entry_in(entry, "OutgoingRepairEntry.entry", OUT_REPAIR_NAMES)?;
    // The KV's key is authoritative for which message the entry is about.
    entry.message_id = id;
    Ok(OutgoingRepair { entry, min_time_ms })
}

fn decode_in_repair(bytes: &[u8]) -> Result<IncomingRepair, SnapshotError> {
    let (id, entry_bytes) = decode_kv(
        bytes,
        "IncomingRepairKV.message_id",
        "IncomingRepairKV.entry",
    )?;
    let mut reader = FieldReader::new(entry_bytes);
    let (mut entry, mut cached, mut time) = (None, None, None);
    while let Some((number, value)) = reader.next_field()? {
        match (number, value) {
            (1, FieldValue::Bytes(b)) => entry = Some(b),
            (2, FieldValue::Bytes(b)) => cached = Some(b),
            (3, FieldValue::Varint(v)) => time = Some(v.as_u64()),
            _ => {}
        }
    }
    let entry = entry.ok_or(SnapshotError::MissingField("IncomingRepairEntry.entry"))?;
    let cached = cached.ok_or(SnapshotError::MissingField(
        "IncomingRepairEntry.cached_message",
    ))?;
    let min_time_ms = time.ok_or(SnapshotError::MissingField(
        "IncomingRepairEntry.min_time_repair_resp",
    ))?;
    let mut entry = entry_in(entry, "IncomingRepairEntry.entry", IN_REPAIR_NAMES)?;
    entry.message_id = id;
    Ok(IncomingRepair {
        entry,
        cached_message: cached.to_vec(),
        min_time_ms,
    })
}

/// Decodes a channel's state. Refuses a missing schema version or any version other
/// than `SCHEMA_VERSION` before looking at anything else; the Lamport clock (field 2)
/// is required, as in nim-sds. Never panics.
pub fn decode_channel_meta(bytes: &[u8]) -> Result<ChannelMeta, SnapshotError> {
    // First pass: check the framing of the whole buffer and read the scalars, so an
    // unknown schema is refused before its fields are interpreted.
    let mut reader = FieldReader::new(bytes);
    let (mut version, mut lamport) = (None, None);
    while let Some((number, value)) = reader.next_field()? {
        match (number, value) {
            (1, FieldValue::Varint(v)) => version = Some(u32_in(v, "ChannelMeta.schema_version")?),
            (2, FieldValue::Varint(v)) => lamport = Some(v.as_u64()),
            _ => {}
        }
    }
    let version = version.ok_or(SnapshotError::MissingField("ChannelMeta.schema_version"))?;
    if version != SCHEMA_VERSION {
        return Err(SnapshotError::UnsupportedSchemaVersion(version));
    }
    let lamport = lamport.ok_or(SnapshotError::MissingField("ChannelMeta.lamport_timestamp"))?;

    let mut meta = ChannelMeta {
        lamport_timestamp: lamport as i64,
        ..ChannelMeta::default()
    };
    let mut reader = FieldReader::new(bytes);
    while let Some((number, value)) = reader.next_field()? {
        let FieldValue::Bytes(b) = value else {
            continue;
        };
        match number {
            3 => meta.outgoing.push(decode_outgoing(b)?),
            4 => meta.incoming.push(decode_incoming(b)?),
            5 => meta.outgoing_repair.push(decode_out_repair(b)?),
            6 => meta.incoming_repair.push(decode_in_repair(b)?),
            7 => meta.met_ids.push(id_in(b, "ChannelMeta.met_ids")?),
            _ => {}
        }
    }
    Ok(meta)
}

/// Decodes a channel's meta and history. The meta (field 1) is required and is decoded
/// (schema version checked) before the history.
pub fn decode_channel_data(bytes: &[u8]) -> Result<ChannelData, SnapshotError> {
    let mut reader = FieldReader::new(bytes);
    let mut meta = None;
    while let Some((number, value)) = reader.next_field()? {
        if let (1, FieldValue::Bytes(b)) = (number, value) {
            meta = Some(b);
        }
    }
    let meta = meta.ok_or(SnapshotError::MissingField("ChannelData.meta"))?;
    let meta = decode_channel_meta(meta)?;
    let mut history = Vec::new();
    let mut reader = FieldReader::new(bytes);
    while let Some((number, value)) = reader.next_field()? {
        if let (2, FieldValue::Bytes(b)) = (number, value) {
            history.push(message_in(b, "ChannelData.history")?);
        }
    }
    Ok(ChannelData { meta, history })
}

/// Decodes a batch of history changes.
pub fn decode_history_update(bytes: &[u8]) -> Result<HistoryUpdate, SnapshotError> {
    let mut reader = FieldReader::new(bytes);
    let mut update = HistoryUpdate::default();
    while let Some((number, value)) = reader.next_field()? {
        match (number, value) {
            (1, FieldValue::Bytes(b)) => update.append.push(message_in(b, "HistoryUpdate.append")?),
            (2, FieldValue::Bytes(b)) => update.evict.push(id_in(b, "HistoryUpdate.evict")?),
            _ => {}
        }
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire::{decode_stored_message, encode_stored_message};

    // nim-sds's bytes for the states below (fixtures/nim-sds/snapshot.json).
    const META_EMPTY: &str = "08011000";
    const META_FULL: &str = "080110e08387c9061a320a270a026f3110051a0b0a04702d6f311a03626f622204\
        6368616e2a0301020332003a05616c69636510fad195ffbc311802222e0a250a02693110061a0b0a04702d\
        69311a03626f6222046368616e2a010932003a05616c69636512056465702d612a1d0a02723112170a0e0a\
        0272311201071a056361726f6c10a0dd9bffbc31321d0a02713112170a0a0a0271311a046461766512020405\
        18c0eaa1ffbc31";
    const DATA_HISTORY_PART: &str = "12250a02683110011a0b0a04702d68311a03626f6222046368616e2a01\
        0132003a05616c69636512250a02683210021a0b0a04702d68321a03626f6222046368616e2a010232003a\
        05616c696365";
    const HISTORY_UPDATE: &str = "0a250a02613110031a0b0a04702d61311a03626f6222046368616e2a0103\
        32003a05616c69636512046f6c643112046f6c6432";

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(char::is_whitespace, "")).expect("test hex")
    }

    fn entry(id: &str, hint: &[u8], sender: &str) -> HistoryEntry {
        HistoryEntry {
            message_id: id.into(),
            retrieval_hint: hint.to_vec(),
            sender_id: sender.into(),
        }
    }

    /// The message shape of the fixture: channel `chan`, sender `alice`, causal history
    /// `[p-<id> from bob]`, no bloom.
    fn fixture_msg(id: &str, lamport: i64, content: &[u8]) -> SdsMessage {
        SdsMessage {
            message_id: id.into(),
            lamport_timestamp: lamport,
            causal_history: vec![entry(&format!("p-{id}"), b"", "bob")],
            channel_id: "chan".into(),
            content: content.to_vec(),
            bloom_filter: Vec::new(),
            sender_id: "alice".into(),
            repair_request: Vec::new(),
        }
    }

    fn full_meta() -> ChannelMeta {
        ChannelMeta {
            lamport_timestamp: 1_763_820_000,
            outgoing: vec![OutgoingEntry {
                message: fixture_msg("o1", 5, &[1, 2, 3]),
                send_time_ms: 1_700_000_000_250,
                resend_attempts: 2,
                bloom_hits: 0,
            }],
            incoming: vec![IncomingEntry {
                message: fixture_msg("i1", 6, &[9]),
                missing_deps: vec!["dep-a".into()],
                received_at_ms: 0,
            }],
            outgoing_repair: vec![OutgoingRepair {
                entry: entry("r1", &[7], "carol"),
                min_time_ms: 1_700_000_100_000,
            }],
            incoming_repair: vec![IncomingRepair {
                entry: entry("q1", b"", "dave"),
                cached_message: vec![4, 5],
                min_time_ms: 1_700_000_200_000,
            }],
            met_ids: Vec::new(),
        }
    }

    fn ld(tag: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        put_bytes_field(tag, payload, &mut b);
        b
    }

    fn vi(tag: u32, v: u64) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint_field(tag, v, &mut b);
        b
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn empty_meta_matches_nim() {
        let bytes = encode_channel_meta(&ChannelMeta::default());
        assert_eq!(hex::encode(&bytes), META_EMPTY);
        assert_eq!(decode_channel_meta(&bytes), Ok(ChannelMeta::default()));
    }

    #[test]
    fn full_meta_matches_nim_both_ways() {
        let bytes = encode_channel_meta(&full_meta());
        assert_eq!(bytes, h(META_FULL));
        assert_eq!(bytes.capacity(), bytes.len());
        assert_eq!(decode_channel_meta(&h(META_FULL)), Ok(full_meta()));
    }

    #[test]
    fn channel_data_matches_nim_both_ways() {
        let data = ChannelData {
            meta: full_meta(),
            history: vec![fixture_msg("h1", 1, &[1]), fixture_msg("h2", 2, &[2])],
        };
        let expected = h(&format!("0aaa01{META_FULL}{DATA_HISTORY_PART}"));
        assert_eq!(encode_channel_data(&data), expected);
        assert_eq!(decode_channel_data(&expected), Ok(data));
    }

    #[test]
    fn history_update_matches_nim_both_ways() {
        let update = HistoryUpdate {
            append: vec![fixture_msg("a1", 3, &[3])],
            evict: vec!["old1".into(), "old2".into()],
        };
        assert_eq!(encode_history_update(&update), h(HISTORY_UPDATE));
        assert_eq!(decode_history_update(&h(HISTORY_UPDATE)), Ok(update));
        assert_eq!(
            encode_history_update(&HistoryUpdate::default()),
            Vec::<u8>::new()
        );
        assert_eq!(decode_history_update(&[]), Ok(HistoryUpdate::default()));
    }

    #[test]
    fn zero_scalars_are_written_like_nim() {
        // nim-sds writes resend attempts (uint32) and every time unconditionally.
        let meta = ChannelMeta {
            outgoing: vec![OutgoingEntry {
                message: fixture_msg("o", 0, b""),
                ..OutgoingEntry::default()
            }],
            outgoing_repair: vec![OutgoingRepair::default()],
            incoming_repair: vec![IncomingRepair::default()],
            ..ChannelMeta::default()
        };
        let stored = encode_stored_message(&meta.outgoing[0].message);
        let unacked = cat(&[&ld(1, &stored), &vi(2, 0), &vi(3, 0)]);
        let out_kv = cat(&[&ld(1, b""), &ld(2, &cat(&[&ld(1, &h("0a00")), &vi(2, 0)]))]);
        let in_kv = cat(&[
            &ld(1, b""),
            &ld(2, &cat(&[&ld(1, &h("0a00")), &ld(2, b""), &vi(3, 0)])),
        ]);
        let expected = cat(&[
            &h(META_EMPTY),
            &ld(3, &unacked),
            &ld(5, &out_kv),
            &ld(6, &in_kv),
        ]);
        assert_eq!(encode_channel_meta(&meta), expected);
        assert_eq!(decode_channel_meta(&expected), Ok(meta));
    }

    #[test]
    fn schema_version_is_required_and_checked() {
        let missing = decode_channel_meta(&h("1000")).expect_err("no version");
        assert_eq!(
            missing,
            SnapshotError::MissingField("ChannelMeta.schema_version")
        );
        assert!(missing.to_string().contains("schema_version"));
        for v in [0u64, 2, 7] {
            let err = decode_channel_meta(&cat(&[&vi(1, v), &vi(2, 0)])).expect_err("refused");
            assert_eq!(err, SnapshotError::UnsupportedSchemaVersion(v as u32));
            assert!(err.to_string().contains("schema version"), "{err}");
        }
        // Refused before the rest is interpreted: a future layout with other sub-messages.
        let future = cat(&[&vi(1, 2), &vi(2, 0), &ld(3, b"\xff\xff")]);
        assert_eq!(
            decode_channel_meta(&future),
            Err(SnapshotError::UnsupportedSchemaVersion(2))
        );
        // Through ChannelData as well.
        assert_eq!(
            decode_channel_data(&ld(1, &future)),
            Err(SnapshotError::UnsupportedSchemaVersion(2))
        );
        // A 32-bit field longer than 5 bytes is malformed (as in nim-sds).
        assert!(matches!(
            decode_channel_meta(&h("0881808080800010 00")),
            Err(SnapshotError::Malformed(_))
        ));
    }

    #[test]
    fn required_fields_are_required() {
        let stored = encode_stored_message(&fixture_msg("m", 1, b"x"));
        let hist = h("0a026d31");
        let meta_with = |tag: u32, sub: &[u8]| cat(&[&h(META_EMPTY), &ld(tag, sub)]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (h("0801"), "ChannelMeta.lamport_timestamp"),
            (meta_with(3, &vi(2, 1)), "UnacknowledgedMessage.message"),
            (
                meta_with(3, &ld(1, &stored)),
                "UnacknowledgedMessage.send_time",
            ),
            (meta_with(4, &ld(2, b"dep")), "IncomingMessage.message"),
            (meta_with(5, &ld(2, &[])), "OutgoingRepairKV.message_id"),
            (meta_with(5, &ld(1, b"r")), "OutgoingRepairKV.entry"),
            (
                meta_with(5, &cat(&[&ld(1, b"r"), &ld(2, &vi(2, 1))])),
                "OutgoingRepairEntry.entry",
            ),
            (
                meta_with(5, &cat(&[&ld(1, b"r"), &ld(2, &ld(1, &hist))])),
                "OutgoingRepairEntry.min_time_repair_req",
            ),
            (meta_with(6, &ld(2, &[])), "IncomingRepairKV.message_id"),
            (meta_with(6, &ld(1, b"q")), "IncomingRepairKV.entry"),
            (
                meta_with(
                    6,
                    &cat(&[&ld(1, b"q"), &ld(2, &cat(&[&ld(2, b""), &vi(3, 1)]))]),
                ),
                "IncomingRepairEntry.entry",
            ),
            (
                meta_with(
                    6,
                    &cat(&[&ld(1, b"q"), &ld(2, &cat(&[&ld(1, &hist), &vi(3, 1)]))]),
                ),
                "IncomingRepairEntry.cached_message",
            ),
            (
                meta_with(
                    6,
                    &cat(&[&ld(1, b"q"), &ld(2, &cat(&[&ld(1, &hist), &ld(2, b"")]))]),
                ),
                "IncomingRepairEntry.min_time_repair_resp",
            ),
        ];
        for (bytes, field) in cases {
            assert_eq!(
                decode_channel_meta(&bytes),
                Err(SnapshotError::MissingField(field))
            );
        }
        assert_eq!(
            decode_channel_data(&ld(2, &stored)),
            Err(SnapshotError::MissingField("ChannelData.meta"))
        );
    }

    #[test]
    fn invalid_stored_messages_say_where() {
        let bad = h("0a026d31"); // no lamport
        let meta = cat(&[&h(META_EMPTY), &ld(3, &cat(&[&ld(1, &bad), &vi(2, 1)]))]);
        assert_eq!(
            decode_channel_meta(&meta),
            Err(SnapshotError::Message {
                field: "UnacknowledgedMessage.message",
                source: DecodeError::MissingField("lamport_timestamp"),
            })
        );
        let err = decode_history_update(&ld(1, &bad)).expect_err("bad append");
        assert!(err.to_string().contains("HistoryUpdate.append"), "{err}");
        assert_eq!(
            decode_stored_message(&bad),
            Err(DecodeError::MissingField("lamport_timestamp"))
        );
    }

    #[test]
    fn invalid_utf8_ids_are_rejected_by_name() {
        let stored = encode_stored_message(&fixture_msg("m", 1, b"x"));
        let meta_with = |tag: u32, sub: &[u8]| cat(&[&h(META_EMPTY), &ld(tag, sub)]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                meta_with(4, &cat(&[&ld(1, &stored), &ld(2, b"\xff")])),
                "IncomingMessage.missing_deps",
            ),
            (meta_with(7, b"\xc3\x28"), "ChannelMeta.met_ids"),
            (
                meta_with(5, &cat(&[&ld(1, b"\xff"), &ld(2, b"")])),
                "OutgoingRepairKV.message_id",
            ),
            (
                meta_with(6, &cat(&[&ld(1, b"\xff"), &ld(2, b"")])),
                "IncomingRepairKV.message_id",
            ),
        ];
        for (bytes, field) in cases {
            assert_eq!(
                decode_channel_meta(&bytes),
                Err(SnapshotError::InvalidUtf8(field))
            );
        }
        assert_eq!(
            decode_history_update(&ld(2, b"\xff")),
            Err(SnapshotError::InvalidUtf8("HistoryUpdate.evict"))
        );
        // Inside a repair entry's history entry.
        let entry = cat(&[&ld(1, &ld(1, b"\xff")), &vi(2, 1)]);
        assert_eq!(
            decode_channel_meta(&meta_with(5, &cat(&[&ld(1, b"r"), &ld(2, &entry)]))),
            Err(SnapshotError::Message {
                field: "OutgoingRepairEntry.entry",
                source: DecodeError::InvalidUtf8("OutgoingRepairEntry.entry.message_id"),
            })
        );
    }

    #[test]
    fn extra_fields_are_written_only_when_set_and_round_trip() {
        let mut meta = full_meta();
        meta.outgoing[0].bloom_hits = 3;
        meta.incoming[0].received_at_ms = 1_700_000_000_999;
        meta.met_ids = vec!["met-1".into(), "met-2".into()];
        let bytes = encode_channel_meta(&meta);
        assert_ne!(bytes, h(META_FULL));
        assert_eq!(decode_channel_meta(&bytes), Ok(meta.clone()));
        // Without them, nim-sds's exact bytes (checked above); and a reader that only knows
        // nim-sds's fields (ours, ignoring 7 etc.) sees the same nim-sds state.
        let mut plain = meta;
        plain.outgoing[0].bloom_hits = 0;
        plain.incoming[0].received_at_ms = 0;
        plain.met_ids.clear();
        assert_eq!(encode_channel_meta(&plain), h(META_FULL));
    }

    #[test]
    fn stored_messages_never_carry_their_bloom() {
        let mut meta = full_meta();
        meta.outgoing[0].message.bloom_filter = vec![0xaa; 64];
        meta.incoming[0].message.bloom_filter = vec![0xbb; 64];
        assert_eq!(encode_channel_meta(&meta), h(META_FULL));
        let mut m = fixture_msg("h1", 1, &[1]);
        m.bloom_filter = vec![1, 2, 3];
        let stored = encode_stored_message(&m);
        m.bloom_filter.clear();
        assert_eq!(stored, wire::encode_message(&m));
        assert_eq!(decode_stored_message(&stored), Ok(m.clone()));
        let update = HistoryUpdate {
            append: vec![SdsMessage {
                bloom_filter: vec![9; 10],
                ..fixture_msg("a1", 3, &[3])
            }],
            evict: vec!["old1".into(), "old2".into()],
        };
        assert_eq!(encode_history_update(&update), h(HISTORY_UPDATE));
    }

    #[test]
    fn repair_kv_id_wins_over_entry_id() {
        let out_entry = cat(&[&ld(1, &ld(1, b"other")), &vi(2, 5)]);
        let in_entry = cat(&[&ld(1, &ld(1, b"other")), &ld(2, b"\x01"), &vi(3, 6)]);
        let bytes = cat(&[
            &h(META_EMPTY),
            &ld(5, &cat(&[&ld(1, b"key-r"), &ld(2, &out_entry)])),
            &ld(6, &cat(&[&ld(1, b"key-q"), &ld(2, &in_entry)])),
        ]);
        let meta = decode_channel_meta(&bytes).expect("decodes");
        assert_eq!(meta.outgoing_repair[0].entry.message_id, "key-r");
        assert_eq!(meta.outgoing_repair[0].min_time_ms, 5);
        assert_eq!(meta.incoming_repair[0].entry.message_id, "key-q");
        assert_eq!(meta.incoming_repair[0].cached_message, vec![1]);
    }

    #[test]
    fn malformed_framing_is_an_error() {
        for bad in ["08", "080110", "0801 1a05 0a", "0b01", "0801 1080"] {
            let bytes = h(bad);
            assert!(
                matches!(
                    decode_channel_meta(&bytes),
                    Err(SnapshotError::Malformed(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            decode_history_update(&h("0a05")),
            Err(SnapshotError::Malformed(_))
        ));
        assert!(matches!(
            decode_channel_data(&h("0aff")),
            Err(SnapshotError::Malformed(_))
        ));
    }
}
