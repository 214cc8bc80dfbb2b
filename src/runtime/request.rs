//! What host threads ask of a context's worker, and how answers come back.

use thiserror::Error;

use crate::persistence::durable::OpError;
use crate::protocol::event::Event;
use crate::protocol::manager::{ChannelStats, RetrievalHintProvider, Unwrapped};

/// Called once, on the worker thread, with a request's outcome.
pub type Reply<T> = Box<dyn FnOnce(Result<T, RequestError>) + Send>;

/// Why a request did not succeed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// The operation failed.
    #[error(transparent)]
    Op(#[from] OpError),
    /// The context was freed before the request ran.
    #[error("the context was freed before the request ran")]
    ShuttingDown,
}

/// A request for the worker. Every variant with a reply gets exactly one answer.
pub enum Request {
    /// Wrap content for sending.
    Wrap {
        /// Channel.
        channel_id: String,
        /// Message id.
        message_id: String,
        /// Content.
        content: Vec<u8>,
        /// Receives the wire bytes.
        reply: Reply<Vec<u8>>,
    },
    /// Wrap an ephemeral message.
    WrapEphemeral {
        /// Channel.
        channel_id: String,
        /// Message id.
        message_id: String,
        /// Content.
        content: Vec<u8>,
        /// Receives the wire bytes.
        reply: Reply<Vec<u8>>,
    },
    /// Build a sync message.
    BuildSyncMessage {
        /// Channel.
        channel_id: String,
        /// Receives the wire bytes.
        reply: Reply<Vec<u8>>,
    },
    /// Process received bytes.
    Unwrap {
        /// The wire bytes.
        bytes: Vec<u8>,
        /// Receives the outcome.
        reply: Reply<Unwrapped>,
    },
    /// Declare dependencies present.
    MarkDependenciesMet {
        /// Channel.
        channel_id: String,
        /// The ids.
        message_ids: Vec<String>,
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Load or create a channel.
    EnsureChannel {
        /// Channel.
        channel_id: String,
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Delete a channel.
    RemoveChannel {
        /// Channel.
        channel_id: String,
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Delete every channel.
    Reset {
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Start the periodic sweeps and sync timer (again: harmless).
    StartPeriodicTasks {
        /// Receives the outcome.
        reply: Reply<()>,
    },
    /// Read a channel's statistics.
    ChannelStats {
        /// Channel.
        channel_id: String,
        /// Receives the statistics, `None` for an unknown channel.
        reply: Reply<Option<ChannelStats>>,
    },
    /// Install or remove the retrieval-hint provider.
    SetRetrievalHintProvider {
        /// The provider, called on the worker thread.
        provider: Option<Box<dyn RetrievalHintProvider>>,
    },
    /// Answer once every request queued before it has run.
    Ping {
        /// Receives `Ok(())`.
        reply: Reply<()>,
    },
    /// Re-read the clock and run whatever timers are due.
    Tick,
    /// Stop: fail everything still queued, then exit.
    Shutdown,
}

impl Request {
    /// Answers the request with `error` without running it.
    pub fn fail(self, error: RequestError) {
        match self {
            Request::Wrap { reply, .. }
            | Request::WrapEphemeral { reply, .. }
            | Request::BuildSyncMessage { reply, .. } => reply(Err(error)),
            Request::Unwrap { reply, .. } => reply(Err(error)),
            Request::MarkDependenciesMet { reply, .. }
            | Request::EnsureChannel { reply, .. }
            | Request::RemoveChannel { reply, .. }
            | Request::Reset { reply }
            | Request::Ping { reply }
            | Request::StartPeriodicTasks { reply } => reply(Err(error)),
            Request::ChannelStats { reply, .. } => reply(Err(error)),
            Request::SetRetrievalHintProvider { .. } | Request::Tick | Request::Shutdown => {}
        }
    }
}

/// Something the worker tells the host, besides request outcomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeEvent {
    /// A protocol event.
    Protocol(Event),
    /// The sync timer fired (once per tick, before the per-channel `PeriodicSync` events).
    SyncTick,
    /// A save failed; the operation still succeeded (see the persistence contract).
    PersistenceWarning {
        /// The channel whose state was being saved.
        channel_id: String,
        /// The backend's message.
        message: String,
    },
}

/// Receives events on the worker thread.
pub trait EventSink: Send {
    /// Handles one event. Must not block for long: the worker waits for it.
    fn deliver(&mut self, event: RuntimeEvent);
}
