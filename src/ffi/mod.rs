//! `extern "C"` surface: the native `storage_*` API ([`native`], `include/storage.h`) and
//! the libsds-compatible `Sds*` API ([`libsds`], `include/libsds.h`). Thin: validate,
//! copy, enqueue on the context's runtime; no protocol logic. All `unsafe` of the crate
//! lives here, each block with its justification, the host persistence vtable and its
//! adapter ([`host_vtable`]) included.

pub(crate) mod args;
pub mod callback;
pub(crate) mod hints;
pub mod host_vtable;
pub mod json;
#[cfg(test)]
mod json_samples;
pub(crate) mod json_writer;
pub mod libsds;
pub mod native;
pub(crate) mod panic;
pub mod persistence;
pub mod recording;
pub mod registry;
pub(crate) mod retained;
pub(crate) mod sink;
pub mod status;
