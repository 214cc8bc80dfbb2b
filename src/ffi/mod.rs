//! `extern "C"` surface: the native `storage_*` API and the libsds-compatible `Sds*` API.
//! Not built yet: see the C ABI issue.

pub mod json;
