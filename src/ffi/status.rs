//! Status codes of the native C API. Values are part of the ABI: never renumber them.
//!
//! The enum below is the one list of statuses: `build.rs` reads it (names, values, doc
//! comments) into the table behind [`storage_status_name`] and
//! [`storage_status_description`], and cbindgen writes it into `include/storage.h`.

use std::ffi::{c_char, CStr};

use super::panic::guard;
use crate::persistence::durable::OpError;
use crate::protocol::error::ProtocolError;
use crate::recording::RecordingError;
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
    /// The library hit an internal error (a bug) while running the request; the message
    /// holds the panic's. The worker restarts from the persisted state under the restart
    /// policy (`worker_restarted` event); once its budget is spent the context fails and
    /// later requests get `STORAGE_SHUTTING_DOWN`, saying so.
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
    /// An upload, reconcile or restore failed: the bucket could not be reached or
    /// refused, or uploads are not configured (no `upload` section).
    STORAGE_UPLOAD_FAILED = 21,
}

include!(concat!(env!("OUT_DIR"), "/status_table.rs"));

/// What [`storage_status_name`] answers for a value that is no status.
const UNKNOWN_NAME: &CStr = c"STORAGE_UNKNOWN_STATUS";
/// What [`storage_status_description`] answers for a value that is no status.
const UNKNOWN_DESCRIPTION: &CStr = c"Not a status of this version of the library.";

/// The table entry of `code`, if it is a status.
fn entry(code: i32) -> Option<&'static (storage_status, &'static CStr, &'static CStr)> {
    usize::try_from(code).ok().and_then(|i| STATUS_TABLE.get(i))
}

/// The name of a status as the header spells it, e.g. `"STORAGE_LIMIT_REACHED"`; for a
/// value that is no status, `"STORAGE_UNKNOWN_STATUS"`. Bindings can list every status by
/// asking for 0, 1, 2, ... until that answer. The string is static (never freed) and never
/// NULL. Takes the status as an `int32_t`, so any value may be passed.
#[no_mangle]
pub extern "C" fn storage_status_name(status: i32) -> *const c_char {
    guard(UNKNOWN_NAME.as_ptr(), || {
        entry(status).map_or(UNKNOWN_NAME, |e| e.1).as_ptr()
    })
}

/// A one-line description of a status (its documentation in this header), e.g. for
/// `STORAGE_TIMEOUT` "`storage_next_event` found no event before its timeout."; for a value
/// that is no status, a line saying so. Static (never freed) and never NULL.
#[no_mangle]
pub extern "C" fn storage_status_description(status: i32) -> *const c_char {
    guard(UNKNOWN_DESCRIPTION.as_ptr(), || {
        entry(status).map_or(UNKNOWN_DESCRIPTION, |e| e.2).as_ptr()
    })
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
            RequestError::Recording(e) => recording_status(e),
            RequestError::Upload(_) => storage_status::STORAGE_UPLOAD_FAILED,
            RequestError::ShuttingDown | RequestError::WorkerStopped(_) => {
                storage_status::STORAGE_SHUTTING_DOWN
            }
            RequestError::Panic(_) => storage_status::STORAGE_PANIC,
        }
    }
}

/// The status of a failed recording operation.
pub(crate) fn recording_status(error: &RecordingError) -> storage_status {
    use storage_status::*;
    match error {
        RecordingError::InvalidName { .. }
        | RecordingError::NotConfigured
        | RecordingError::BadOption { .. }
        | RecordingError::NotRing(_)
        | RecordingError::NotSuperseded(_) => STORAGE_RECORDING_INVALID,
        RecordingError::NotFound(_)
        | RecordingError::NotActive(_)
        | RecordingError::NoSuchReplay(_) => STORAGE_RECORDING_NOT_FOUND,
        RecordingError::AlreadyExists(_)
        | RecordingError::AlreadyActive(_)
        | RecordingError::AlreadySuperseded(_) => STORAGE_RECORDING_EXISTS,
        RecordingError::RootMissing(_)
        | RecordingError::RootNotDirectory(_)
        | RecordingError::Io { .. }
        | RecordingError::Mcap { .. }
        | RecordingError::BadManifest { .. }
        | RecordingError::AuditBroken(_)
        | RecordingError::RecorderFailed(_) => STORAGE_RECORDING_IO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header's `enum storage_status`: (name, value, doc comment joined into one line).
    fn header_statuses() -> Vec<(String, i32, String)> {
        let header =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/storage.h"))
                .expect("include/storage.h");
        let body = header
            .split_once("enum storage_status\n")
            .expect("the header declares enum storage_status")
            .1;
        let body = body.split_once('{').expect("enum body").1;
        let body = body.split_once("};").expect("enum end").0;
        let mut statuses = Vec::new();
        let mut doc = Vec::new();
        for line in body.lines().map(str::trim) {
            if let Some(text) = line.strip_prefix("//") {
                doc.push(text.trim().to_owned());
            } else if let Some((name, value)) = line.trim_end_matches(',').split_once(" = ") {
                let value = value.parse().expect("a number");
                statuses.push((name.to_owned(), value, doc.join(" ")));
                doc.clear();
            }
        }
        statuses
    }

    fn text(ptr: *const c_char) -> &'static str {
        let found = STATUS_TABLE
            .iter()
            .flat_map(|(_, name, description)| [*name, *description])
            .chain([UNKNOWN_NAME, UNKNOWN_DESCRIPTION])
            .find(|s| s.as_ptr() == ptr)
            .expect("a pointer into the table");
        found.to_str().expect("UTF-8")
    }

    #[test]
    fn every_value_has_its_variants_name_and_a_description() {
        let max = STATUS_TABLE.len() as i32 - 1;
        for code in 0..=max {
            let (variant, _, _) = entry(code).expect("a status");
            assert_eq!(*variant as i32, code);
            assert_eq!(text(storage_status_name(code)), format!("{variant:?}"));
            let description = text(storage_status_description(code));
            assert!(!description.is_empty() && !description.contains('\n'));
        }
        for code in [max + 1, -1, i32::MIN, i32::MAX] {
            assert_eq!(text(storage_status_name(code)), "STORAGE_UNKNOWN_STATUS");
            assert_eq!(
                text(storage_status_description(code)),
                UNKNOWN_DESCRIPTION.to_str().unwrap()
            );
        }
    }

    #[test]
    fn the_header_enum_and_the_functions_agree() {
        let header = header_statuses();
        assert_eq!(header.len(), STATUS_TABLE.len(), "{header:?}");
        for (name, value, doc) in header {
            assert_eq!(text(storage_status_name(value)), name);
            assert_eq!(text(storage_status_description(value)), doc, "{name}");
        }
        assert_eq!(
            text(storage_status_description(9)),
            "`storage_next_event` found no event before its timeout."
        );
    }
}
