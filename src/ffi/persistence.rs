//! Registering a host persistence vtable (`storage_new_with_persistence_ex`) and the load
//! sink the host pushes stored state into. The adapter itself is
//! [`HostPersistence`].

use std::ffi::{c_char, c_void};

use super::args;
use super::callback::storage_callback;
use super::host_vtable::{
    storage_load_sink, storage_persistence_vtable, HostPersistence, VtableError,
    STORAGE_PERSISTENCE_ABI_VERSION,
};
use super::native::{create, creating};
use super::panic::guard;
use super::registry::storage_ctx;
use super::status::storage_status::{self, *};

/// Creates a context whose state is saved through a host persistence vtable instead of
/// a built-in backend (the configuration must then not set `persistence.kind`, or set it
/// to `"none"`). Otherwise as `storage_new_ex`, which says how a failure is reported.
///
/// The vtable is copied by value: `*vtable` may be freed when this returns. Its calls run
/// on the context's worker thread, one at a time, never concurrently; `user_data` must be
/// usable there. A call returns 0 on success; on failure it returns any other value and
/// may write a NUL-terminated message (truncated to `error_capacity` bytes) into `error`,
/// a buffer owned by the library and valid during the call only. All pointers handed to
/// a call (channel and message ids, meta, rows, the load sink) are borrowed for that call
/// only: copy what you keep. Failure policy (DESIGN.md): a failing save_channel_meta or
/// update_history does not fail the operation (a `persistence_warning` event reports it and
/// the history batch is retried with the next operation); a failing load_channel or
/// drop_channel fails the operation with STORAGE_PERSISTENCE_ERROR and the host's message.
/// The meta and history of one operation arrive as two consecutive calls; a host that
/// needs them atomic commits at the end of update_history (or of save_channel_meta when
/// no update_history follows).
///
/// `destroy` (optional) runs exactly once whenever `abi_version` is
/// `STORAGE_PERSISTENCE_ABI_VERSION`: after the last other call, during `storage_free`
/// (on the worker thread, before `storage_free` returns), or before this function
/// returns if it fails (a NULL required call, a bad configuration, a start failure).
/// With an unknown `abi_version` this returns STORAGE_INVALID_CONFIG without reading any
/// other field or calling `destroy`: the host keeps ownership of `user_data`. A NULL
/// `vtable` returns STORAGE_NULL_ARGUMENT.
///
/// # Safety
/// As `storage_new_ex`; `vtable` is NULL or points to a readable vtable whose functions and
/// `user_data` stay valid until `destroy` is called.
#[no_mangle]
pub unsafe extern "C" fn storage_new_with_persistence_ex(
    config_json: *const c_char,
    vtable: *const storage_persistence_vtable,
    event_callback: storage_callback,
    user_data: *mut c_void,
    out_ctx: *mut *mut storage_ctx,
    out_error: *mut *mut c_char,
) -> storage_status {
    let make = |target| {
        if !out_ctx.is_null() {
            // SAFETY: non-NULL and writable per the contract; cleared before any return.
            unsafe { *out_ctx = std::ptr::null_mut() };
        }
        if vtable.is_null() {
            return Err((STORAGE_NULL_ARGUMENT, "vtable is NULL".into()));
        }
        // A vtable of another layout may be shorter than ours: read its version alone
        // before copying the rest.
        // SAFETY: non-NULL and readable per the contract; every layout starts with it.
        let abi_version = unsafe { std::ptr::addr_of!((*vtable).abi_version).read() };
        if abi_version != STORAGE_PERSISTENCE_ABI_VERSION {
            let error = VtableError::AbiVersion(abi_version).to_string();
            return Err((STORAGE_INVALID_CONFIG, error));
        }
        // SAFETY: as above, and of this build's layout (checked version); copied by value.
        let vtable = unsafe { *vtable };
        let backend = HostPersistence::new(&vtable)
            .map_err(|error| (STORAGE_INVALID_CONFIG, error.to_string()))?;
        // SAFETY: forwarded caller contract.
        unsafe { create(config_json, target, out_ctx, Some(Box::new(backend))) }
    };
    // SAFETY: forwarded caller contract.
    unsafe { creating(event_callback, user_data, out_error, make) }
}

/// `storage_new_with_persistence_ex` without `out_error`: if creation fails,
/// `event_callback` (if any) receives the failure's status and message before this
/// returns. The vtable's ownership rules are the same.
///
/// # Safety
/// As for `storage_new_with_persistence_ex`.
#[no_mangle]
pub unsafe extern "C" fn storage_new_with_persistence(
    config_json: *const c_char,
    vtable: *const storage_persistence_vtable,
    event_callback: storage_callback,
    user_data: *mut c_void,
    out_ctx: *mut *mut storage_ctx,
) -> storage_status {
    // SAFETY: forwarded caller contract; no `out_error`.
    unsafe {
        storage_new_with_persistence_ex(
            config_json,
            vtable,
            event_callback,
            user_data,
            out_ctx,
            std::ptr::null_mut(),
        )
    }
}

/// Pushes a sink argument's bytes into it.
///
/// # Safety
/// `sink` is NULL or the sink of a `load_channel` call in progress; `data` points to
/// `len` bytes (or is NULL with length 0).
unsafe fn push(
    sink: *mut storage_load_sink,
    data: *const u8,
    len: usize,
    into: impl FnOnce(&mut storage_load_sink, &[u8]),
) -> storage_status {
    guard(STORAGE_PANIC, || {
        if sink.is_null() {
            return STORAGE_NULL_ARGUMENT;
        }
        // SAFETY: forwarded caller contract.
        let bytes = match unsafe { args::bytes(data, len, "data") } {
            Ok(bytes) => bytes,
            Err((status, _)) => return status,
        };
        // SAFETY: the sink is alive and exclusively lent to the host during the
        // `load_channel` call this runs inside (caller contract).
        into(unsafe { &mut *sink }, bytes);
        STORAGE_OK
    })
}

/// Inside `load_channel`: sets the channel's meta (snapshot-codec bytes, as received by
/// `save_channel_meta`); a second push replaces the first. The bytes are copied.
///
/// # Safety
/// `sink` is the sink passed to the `load_channel` call in progress (it is invalid after
/// that call returns); `data` points to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn storage_load_sink_push_meta(
    sink: *mut storage_load_sink,
    data: *const u8,
    len: usize,
) -> storage_status {
    // SAFETY: forwarded caller contract.
    unsafe { push(sink, data, len, storage_load_sink::push_meta) }
}

/// Inside `load_channel`: appends one history row (the message bytes received by
/// `update_history`); push rows in append order. The bytes are copied.
///
/// # Safety
/// As for `storage_load_sink_push_meta`.
#[no_mangle]
pub unsafe extern "C" fn storage_load_sink_push_history(
    sink: *mut storage_load_sink,
    data: *const u8,
    len: usize,
) -> storage_status {
    // SAFETY: forwarded caller contract.
    unsafe { push(sink, data, len, storage_load_sink::push_history) }
}
