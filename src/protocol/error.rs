//! Errors of protocol operations.

use thiserror::Error;

use super::wire::DecodeError;

/// Why a protocol operation was refused. The manager's state is unchanged by a refused op.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// `wrap` was given empty content (sync messages are built with `build_sync_message`).
    #[error("message content is empty")]
    EmptyContent,
    /// `wrap` was given content over the limit.
    #[error("message content is {size} bytes, over the {max}-byte limit")]
    ContentTooLarge {
        /// Size given.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// A received message is larger than `max_wire_message_size`.
    #[error("received message is {size} bytes, over the {max}-byte limit")]
    WireMessageTooLarge {
        /// Size received.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// A channel id was empty.
    #[error("channel id is empty")]
    EmptyChannelId,
    /// The operation needs a channel this manager does not know.
    #[error("unknown channel `{0}`")]
    UnknownChannel(String),
    /// Creating one more channel would exceed `max_channels`.
    #[error("channel limit reached ({max} channels)")]
    TooManyChannels {
        /// Limit.
        max: usize,
    },
    /// The channel's buffer of messages waiting for dependencies is full.
    #[error(
        "incoming buffer of channel `{channel_id}` is full ({max} messages or {max_bytes} bytes)"
    )]
    IncomingBufferFull {
        /// Channel.
        channel_id: String,
        /// Limit in messages.
        max: usize,
        /// Limit in bytes.
        max_bytes: usize,
    },
    /// The channel holds too many unacknowledged outgoing messages.
    #[error("outgoing buffer of channel `{channel_id}` is full ({max} messages)")]
    OutgoingBufferFull {
        /// Channel.
        channel_id: String,
        /// Limit.
        max: usize,
    },
    /// A received message could not be decoded.
    #[error("cannot decode message: {0}")]
    Decode(DecodeError),
    /// A received message carries more causal-history or repair-request entries than
    /// `max_received_causal_history` / `max_received_repair_requests` allow.
    #[error("received message has more than {max} `{field}` entries")]
    TooManyEntries {
        /// `causal_history` or `repair_request`.
        field: &'static str,
        /// Limit.
        max: usize,
    },
    /// An id or retrieval hint is longer than `max_id_bytes`.
    #[error("`{field}` is {len} bytes, over the {max}-byte limit (max_id_bytes)")]
    IdTooLong {
        /// The field, e.g. `message_id` or `causal_history[].retrieval_hint`.
        field: &'static str,
        /// Its length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// What the message needs to be kept does not fit in the memory budget.
    #[error("memory budget exhausted: {needed} bytes do not fit in {what} ({limit} bytes)")]
    MemoryBudget {
        /// The budget or share that is full.
        what: &'static str,
        /// Bytes the message needs.
        needed: usize,
        /// The size of that budget or share.
        limit: usize,
    },
}

impl ProtocolError {
    /// Whether the error refuses input because a limit is reached (what the
    /// `limit_reached` event and the refusal counters report).
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            Self::WireMessageTooLarge { .. }
                | Self::TooManyChannels { .. }
                | Self::IncomingBufferFull { .. }
                | Self::TooManyEntries { .. }
                | Self::IdTooLong { .. }
                | Self::MemoryBudget { .. }
        )
    }
}

impl From<DecodeError> for ProtocolError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooManyEntries { field, max } => Self::TooManyEntries { field, max },
            DecodeError::TooLong { field, len, max } => Self::IdTooLong { field, len, max },
            other => Self::Decode(other),
        }
    }
}
