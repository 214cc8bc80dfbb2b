//! Protocol configuration: every knob of SDS and SDS-R, with nim-sds's defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::dialect::WireFormat;

/// Unit of the wall clock folded into Lamport timestamps on wrap (`max(now, L) + 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum LamportUnit {
    /// Milliseconds since the Unix epoch (default: finer ordering between fast senders).
    Milliseconds,
    /// Seconds since the Unix epoch, exactly as nim-sds does.
    Seconds,
}

/// Largest content `wrap` accepts, as in nim-sds (1 MiB).
pub(crate) const MAX_CONTENT_SIZE: usize = 1024 * 1024;

/// Configuration of a [`Manager`](super::manager::Manager). Also the protocol keys of the
/// JSON configuration document, each spelled like its field (read by
/// `runtime::config::ContextConfig::from_json`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ProtocolConfig {
    /// This node's participant id; SDS-R is on whenever it is non-empty.
    pub participant_id: String,
    /// Expected number of ids in a channel's bloom filter.
    pub bloom_capacity: usize,
    /// Target false-positive rate of the bloom filter.
    pub bloom_error_rate: f64,
    /// Delivered messages kept per channel (oldest evicted first).
    pub max_message_history: usize,
    /// Bytes of delivered messages kept per channel, at their real size in memory
    /// (stored encoding and index), before the oldest are evicted.
    pub max_history_bytes: usize,
    /// Entries of causal history attached to each outgoing message.
    pub max_causal_history: usize,
    /// Time after which an unacknowledged message is resent.
    pub resend_interval_ms: u64,
    /// Resends before an unacknowledged message expires.
    pub max_resend_attempts: u32,
    /// Independent bloom-filter hits that turn "possibly acknowledged" into acknowledged.
    pub bloom_acks_to_confirm: u32,
    /// Time a received message may wait for missing dependencies before it is dropped
    /// as irretrievably lost.
    pub max_dependency_wait_ms: u64,
    /// Unit of the wall clock folded into Lamport timestamps.
    pub lamport_unit: LamportUnit,
    /// SDS-R: lower bound of the repair-request backoff T_req.
    pub repair_t_min_ms: u64,
    /// SDS-R: upper bound of T_req, bound of T_resp, and lifetime of a repair request.
    pub repair_t_max_ms: u64,
    /// SDS-R: number of response groups sharing the repair load.
    pub num_response_groups: u32,
    /// SDS-R: repair requests attached to one outgoing message at most.
    pub max_repair_requests: usize,
    /// Channels one manager holds at most.
    pub max_channels: usize,
    /// Received messages buffered per channel while their dependencies are missing.
    pub max_incoming_buffer: usize,
    /// Bytes of buffered messages per channel, at their real size in memory (decoded
    /// message and dependency index).
    pub max_incoming_buffer_bytes: usize,
    /// Unacknowledged outgoing messages per channel.
    pub max_outgoing_buffer: usize,
    /// Entries in each SDS-R repair buffer per channel.
    pub max_repair_buffer: usize,
    /// Largest received wire message accepted, in bytes.
    pub max_wire_message_size: usize,
    /// Memory, across all channels, that peers can make this manager hold: channels,
    /// histories and their bloom filters, buffered messages, SDS-R state (see
    /// `budget` for how it is shared and what a full budget does).
    pub memory_budget_bytes: usize,
    /// Causal-history entries a received message may carry; more are refused.
    pub max_received_causal_history: usize,
    /// Repair-request entries a received message may carry; more are refused.
    pub max_received_repair_requests: usize,
    /// Longest message, channel or sender id and retrieval hint, in bytes, that a
    /// received message may carry and that `wrap` accepts.
    pub max_id_bytes: usize,
    /// How far ahead of the local wall clock (Unix ms) a received Lamport timestamp is
    /// adopted; a channel clock never moves beyond `now + max_lamport_lead_ms`.
    pub max_lamport_lead_ms: u64,
    /// Wire dialect this node sends in: `"nim"` (nim-sds's numbering, the default) or
    /// `"spec"` (the SDS specification's, spoken by js-waku's `@waku/sds`). Received
    /// messages are accepted in either dialect whatever this says.
    pub wire_format: WireFormat,
    /// Per-channel overrides of `wire_format`: channel id to `"nim"` or `"spec"`.
    pub channel_wire_formats: BTreeMap<String, WireFormat>,
}

impl ProtocolConfig {
    /// The dialect messages sent on `channel_id` are written in.
    pub fn wire_format_of(&self, channel_id: &str) -> WireFormat {
        self.channel_wire_formats
            .get(channel_id)
            .copied()
            .unwrap_or(self.wire_format)
    }
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        Self {
            participant_id: String::new(),
            bloom_capacity: 10_000,
            bloom_error_rate: 0.001,
            max_message_history: 1000,
            max_history_bytes: 64 * 1024 * 1024,
            max_causal_history: 10,
            resend_interval_ms: 60_000,
            max_resend_attempts: 5,
            bloom_acks_to_confirm: 2,
            max_dependency_wait_ms: 600_000,
            lamport_unit: LamportUnit::Milliseconds,
            repair_t_min_ms: 30_000,
            repair_t_max_ms: 300_000,
            num_response_groups: 1,
            max_repair_requests: 3,
            max_channels: 1024,
            max_incoming_buffer: 1000,
            max_incoming_buffer_bytes: 64 * 1024 * 1024,
            max_outgoing_buffer: 10_000,
            max_repair_buffer: 1000,
            max_wire_message_size: 4 * 1024 * 1024,
            memory_budget_bytes: 256 * 1024 * 1024,
            max_received_causal_history: 1024,
            max_received_repair_requests: 256,
            max_id_bytes: 1024,
            max_lamport_lead_ms: 24 * 60 * 60 * 1000,
            wire_format: WireFormat::Nim,
            channel_wire_formats: BTreeMap::new(),
        }
    }
}

/// A configuration value that cannot work, naming the key.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid configuration `{key}`: {reason}")]
pub struct ConfigError {
    /// The offending key, as spelled in the JSON configuration: its dot-separated path
    /// (`persistence.durability`), or `(document)` and `(unknown key)`.
    pub key: String,
    /// Why the value is refused.
    pub reason: String,
}

impl ConfigError {
    /// A refusal of `key` for `reason`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl ProtocolConfig {
    /// Checks every value; the error names the first offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("bloom_capacity", self.bloom_capacity),
            ("max_message_history", self.max_message_history),
            ("max_history_bytes", self.max_history_bytes),
            ("max_channels", self.max_channels),
            ("max_incoming_buffer", self.max_incoming_buffer),
            ("max_incoming_buffer_bytes", self.max_incoming_buffer_bytes),
            ("max_outgoing_buffer", self.max_outgoing_buffer),
            ("max_repair_buffer", self.max_repair_buffer),
            ("max_wire_message_size", self.max_wire_message_size),
            ("memory_budget_bytes", self.memory_budget_bytes),
            ("max_id_bytes", self.max_id_bytes),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(ConfigError::new(key, "must be greater than 0"));
            }
        }
        if self.bloom_capacity > 10_000_000 {
            return Err(ConfigError::new(
                "bloom_capacity",
                "must be at most 10000000",
            ));
        }
        if !(self.bloom_error_rate > 0.0 && self.bloom_error_rate < 1.0) {
            return Err(ConfigError::new(
                "bloom_error_rate",
                "must be strictly between 0 and 1",
            ));
        }
        if self.bloom_acks_to_confirm == 0 {
            return Err(ConfigError::new(
                "bloom_acks_to_confirm",
                "must be at least 1",
            ));
        }
        if self.num_response_groups == 0 {
            return Err(ConfigError::new(
                "num_response_groups",
                "must be at least 1",
            ));
        }
        if self.repair_t_min_ms > self.repair_t_max_ms {
            return Err(ConfigError::new(
                "repair_t_min_ms",
                "must not exceed repair_t_max_ms",
            ));
        }
        if self.resend_interval_ms == 0 {
            return Err(ConfigError::new(
                "resend_interval_ms",
                "must be greater than 0",
            ));
        }
        // Peers configured alike must accept each other's messages.
        if self.max_received_causal_history < self.max_causal_history {
            return Err(ConfigError::new(
                "max_received_causal_history",
                format!(
                    "must be at least max_causal_history ({})",
                    self.max_causal_history
                ),
            ));
        }
        if self.max_received_repair_requests < self.max_repair_requests {
            return Err(ConfigError::new(
                "max_received_repair_requests",
                format!(
                    "must be at least max_repair_requests ({})",
                    self.max_repair_requests
                ),
            ));
        }
        if self.participant_id.len() > self.max_id_bytes {
            return Err(ConfigError::new(
                "participant_id",
                format!("must be at most max_id_bytes ({}) bytes", self.max_id_bytes),
            ));
        }
        // Both the filter and the one a roll builds must be sizable.
        let rolled_capacity = self.bloom_capacity * 6 / 5;
        for capacity in [self.bloom_capacity, rolled_capacity.max(1)] {
            super::bloom::sizing(capacity, self.bloom_error_rate)
                .map_err(|e| ConfigError::new("bloom_capacity", e.to_string()))?;
        }
        // What this configuration can wrap must be accepted by peers at the default
        // `max_wire_message_size`, or at this one's if it was raised.
        let accepted = self
            .max_wire_message_size
            .max(ProtocolConfig::default().max_wire_message_size);
        let largest = self.largest_wrapped_message();
        if largest > accepted {
            return Err(ConfigError::new(
                "max_wire_message_size",
                format!(
                    "must be at least {largest} bytes, the largest message this \
                     configuration can wrap (content, bloom filter, causal history and \
                     repair requests at their limits)"
                ),
            ));
        }
        Ok(())
    }

    /// An upper bound of the wire size of any message `wrap` can produce: the largest
    /// content, ids and hints at `max_id_bytes`, the rolled bloom filter, full causal
    /// history and repair requests. Every such message is accepted by a peer whose
    /// `max_wire_message_size` is at least this.
    pub fn largest_wrapped_message(&self) -> usize {
        // Tag and length prefix of one length-delimited field, generously.
        const FIELD: usize = 16;
        let rolled_capacity = self.bloom_capacity.saturating_mul(6) / 5;
        let bloom = super::bloom::sizing(rolled_capacity.max(1), self.bloom_error_rate)
            .map(|(_, m_bits)| (m_bits as usize).div_ceil(8) + 64)
            .unwrap_or(usize::MAX / 4);
        let entry = 3 * (self.max_id_bytes + FIELD) + FIELD;
        let entries = self
            .max_causal_history
            .saturating_add(self.max_repair_requests)
            .saturating_mul(entry);
        (MAX_CONTENT_SIZE + FIELD)
            .saturating_add(bloom + FIELD)
            .saturating_add(entries)
            .saturating_add(3 * (self.max_id_bytes + FIELD) + 2 * FIELD)
    }
}
