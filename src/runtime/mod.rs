//! The per-context worker thread: request queue, timers, event dispatch. The only layer
//! that reads the clock and sleeps.
//!
//! Each [`Context`] owns one thread running a tokio current-thread runtime. Host threads
//! push [`Request`]s on a bounded crossbeam channel and wake the worker; the worker runs
//! them in order against its [`PersistentManager`](crate::persistence::PersistentManager),
//! fires the periodic sweeps and the sync timer, and hands events to an [`EventSink`].
//! A context is configured by one [`ContextConfig`] (the JSON document of `storage_new`).

pub(crate) mod clock;
pub(crate) mod config;
pub(crate) mod context;
pub(crate) mod error;
pub(crate) mod event_queue;
pub(crate) mod in_flight;
pub(crate) mod poster;
pub(crate) mod recording;
pub(crate) mod replay;
pub(crate) mod request;
pub(crate) mod restart;
pub(crate) mod uploader;
pub(crate) mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    Autostart, ContextConfig, Durability, PersistenceConfig, PersistenceKind, PersistenceSection,
    QueueConfig, RecordingConfig, TimerConfig,
};
pub use context::Context;
pub use error::ContextError;
pub use event_queue::{EventQueue, Pulled};
pub use request::{Completion, EventSink, Reply, Request, RequestError, Retirement, RuntimeEvent};
pub use restart::{RestartPolicy, RestartPolicyKind, RestartSection};
pub use uploader::{ChunkStatus, QueueView, UploadProgress, UploadStatus};
