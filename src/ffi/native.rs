//! The native C API (`include/storage.h`): validate, copy, enqueue. Outcomes arrive
//! through each request's callback on the context's worker thread.

use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;
use std::time::Duration;

use super::args::{self, reject, ArgError};
use super::callback::{storage_callback, storage_hint_provider, Answer, Target};
use super::hints::CHintProvider;
use super::json;
use super::panic::guard;
use super::registry::{self, storage_ctx, EventRoute, Flavour, Handle};
use super::sink::NativeSink;
use super::status::storage_status::{self, *};
use crate::persistence::contract::Persistence;
use crate::protocol::config::MAX_CONTENT_SIZE;
use crate::runtime::clock::SystemClock;
use crate::runtime::config::{ContextConfig, PersistenceConfig};
use crate::runtime::context::Context;
use crate::runtime::error::ContextError;
use crate::runtime::event_queue::Pulled;
use crate::runtime::request::{Reply, Request};

/// A reply that answers the host's callback: `encode` turns a success into the bytes
/// handed over; a failure hands over its message.
pub(crate) fn reply_with<T: 'static>(
    answer: Answer,
    encode: impl FnOnce(T) -> Vec<u8> + Send + 'static,
) -> Reply<T> {
    Reply::new(move |result| match result {
        Ok(value) => answer.send(STORAGE_OK, 0, encode(value)),
        Err(error) => answer.send((&error).into(), 1, error.to_string().into_bytes()),
    })
}

/// Runs an exported request function: catches panics, reports bad arguments through the
/// callback, and otherwise submits the request `build` makes.
pub(crate) fn request(
    callback: storage_callback,
    user_data: *mut c_void,
    build: impl FnOnce(Option<Target>) -> Result<(Arc<Handle>, Request), ArgError>,
) -> storage_status {
    guard(STORAGE_PANIC, || {
        let target = Target::native(callback, user_data);
        match build(target) {
            Ok((handle, request)) => {
                handle.context.submit(request);
                STORAGE_OK
            }
            Err(error) => reject(target, error),
        }
    })
}

pub(crate) fn done(target: Option<Target>) -> Reply<()> {
    reply_with(Answer::new(target), |()| Vec::new())
}

/// The library version, a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn storage_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Creates a context from a JSON configuration document: `storage_new_ex` without
/// `out_error`. If creation fails, `event_callback` (if any) receives the failure's status
/// and message before this returns.
///
/// # Safety
/// As for `storage_new_ex`.
#[no_mangle]
pub unsafe extern "C" fn storage_new(
    config_json: *const c_char,
    event_callback: storage_callback,
    user_data: *mut c_void,
    out_ctx: *mut *mut storage_ctx,
) -> storage_status {
    // SAFETY: forwarded caller contract; no `out_error`.
    unsafe {
        storage_new_ex(
            config_json,
            event_callback,
            user_data,
            out_ctx,
            std::ptr::null_mut(),
        )
    }
}

/// Creates a context from a JSON configuration document (NULL or "" for the defaults).
/// On success `*out_ctx` is the context and `*out_error` (when `out_error` is not NULL) is
/// NULL. On failure the status says why, `*out_ctx` is NULL and the message (which names
/// a bad configuration key) is handed over twice, before this returns: to
/// `event_callback` if one is given, borrowed for that call, and, when `out_error` is not
/// NULL, as `*out_error`, a NUL-terminated UTF-8 string the caller owns and releases with
/// `storage_string_free`.
///
/// A context emits events as soon as it starts, possibly before this returns: one
/// `recording_recovered` per file crash recovery acted on, then `recording_started` for
/// the `recording.autostart` recording. Like every event they go to `event_callback`, or,
/// when it is NULL, wait in the queue for `storage_next_event`.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out_ctx` is a valid pointer to
/// write the handle to; `out_error` is NULL or a valid pointer to write the message to.
#[no_mangle]
pub unsafe extern "C" fn storage_new_ex(
    config_json: *const c_char,
    event_callback: storage_callback,
    user_data: *mut c_void,
    out_ctx: *mut *mut storage_ctx,
    out_error: *mut *mut c_char,
) -> storage_status {
    // SAFETY: forwarded caller contract (for `create` too).
    let make = |target| unsafe { create(config_json, target, out_ctx, None) };
    // SAFETY: forwarded caller contract.
    unsafe { creating(event_callback, user_data, out_error, make) }
}

/// Runs an exported creation function: clears `*out_error`, runs `make` (which clears and
/// sets `*out_ctx`), and reports its failure, or a panic, to the event callback and
/// through `out_error`.
///
/// # Safety
/// `out_error` is NULL or valid to write to.
pub(crate) unsafe fn creating(
    event_callback: storage_callback,
    user_data: *mut c_void,
    out_error: *mut *mut c_char,
    make: impl FnOnce(Option<Target>) -> Result<(), ArgError>,
) -> storage_status {
    guard(STORAGE_PANIC, || {
        if !out_error.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { *out_error = std::ptr::null_mut() };
        }
        let target = Target::native(event_callback, user_data);
        let internal = (
            STORAGE_PANIC,
            "internal error: the library failed while creating the context".to_owned(),
        );
        let Err(error) = guard(Err(internal), || make(target)) else {
            return STORAGE_OK;
        };
        if !out_error.is_null() {
            // SAFETY: as above; ownership of the string passes to the caller.
            unsafe { *out_error = owned_c_string(&error.1) };
        }
        reject(target, error)
    })
}

/// `message` as a C string the caller releases with `storage_string_free`; a NUL inside
/// it (echoed from the caller's input) is written as `\0`, so nothing is cut off.
fn owned_c_string(message: &str) -> *mut c_char {
    let text = CString::new(message.replace('\0', "\\0"))
        .unwrap_or_else(|_| CString::from(c"message not representable"));
    text.into_raw()
}

/// Releases a string the library handed over (`*out_error` of `storage_new_ex` and
/// `storage_new_with_persistence_ex`). NULL is a no-op.
///
/// # Safety
/// `string` is NULL or exactly as received from the library, released once.
#[no_mangle]
pub unsafe extern "C" fn storage_string_free(string: *mut c_char) {
    guard((), || {
        if !string.is_null() {
            // SAFETY: the caller passes back a string made by `CString::into_raw`, once.
            drop(unsafe { CString::from_raw(string) });
        }
    });
}

/// Creates a native context: on `backend` if given (then the configuration must not
/// choose a persistence kind), else on the one the configuration names. `backend` is
/// dropped (a host vtable destroyed) if creation fails. Events go to `target`, or queue.
///
/// # Safety
/// `config_json` and `out_ctx` as for `storage_new_ex`.
pub(crate) unsafe fn create(
    config_json: *const c_char,
    target: Option<Target>,
    out_ctx: *mut *mut storage_ctx,
    backend: Option<Box<dyn Persistence>>,
) -> Result<(), ArgError> {
    if out_ctx.is_null() {
        return Err((STORAGE_NULL_ARGUMENT, "out_ctx is NULL".into()));
    }
    // SAFETY: checked non-NULL; the caller guarantees it is writable.
    unsafe { *out_ctx = std::ptr::null_mut() };
    let text = if config_json.is_null() {
        ""
    } else {
        // SAFETY: non-NULL NUL-terminated string per the contract.
        unsafe { args::text(config_json, "config_json") }?
    };
    let config = ContextConfig::from_json(text)
        .map_err(|error| (STORAGE_INVALID_CONFIG, error.to_string()))?;
    if backend.is_some() && config.persistence != PersistenceConfig::None {
        let message = "persistence.kind: a host persistence vtable is given, so the \
                       configuration must not choose a backend too";
        return Err((STORAGE_INVALID_CONFIG, message.into()));
    }
    let max_wire = config.protocol.max_wire_message_size;
    let events = Arc::new(EventRoute::new(
        target,
        config.queues.event_queue_capacity,
        config.queues.event_queue_max_bytes,
    ));
    let sink = Box::new(NativeSink(events.clone()));
    let clock = Arc::new(SystemClock);
    let started = match backend {
        Some(backend) => Context::start_with(config, clock, sink, backend),
        None => Context::start(config, clock, sink),
    };
    let context = started.map_err(|error| match error {
        ContextError::Config(_) | ContextError::Upload(_) => {
            (STORAGE_INVALID_CONFIG, error.to_string())
        }
        _ => (STORAGE_START_FAILED, error.to_string()),
    })?;
    let handle = registry::insert(Handle {
        context,
        events,
        flavour: Flavour::Native,
        max_wire_message_size: max_wire,
    });
    // SAFETY: as above.
    unsafe { *out_ctx = handle };
    Ok(())
}

/// Frees a context: fails its queued requests, stops timers, joins the worker. After it
/// returns no callback runs. A no-op on NULL; refused inside the context's own callback.
///
/// # Safety
/// `ctx` is NULL or any value (it is looked up, never dereferenced).
#[no_mangle]
pub unsafe extern "C" fn storage_free(ctx: *mut storage_ctx) -> storage_status {
    guard(STORAGE_PANIC, || {
        if ctx.is_null() {
            return STORAGE_OK;
        }
        let Some(handle) = args::native_handle(ctx) else {
            return STORAGE_INVALID_HANDLE;
        };
        if handle.context.on_worker_thread() {
            return STORAGE_MISUSE;
        }
        registry::remove(ctx);
        // Not on the worker thread (checked above), so this cannot be refused.
        let _ = handle.context.shutdown();
        handle.events.queue.close();
        STORAGE_OK
    })
}

/// Sets (or, with NULL, clears) the event callback. Without one, events queue for
/// `storage_next_event`; events queued before a callback is set stay queued for it.
/// Called from another thread while the old callback is running, it waits for that call
/// to return: afterwards the old callback is never called again.
///
/// # Safety
/// `callback` must stay callable with `user_data` until a later call replacing it has
/// returned, or the context is freed.
#[no_mangle]
pub unsafe extern "C" fn storage_set_event_callback(
    ctx: *mut storage_ctx,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    guard(STORAGE_PANIC, || match args::native_handle(ctx) {
        Some(handle) => {
            let on_worker_thread = handle.context.on_worker_thread();
            handle
                .events
                .set_target(Target::native(callback, user_data), on_worker_thread);
            STORAGE_OK
        }
        None => STORAGE_INVALID_HANDLE,
    })
}

/// Waits up to `timeout_ms` for the next event (when no event callback is set). On
/// success `*out_data`/`*out_len` receive a JSON buffer the caller releases with
/// `storage_bytes_free`. Called inside one of this context's callbacks it returns
/// `STORAGE_MISUSE` at once: the worker that would produce the event is the one waiting.
///
/// # Safety
/// `out_data` and `out_len` are valid pointers to write to.
#[no_mangle]
pub unsafe extern "C" fn storage_next_event(
    ctx: *mut storage_ctx,
    timeout_ms: u32,
    out_data: *mut *mut u8,
    out_len: *mut usize,
) -> storage_status {
    guard(STORAGE_PANIC, || {
        if out_data.is_null() || out_len.is_null() {
            return STORAGE_NULL_ARGUMENT;
        }
        // SAFETY: both checked non-NULL and writable per the contract.
        unsafe {
            *out_data = std::ptr::null_mut();
            *out_len = 0;
        }
        let Some(handle) = args::native_handle(ctx) else {
            return STORAGE_INVALID_HANDLE;
        };
        // Inside a callback the worker waits for this very call: nothing could arrive.
        if handle.context.on_worker_thread() {
            return STORAGE_MISUSE;
        }
        let event = match handle
            .events
            .queue
            .pull(Duration::from_millis(u64::from(timeout_ms)))
        {
            Pulled::Event(bytes) => bytes,
            Pulled::Overflow(dropped) => json::native_event_queue_overflow(dropped).into_bytes(),
            Pulled::TimedOut => return STORAGE_TIMEOUT,
            Pulled::Closed => return STORAGE_SHUTTING_DOWN,
        };
        let buffer = Box::into_raw(event.into_boxed_slice());
        // SAFETY: as above; ownership of the buffer passes to the caller.
        unsafe {
            *out_len = buffer.len();
            *out_data = buffer.cast::<u8>();
        }
        STORAGE_OK
    })
}

/// Releases a buffer the library handed over (`storage_next_event`). NULL is a no-op.
///
/// # Safety
/// `data`/`len` are exactly as received from the library, released once.
#[no_mangle]
pub unsafe extern "C" fn storage_bytes_free(data: *mut u8, len: usize) {
    guard((), || {
        if !data.is_null() {
            // SAFETY: the caller passes back a buffer made by `Box::into_raw` of a boxed
            // slice of `len` bytes, exactly once.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(data, len)) });
        }
    });
}

/// Sets (or, with NULL, clears) the retrieval-hint provider used by later wraps.
///
/// # Safety
/// `provider` must stay callable with `user_data` until the context is freed.
#[no_mangle]
pub unsafe extern "C" fn storage_set_retrieval_hint_provider(
    ctx: *mut storage_ctx,
    provider: storage_hint_provider,
    user_data: *mut c_void,
) -> storage_status {
    guard(STORAGE_PANIC, || match args::native_handle(ctx) {
        Some(handle) => {
            let provider = CHintProvider::native(provider, user_data)
                .map(|p| Box::new(p) as Box<dyn crate::protocol::manager::RetrievalHintProvider>);
            handle
                .context
                .submit(Request::SetRetrievalHintProvider { provider });
            STORAGE_OK
        }
        None => STORAGE_INVALID_HANDLE,
    })
}

/// Wraps `content` as message `message_id` on `channel_id`; the callback receives the
/// wire bytes to broadcast.
///
/// # Safety
/// Strings are NUL-terminated; `content` points to `content_len` bytes (or is NULL with
/// length 0); all are read before the call returns.
#[no_mangle]
pub unsafe extern "C" fn storage_wrap(
    ctx: *mut storage_ctx,
    channel_id: *const c_char,
    message_id: *const c_char,
    content: *const u8,
    content_len: usize,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        wrap_request(
            ctx,
            channel_id,
            message_id,
            content,
            content_len,
            callback,
            user_data,
            false,
        )
    }
}

/// Wraps an ephemeral message (no Lamport timestamp, causal history or bloom filter;
/// receivers deliver it at once and never buffer or store it).
///
/// # Safety
/// As for `storage_wrap`.
#[no_mangle]
pub unsafe extern "C" fn storage_wrap_ephemeral(
    ctx: *mut storage_ctx,
    channel_id: *const c_char,
    message_id: *const c_char,
    content: *const u8,
    content_len: usize,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        wrap_request(
            ctx,
            channel_id,
            message_id,
            content,
            content_len,
            callback,
            user_data,
            true,
        )
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn wrap_request(
    ctx: *mut storage_ctx,
    channel_id: *const c_char,
    message_id: *const c_char,
    content: *const u8,
    content_len: usize,
    callback: storage_callback,
    user_data: *mut c_void,
    ephemeral: bool,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract for every pointer.
        let (channel_id, message_id, content) = unsafe {
            (
                args::channel(channel_id)?,
                args::text(message_id, "message_id")?,
                args::bytes(content, content_len, "content")?,
            )
        };
        args::at_most(content, MAX_CONTENT_SIZE, "content")?;
        let (channel_id, message_id, content) = (
            channel_id.to_owned(),
            message_id.to_owned(),
            content.to_vec(),
        );
        let reply = reply_with(Answer::new(target), |bytes: Vec<u8>| bytes);
        let request = if ephemeral {
            Request::WrapEphemeral {
                channel_id,
                message_id,
                content,
                reply,
            }
        } else {
            Request::Wrap {
                channel_id,
                message_id,
                content,
                reply,
            }
        };
        Ok((handle, request))
    })
}

/// Builds a sync message for `channel_id`; the callback receives its wire bytes.
///
/// # Safety
/// `channel_id` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_build_sync_message(
    ctx: *mut storage_ctx,
    channel_id: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract.
        let channel_id = unsafe { args::channel(channel_id)? }.to_owned();
        let reply = reply_with(Answer::new(target), |bytes: Vec<u8>| bytes);
        Ok((handle, Request::BuildSyncMessage { channel_id, reply }))
    })
}

/// Processes received wire bytes; the callback receives the unwrap result JSON.
///
/// # Safety
/// `data` points to `len` bytes (or is NULL with length 0).
#[no_mangle]
pub unsafe extern "C" fn storage_unwrap(
    ctx: *mut storage_ctx,
    data: *const u8,
    len: usize,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract.
        let bytes = unsafe { args::bytes(data, len, "data")? };
        args::at_most(bytes, handle.max_wire_message_size, "data")?;
        let reply = reply_with(Answer::new(target), |u| {
            json::native_unwrap_result(&u).into_bytes()
        });
        Ok((
            handle,
            Request::Unwrap {
                bytes: bytes.to_vec(),
                reply,
            },
        ))
    })
}

/// Declares `count` message ids present on `channel_id` (retrieved another way).
///
/// # Safety
/// `message_ids` points to `count` NUL-terminated strings (or is NULL with count 0).
#[no_mangle]
pub unsafe extern "C" fn storage_mark_dependencies_met(
    ctx: *mut storage_ctx,
    message_ids: *const *const c_char,
    count: usize,
    channel_id: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract.
        let channel_id = unsafe { args::channel(channel_id)? }.to_owned();
        if message_ids.is_null() && count > 0 {
            return Err((
                STORAGE_NULL_ARGUMENT,
                format!("message_ids is NULL but count is {count}"),
            ));
        }
        let mut ids = Vec::with_capacity(count.min(4096));
        for i in 0..count {
            // SAFETY: the caller guarantees `count` readable entries.
            let entry = unsafe { *message_ids.add(i) };
            // SAFETY: each entry is a NUL-terminated string per the contract.
            ids.push(unsafe { args::text(entry, &format!("message_ids[{i}]")) }?.to_owned());
        }
        Ok((
            handle,
            Request::MarkDependenciesMet {
                channel_id,
                message_ids: ids,
                reply: done(target),
            },
        ))
    })
}

/// A request that names a channel and answers with nothing but success or an error.
///
/// # Safety
/// `channel_id` is a NUL-terminated string.
unsafe fn channel_request(
    ctx: *mut storage_ctx,
    channel_id: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
    make: impl FnOnce(String, Reply<()>) -> Request,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract.
        let channel_id = unsafe { args::channel(channel_id)? }.to_owned();
        Ok((handle, make(channel_id, done(target))))
    })
}

/// Loads (from persistence) or creates a channel.
///
/// # Safety
/// `channel_id` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_ensure_channel(
    ctx: *mut storage_ctx,
    channel_id: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        channel_request(ctx, channel_id, callback, user_data, |channel_id, reply| {
            Request::EnsureChannel { channel_id, reply }
        })
    }
}

/// Deletes a channel and its persisted state.
///
/// # Safety
/// `channel_id` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_remove_channel(
    ctx: *mut storage_ctx,
    channel_id: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    // SAFETY: forwarded caller contract.
    unsafe {
        channel_request(ctx, channel_id, callback, user_data, |channel_id, reply| {
            Request::RemoveChannel { channel_id, reply }
        })
    }
}

/// Deletes every channel and its persisted state.
#[no_mangle]
pub extern "C" fn storage_reset(
    ctx: *mut storage_ctx,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        Ok((
            args::context(ctx)?,
            Request::Reset {
                reply: done(target),
            },
        ))
    })
}

/// Starts the periodic sweeps (resend, lost messages, repair) and the sync timer; each
/// runs once right away. Starting twice is harmless.
#[no_mangle]
pub extern "C" fn storage_start_periodic_tasks(
    ctx: *mut storage_ctx,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        Ok((
            args::context(ctx)?,
            Request::StartPeriodicTasks {
                reply: done(target),
            },
        ))
    })
}

/// Reads a channel's statistics; the callback receives them as JSON. A channel stored
/// by an earlier run is loaded first, as by any request (`STORAGE_PERSISTENCE_ERROR` if
/// that fails); a channel neither in use nor stored is `STORAGE_UNKNOWN_CHANNEL`, and
/// asking does not create it.
///
/// # Safety
/// `channel_id` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_channel_stats(
    ctx: *mut storage_ctx,
    channel_id: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract.
        let channel_id = unsafe { args::channel(channel_id)? }.to_owned();
        let answer = Answer::new(target);
        let name = channel_id.clone();
        let reply: Reply<Option<crate::protocol::manager::ChannelStats>> =
            Reply::new(move |result| match result {
                Ok(Some(stats)) => answer.send(
                    STORAGE_OK,
                    0,
                    json::channel_stats(&name, &stats).into_bytes(),
                ),
                Ok(None) => answer.send(
                    STORAGE_UNKNOWN_CHANNEL,
                    1,
                    format!("unknown channel `{name}`").into_bytes(),
                ),
                Err(error) => answer.send((&error).into(), 1, error.to_string().into_bytes()),
            });
        Ok((handle, Request::ChannelStats { channel_id, reply }))
    })
}
