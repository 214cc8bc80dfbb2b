//! `extern "C"` surface: the native `storage_*` API (`include/storage.h`) and the
//! libsds-compatible `Sds*` API (`include/libsds.h`). Thin: validate, copy, enqueue on the
//! context's runtime; no protocol logic. All `unsafe` of the crate lives here, each block
//! with its justification, the host persistence vtable and its adapter
//! ([`HostPersistence`]) included.
//!
//! Everything re-exported here is the C ABI, callable from Rust too; the types keep their
//! C names.

mod args;
mod callback;
mod hints;
mod host_vtable;
mod json;
#[cfg(test)]
mod json_samples;
mod json_writer;
mod libsds;
mod logger;
mod native;
mod panic;
mod persistence;
mod recording;
mod registry;
mod retained;
mod sink;
mod status;
mod upload;

pub use callback::{storage_callback, storage_hint_provider, SdsCallBack};
pub use host_vtable::{
    storage_drop_channel_fn, storage_history_row, storage_load_channel_fn, storage_load_sink,
    storage_persistence_vtable, storage_save_meta_fn, storage_set_retrieval_hint_fn, storage_str,
    storage_update_history_fn, HostPersistence, VtableError, STORAGE_PERSISTENCE_ABI_VERSION,
    STORAGE_PERSISTENCE_ERROR_CAPACITY,
};
pub use libsds::*;
pub use logger::{
    storage_log_callback, storage_log_level, storage_set_log_callback, storage_set_log_level,
};
pub use native::*;
pub use persistence::*;
pub use recording::*;
pub use registry::storage_ctx;
pub use status::{storage_status, storage_status_description, storage_status_name};
pub use upload::*;

/// The JSON renderers behind the C API's results and events, for the codec benchmarks
/// (`benches/codec.rs`). Not a stable API.
#[doc(hidden)]
pub mod testing {
    pub use super::json::{
        libsds_unwrap_result, libsds_wrap_result, native_event, native_event_by_serde,
    };
}
