//! Protocol configuration: every knob of SDS and SDS-R, with nim-sds's defaults.

use thiserror::Error;

/// Unit of the wall clock folded into Lamport timestamps on wrap (`max(now, L) + 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LamportUnit {
    /// Milliseconds since the Unix epoch (default: finer ordering between fast senders).
    Milliseconds,
    /// Seconds since the Unix epoch, exactly as nim-sds does.
    Seconds,
}

/// Largest content `wrap` accepts, as in nim-sds (1 MiB).
pub const MAX_CONTENT_SIZE: usize = 1024 * 1024;

/// Configuration of a [`Manager`](super::manager::Manager).
#[derive(Clone, Debug, PartialEq)]
pub struct ProtocolConfig {
    /// This node's participant id; SDS-R is on whenever it is non-empty.
    pub participant_id: String,
    /// Expected number of ids in a channel's bloom filter.
    pub bloom_capacity: usize,
    /// Target false-positive rate of the bloom filter.
    pub bloom_error_rate: f64,
    /// Delivered messages kept per channel (oldest evicted first).
    pub max_message_history: usize,
    /// Bytes of delivered content kept per channel before the oldest are evicted.
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
    /// Bytes of buffered messages per channel (content, ids and causal history).
    pub max_incoming_buffer_bytes: usize,
    /// Unacknowledged outgoing messages per channel.
    pub max_outgoing_buffer: usize,
    /// Entries in each SDS-R repair buffer per channel.
    pub max_repair_buffer: usize,
    /// Largest received wire message accepted, in bytes.
    pub max_wire_message_size: usize,
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
        }
    }
}

/// A configuration value that cannot work, naming the key.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid configuration `{key}`: {reason}")]
pub struct ConfigError {
    /// The offending key, as spelled in the JSON configuration.
    pub key: &'static str,
    /// Why the value is refused.
    pub reason: String,
}

impl ConfigError {
    fn new(key: &'static str, reason: impl Into<String>) -> Self {
        Self {
            key,
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
        Ok(())
    }
}
