//! Why a recording operation failed. Errors carry text, not `io::Error`, so they can be
//! cloned into replies and events.

use std::path::Path;

use thiserror::Error;

/// A recording operation's failure, with a message that says what and where.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RecordingError {
    /// The recording name is not allowed.
    #[error("invalid recording name `{name}`: {reason}")]
    InvalidName {
        /// The refused name (shortened).
        name: String,
        /// Why.
        reason: String,
    },
    /// No `recording.root` is configured for this context.
    #[error("recordings are not configured: set `recording.root` in the context configuration")]
    NotConfigured,
    /// The configured root folder does not exist.
    #[error("the recordings root `{0}` does not exist")]
    RootMissing(String),
    /// The configured root exists but is not a folder (a file, say).
    #[error("the recordings root `{0}` is not a directory")]
    RootNotDirectory(String),
    /// A recording of that name already exists.
    #[error("recording `{0}` already exists")]
    AlreadyExists(String),
    /// No recording of that name exists.
    #[error("recording `{0}` does not exist")]
    NotFound(String),
    /// A recording of that name is already being written by this context.
    #[error("recording `{0}` is already active")]
    AlreadyActive(String),
    /// No active recording of that name.
    #[error("recording `{0}` is not active")]
    NotActive(String),
    /// No replay with that id is running.
    #[error("no replay {0} is running")]
    NoSuchReplay(u64),
    /// The operation needs a ring-buffer recording.
    #[error("recording `{0}` is not a ring buffer")]
    NotRing(String),
    /// An option is malformed; names the key.
    #[error("invalid option `{key}`: {reason}")]
    BadOption {
        /// The offending key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A file operation failed.
    #[error("cannot {action} `{path}`: {reason}")]
    Io {
        /// What was being done ("create folder", "write", ...).
        action: &'static str,
        /// The file or folder.
        path: String,
        /// The system's message.
        reason: String,
    },
    /// The MCAP writer or reader failed.
    #[error("MCAP error in `{path}`: {reason}")]
    Mcap {
        /// The file.
        path: String,
        /// The library's message.
        reason: String,
    },
    /// A manifest cannot be read.
    #[error("manifest `{path}` is unreadable: {reason}")]
    BadManifest {
        /// The manifest file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The audit log's chain does not check: nothing more is appended to it.
    #[error("the audit log is damaged: {0}")]
    AuditBroken(String),
    /// Erasing needs a supersession record first.
    #[error("recording `{0}` is not superseded: supersede it before erasing its files")]
    NotSuperseded(String),
    /// The recording (or chunk) already has a supersession record.
    #[error("`{0}` is already superseded")]
    AlreadySuperseded(String),
    /// The recorder thread stopped after an error; nothing more is written.
    #[error("the recorder stopped: {0}")]
    RecorderFailed(String),
}

impl RecordingError {
    /// An I/O failure on `path`.
    pub fn io(action: &'static str, path: &Path, error: std::io::Error) -> Self {
        RecordingError::Io {
            action,
            path: crate::shorten::shorten_path(path),
            reason: error.to_string(),
        }
    }

    /// An MCAP failure on `path`.
    pub fn mcap(path: &Path, error: impl std::fmt::Display) -> Self {
        RecordingError::Mcap {
            path: crate::shorten::shorten_path(path),
            reason: error.to_string(),
        }
    }

    /// A malformed option.
    pub fn option(key: &str, reason: impl Into<String>) -> Self {
        RecordingError::BadOption {
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}
