//! The per-context worker thread: request queue, timers, event dispatch. The only layer
//! that reads the clock and sleeps.
//!
//! Each [`Context`](context::Context) owns one thread running a tokio current-thread
//! runtime. Host threads push [`Request`](request::Request)s on a bounded crossbeam
//! channel and wake the worker; the worker runs them in order against its
//! [`PersistentManager`](crate::persistence::durable::PersistentManager), fires the
//! periodic sweeps and the sync timer, and hands events to an
//! [`EventSink`](request::EventSink).

pub mod clock;
pub mod config;
pub mod context;
pub mod error;
pub mod event_queue;
pub(crate) mod in_flight;
pub(crate) mod poster;
pub(crate) mod recording;
pub(crate) mod replay;
pub mod request;
pub(crate) mod worker;
