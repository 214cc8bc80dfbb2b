//! SDS and SDS-R, pure: messages and wire codec, bloom filters, channel state, the
//! manager's operations and sweeps. No threads, no I/O, no clock reads: callers pass `now`
//! (Unix milliseconds) and get values and events back.

pub mod bloom;
pub mod budget;
pub mod channel;
pub mod config;
pub mod error;
pub mod event;
pub mod farmhash;
pub mod history;
mod incoming;
pub mod manager;
pub mod message;
pub(crate) mod protobuf;
mod repair_buffer;
pub mod rolling_bloom;
pub mod sdsr;
pub mod snapshot;
pub mod wire;
