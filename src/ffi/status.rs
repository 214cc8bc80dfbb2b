//! Status codes of the native C API. Values are part of the ABI: never renumber them.

use crate::persistence::durable::OpError;
use crate::protocol::error::ProtocolError;
use crate::runtime::request::RequestError;

/// The outcome of a `storage_*` call or of a request (passed to its callback).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum storage_status {
    /// Success.
    STORAGE_OK = 0,
    /// The context handle is NULL, freed, or not a context.
    STORAGE_INVALID_HANDLE = 1,
    /// A required pointer is NULL (or NULL with a non-zero length).
    STORAGE_NULL_ARGUMENT = 2,
    /// A string argument is not valid UTF-8.
    STORAGE_INVALID_UTF8 = 3,
    /// A channel id is empty.
    STORAGE_EMPTY_CHANNEL_ID = 4,
    /// The configuration document is malformed or has a bad key or value.
    STORAGE_INVALID_CONFIG = 5,
    /// A context cannot be freed, nor its events pulled, from inside its own callback.
    STORAGE_MISUSE = 6,
    /// The library hit an internal error (a bug); the request was not carried out. If the
    /// worker itself stopped, later requests get `STORAGE_SHUTTING_DOWN`.
    STORAGE_PANIC = 7,
    /// The context was freed before the request ran.
    STORAGE_SHUTTING_DOWN = 8,
    /// `storage_next_event` found no event before its timeout.
    STORAGE_TIMEOUT = 9,
    /// Message content is empty.
    STORAGE_EMPTY_CONTENT = 10,
    /// Message content is over 1 MiB, an id or hint over `max_id_bytes`, or a received
    /// message over `max_wire_message_size` or the causal-history and repair-request
    /// entry limits.
    STORAGE_TOO_LARGE = 11,
    /// A received message could not be decoded.
    STORAGE_DECODE_ERROR = 12,
    /// The channel is not known to this context.
    STORAGE_UNKNOWN_CHANNEL = 13,
    /// A configured limit (channels, buffers, the memory budget) is reached.
    STORAGE_LIMIT_REACHED = 14,
    /// The persistence backend failed to load or drop state, or holds unreadable state.
    STORAGE_PERSISTENCE_ERROR = 15,
    /// The context could not be started (thread or persistence).
    STORAGE_START_FAILED = 16,
    /// A recording name or option is invalid, or recordings are not configured.
    STORAGE_RECORDING_INVALID = 17,
    /// No such recording (or no such active recording or replay).
    STORAGE_RECORDING_NOT_FOUND = 18,
    /// A recording of that name exists or is being written.
    STORAGE_RECORDING_EXISTS = 19,
    /// A recording file could not be written or read (missing root, full disk, damaged
    /// file).
    STORAGE_RECORDING_IO = 20,
}

impl From<&ProtocolError> for storage_status {
    fn from(error: &ProtocolError) -> Self {
        use storage_status::*;
        match error {
            ProtocolError::EmptyContent => STORAGE_EMPTY_CONTENT,
            ProtocolError::ContentTooLarge { .. }
            | ProtocolError::WireMessageTooLarge { .. }
            | ProtocolError::TooManyEntries { .. }
            | ProtocolError::IdTooLong { .. } => STORAGE_TOO_LARGE,
            ProtocolError::EmptyChannelId => STORAGE_EMPTY_CHANNEL_ID,
            ProtocolError::UnknownChannel(_) => STORAGE_UNKNOWN_CHANNEL,
            ProtocolError::TooManyChannels { .. }
            | ProtocolError::IncomingBufferFull { .. }
            | ProtocolError::OutgoingBufferFull { .. }
            | ProtocolError::MemoryBudget { .. } => STORAGE_LIMIT_REACHED,
            ProtocolError::Decode(_) => STORAGE_DECODE_ERROR,
        }
    }
}

impl From<&RequestError> for storage_status {
    fn from(error: &RequestError) -> Self {
        match error {
            RequestError::Op(OpError::Protocol(e)) => e.into(),
            RequestError::Op(OpError::Persistence(_) | OpError::CorruptState { .. }) => {
                storage_status::STORAGE_PERSISTENCE_ERROR
            }
            RequestError::Recording(e) => super::recording::recording_status(e),
            RequestError::ShuttingDown => storage_status::STORAGE_SHUTTING_DOWN,
        }
    }
}
