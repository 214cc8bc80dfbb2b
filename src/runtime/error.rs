//! Why a context could not start or stop.

use thiserror::Error;

use crate::recording::RecordingError;

/// Why a context could not start or stop.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ContextError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] crate::protocol::config::ConfigError),
    /// The persistence backend could not be opened.
    #[error("cannot open persistence: {0}")]
    Persistence(String),
    /// The worker thread could not be started.
    #[error("cannot start the worker thread: {0}")]
    Thread(String),
    /// `shutdown` was called from the context's own worker thread (inside a callback).
    #[error("a context cannot be freed from inside its own callback")]
    ShutdownFromCallback,
    /// `recording.root` does not exist or is not a folder: refused at creation rather
    /// than at the first recording request, since the host said recordings go there.
    #[error("recording.root: {0}")]
    RecordingRoot(RecordingError),
    /// The recording `recording.autostart` asks for could not be started: the context
    /// does not start, since running without the recording the host asked for would lose
    /// what it meant to keep.
    #[error("cannot start recording `{name}` (recording.autostart): {error}")]
    Autostart {
        /// The generated recording name.
        name: String,
        /// Why it could not start.
        error: RecordingError,
    },
    /// The `upload` section cannot work (a key is malformed, no credentials are found,
    /// or recordings are off): the message names the key.
    #[error("upload: {0}")]
    Upload(crate::recording::upload::UploadError),
}
