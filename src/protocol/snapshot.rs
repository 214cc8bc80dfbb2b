//! The complete per-channel protocol state except history and bloom, as plain values:
//! what the persistence layer saves after every op and hands back on load.
//!
//! Every time is Unix milliseconds. Messages here never carry their bloom field.

use super::message::{HistoryEntry, SdsMessage};

/// A message this node sent that is not yet acknowledged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutgoingEntry {
    /// The message as wrapped, without its bloom field.
    pub message: SdsMessage,
    /// When it was last sent or resent.
    pub send_time_ms: u64,
    /// How many times it has been resent.
    pub resend_attempts: u32,
    /// Independent bloom-filter hits seen so far ("possibly acknowledged" when > 0).
    pub bloom_hits: u32,
}

/// A received message waiting for its causal dependencies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncomingEntry {
    /// The message as received, without its bloom field.
    pub message: SdsMessage,
    /// Ids of the dependencies not yet delivered.
    pub missing_deps: Vec<String>,
    /// When it was first buffered (0 if unknown, e.g. loaded from nim-sds state).
    pub received_at_ms: u64,
}

/// SDS-R: a missing message this node will ask peers to repair, from `min_time_ms` on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutgoingRepair {
    /// The missing message (id, hint, original sender).
    pub entry: HistoryEntry,
    /// Earliest time to include it in an outgoing message's repair request (T_req).
    pub min_time_ms: u64,
}

/// SDS-R: a message a peer asked for that this node will rebroadcast at `min_time_ms`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncomingRepair {
    /// The requested message (id, hint, original sender).
    pub entry: HistoryEntry,
    /// The wire bytes to rebroadcast.
    pub cached_message: Vec<u8>,
    /// When to rebroadcast unless someone else does first (T_resp).
    pub min_time_ms: u64,
}

/// Per-channel state except history and bloom filter (schema version 1).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelMeta {
    /// The channel's Lamport clock.
    pub lamport_timestamp: i64,
    /// Unacknowledged outgoing messages, oldest first.
    pub outgoing: Vec<OutgoingEntry>,
    /// Received messages waiting for dependencies, in arrival order.
    pub incoming: Vec<IncomingEntry>,
    /// SDS-R outgoing repair buffer.
    pub outgoing_repair: Vec<OutgoingRepair>,
    /// SDS-R incoming repair buffer.
    pub incoming_repair: Vec<IncomingRepair>,
    /// Ids the application declared present (`mark_dependencies_met`) that are not in
    /// history; they satisfy later dependency checks.
    pub met_ids: Vec<String>,
}

/// Everything needed to restore a channel: its meta and its history in append order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelData {
    /// Channel state except history and bloom.
    pub meta: ChannelMeta,
    /// Delivered messages, oldest first, without bloom fields.
    pub history: Vec<SdsMessage>,
}

/// A batch of history changes: messages appended and ids evicted since the last save.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryUpdate {
    /// Messages added to history, in order, without bloom fields.
    pub append: Vec<SdsMessage>,
    /// Ids removed from history.
    pub evict: Vec<String>,
}
