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
    Decode(#[from] DecodeError),
}
