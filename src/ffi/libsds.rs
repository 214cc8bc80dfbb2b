//! The drop-in libsds API (`include/libsds.h`): nim-sds's nine `Sds*` functions with its
//! signatures, return codes, argument checks, error strings, result formats and events.
//! A thin adapter over the same runtime as the native API.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Arc;

use super::callback::{storage_hint_provider, Answer, SdsCallBack, Target};
use super::hints::CHintProvider;
use super::json;
use super::panic::guard;
use super::registry::{self, storage_ctx, EventRoute, Flavour, Handle};
use super::sink::LibsdsSink;
use super::status::storage_status;
use crate::persistence::durable::OpError;
use crate::protocol::config::{LamportUnit, MAX_CONTENT_SIZE};
use crate::protocol::error::ProtocolError;
use crate::runtime::clock::SystemClock;
use crate::runtime::config::ContextConfig;
use crate::runtime::context::Context;
use crate::runtime::request::{Reply, Request, RequestError};

pub(super) const RET_OK: c_int = 0;
pub(super) const RET_ERR: c_int = 1;
pub(super) const RET_MISSING_CALLBACK: c_int = 2;

/// nim-sds's name for why a request failed.
fn reliability_error(error: &RequestError) -> &'static str {
    match error {
        RequestError::Op(OpError::Protocol(e)) => match e {
            ProtocolError::EmptyContent
            | ProtocolError::EmptyChannelId
            | ProtocolError::UnknownChannel(_) => "reInvalidArgument",
            ProtocolError::ContentTooLarge { .. }
            | ProtocolError::TooManyEntries { .. }
            | ProtocolError::IdTooLong { .. } => "reMessageTooLarge",
            ProtocolError::WireMessageTooLarge { .. } | ProtocolError::Decode(_) => {
                "reDeserializationError"
            }
            ProtocolError::TooManyChannels { .. }
            | ProtocolError::IncomingBufferFull { .. }
            | ProtocolError::OutgoingBufferFull { .. }
            | ProtocolError::MemoryBudget { .. } => "reOutOfMemory",
        },
        RequestError::Op(OpError::Persistence(_) | OpError::CorruptState { .. }) => {
            "rePersistenceError"
        }
        RequestError::ShuttingDown
        | RequestError::Recording(_)
        | RequestError::Upload(_)
        | RequestError::Panic(_)
        | RequestError::WorkerStopped(_) => "reInternalError",
    }
}

/// A reply in libsds form: `RET_OK` with `encode(value)`, or `RET_ERR` with
/// `error processing <OP> request: <reError>`. The encoded buffer itself is handed over and
/// then kept readable ([`super::retained`]), never copied.
fn reply_with<T: 'static>(
    answer: Answer,
    op: &'static str,
    encode: impl FnOnce(T) -> Vec<u8> + Send + 'static,
) -> Reply<T> {
    Reply::new(move |result| match result {
        Ok(value) => answer.send(storage_status::STORAGE_OK, RET_OK, encode(value)),
        Err(error) => answer.send(
            (&error).into(),
            RET_ERR,
            format!(
                "error processing {op} request: {}",
                reliability_error(&error)
            )
            .into_bytes(),
        ),
    })
}

/// A size refusal as a request error, so it is reported like every other failure.
fn too_large(error: ProtocolError) -> RequestError {
    RequestError::Op(OpError::Protocol(error))
}

fn nothing(_: ()) -> Vec<u8> {
    Vec::new()
}

/// Reports a bad argument as libsds does: callback with `RET_ERR` and the message.
fn refuse(target: Target, message: impl Into<Vec<u8>>) -> c_int {
    target.call(
        storage_status::STORAGE_NULL_ARGUMENT,
        RET_ERR,
        message.into(),
    );
    RET_ERR
}

/// The live libsds context behind `ctx` (native contexts are not libsds contexts).
fn libsds_handle(ctx: *mut c_void) -> Option<Arc<Handle>> {
    registry::get(ctx as *const storage_ctx).filter(|h| h.flavour == Flavour::Libsds)
}

/// The ctx and callback checks every request function starts with, in libsds's order.
fn checked(
    ctx: *mut c_void,
    callback: SdsCallBack,
    user_data: *mut c_void,
) -> Result<(Arc<Handle>, Target), c_int> {
    let handle = libsds_handle(ctx).ok_or(RET_ERR)?;
    let target = Target::libsds(callback, user_data).ok_or(RET_MISSING_CALLBACK)?;
    Ok((handle, target))
}

/// A string argument; `Err` carries the libsds message for NULL or non-UTF-8 input.
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string.
unsafe fn text<'a>(
    ptr: *const c_char,
    null_message: &'static str,
    what: &str,
) -> Result<&'a str, String> {
    if ptr.is_null() {
        return Err(null_message.to_owned());
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| format!("libsds error: {what} is not valid UTF-8"))
}

/// A channel id argument: not NULL, not empty.
///
/// # Safety
/// As for [`text`].
unsafe fn channel<'a>(ptr: *const c_char) -> Result<&'a str, String> {
    // SAFETY: forwarded contract.
    let id = unsafe {
        text(
            ptr,
            "libsds error: channel ID pointer is NULL",
            "channel ID",
        )
    }?;
    if id.is_empty() {
        return Err("libsds error: channel ID is empty string".to_owned());
    }
    Ok(id)
}

/// Copies a message buffer (NULL reads as empty).
///
/// # Safety
/// `message` is NULL, or points to `len` readable bytes with `len` already bounded.
unsafe fn copy_message(message: *mut c_void, len: usize) -> Vec<u8> {
    if message.is_null() {
        return Vec::new();
    }
    // SAFETY: non-NULL and `len` readable bytes per the contract.
    unsafe { std::slice::from_raw_parts(message.cast::<u8>(), len) }.to_vec()
}

/// Runs a request function: libsds's ctx and callback checks first, then `body`; a panic
/// becomes `RET_ERR`.
fn run(
    ctx: *mut c_void,
    callback: SdsCallBack,
    user_data: *mut c_void,
    body: impl FnOnce(Arc<Handle>, Target) -> c_int,
) -> c_int {
    guard(RET_ERR, || match checked(ctx, callback, user_data) {
        Ok((handle, target)) => body(handle, target),
        Err(code) => code,
    })
}

/// Creates a context with libsds's defaults (no participant id, so no SDS-R; one bloom
/// hit acknowledges; Lamport in seconds; no persistence). Returns NULL if `callback` is
/// NULL; otherwise calls it later with `RET_OK`.
#[no_mangle]
pub extern "C" fn SdsNewReliabilityManager(
    callback: SdsCallBack,
    user_data: *mut c_void,
) -> *mut c_void {
    guard(std::ptr::null_mut(), || {
        let Some(target) = Target::libsds(callback, user_data) else {
            eprintln!("libsds error: SdsNewReliabilityManager needs a callback");
            return std::ptr::null_mut();
        };
        let mut config = ContextConfig::default();
        config.protocol.bloom_acks_to_confirm = 1;
        config.protocol.lamport_unit = LamportUnit::Seconds;
        let max_wire = config.protocol.max_wire_message_size;
        let events = Arc::new(EventRoute::new(
            None,
            config.queues.event_queue_capacity,
            config.queues.event_queue_max_bytes,
        ));
        let context = match Context::start(
            config,
            Arc::new(SystemClock),
            Box::new(LibsdsSink(events.clone())),
        ) {
            Ok(context) => context,
            Err(error) => {
                eprintln!("libsds error: cannot create the reliability manager: {error}");
                return std::ptr::null_mut();
            }
        };
        context.submit(Request::Ping {
            reply: reply_with(
                Answer::new(Some(target)),
                "NEW_RELIABILITY_MANAGER",
                nothing,
            ),
        });
        registry::insert(Handle {
            context,
            events,
            flavour: Flavour::Libsds,
            max_wire_message_size: max_wire,
        })
        .cast()
    })
}

/// Sets the event callback (NULL drops events). An invalid ctx is ignored. Like
/// `storage_set_event_callback`, waits for a call of the old callback in progress.
#[no_mangle]
pub extern "C" fn SdsSetEventCallback(
    ctx: *mut c_void,
    callback: SdsCallBack,
    user_data: *mut c_void,
) {
    guard((), || match registry::get(ctx as *const storage_ctx) {
        Some(handle) => {
            let on_worker_thread = handle.context.on_worker_thread();
            handle
                .events
                .set_target(Target::libsds(callback, user_data), on_worker_thread)
        }
        None => eprintln!("libsds error: SdsSetEventCallback on an invalid context"),
    })
}

/// Sets the retrieval-hint provider used by later wraps. An invalid ctx is ignored.
#[no_mangle]
pub extern "C" fn SdsSetRetrievalHintProvider(
    ctx: *mut c_void,
    provider: storage_hint_provider,
    user_data: *mut c_void,
) {
    guard((), || match libsds_handle(ctx) {
        Some(handle) => {
            let provider = CHintProvider::libsds(provider, user_data)
                .map(|p| Box::new(p) as Box<dyn crate::protocol::manager::RetrievalHintProvider>);
            handle
                .context
                .submit(Request::SetRetrievalHintProvider { provider });
        }
        None => eprintln!("libsds error: SdsSetRetrievalHintProvider on an invalid context"),
    })
}

/// Stops and frees the context synchronously, then calls `callback(RET_OK, NULL, 0)`.
#[no_mangle]
pub extern "C" fn SdsCleanupReliabilityManager(
    ctx: *mut c_void,
    callback: SdsCallBack,
    user_data: *mut c_void,
) -> c_int {
    run(ctx, callback, user_data, |handle, target| {
        if handle.context.on_worker_thread() {
            return refuse(
                target,
                "libsds error: cannot clean up a reliability manager from its own callback",
            );
        }
        registry::remove(ctx as *const storage_ctx);
        let _ = handle.context.shutdown();
        handle.events.queue.close();
        target.call_null(storage_status::STORAGE_OK, RET_OK);
        RET_OK
    })
}

/// Forgets every channel; later `callback(RET_OK, "", 0)`.
#[no_mangle]
pub extern "C" fn SdsResetReliabilityManager(
    ctx: *mut c_void,
    callback: SdsCallBack,
    user_data: *mut c_void,
) -> c_int {
    run(ctx, callback, user_data, |handle, target| {
        let reply = reply_with(
            Answer::new(Some(target)),
            "RESET_RELIABILITY_MANAGER",
            nothing,
        );
        handle.context.submit(Request::Reset { reply });
        RET_OK
    })
}

/// Wraps a message; later `callback(RET_OK, "b0,b1,...")` with the wire bytes as
/// comma-separated decimal numbers.
///
/// # Safety
/// `message` points to `message_len` bytes (or is NULL with length 0); the ids are NULL or
/// NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn SdsWrapOutgoingMessage(
    ctx: *mut c_void,
    message: *mut c_void,
    message_len: usize,
    message_id: *const c_char,
    channel_id: *const c_char,
    callback: SdsCallBack,
    user_data: *mut c_void,
) -> c_int {
    run(ctx, callback, user_data, |handle, target| {
        if message.is_null() && message_len > 0 {
            return refuse(
                target,
                "libsds error: message pointer is NULL but length > 0",
            );
        }
        // SAFETY: forwarded caller contract for both strings.
        let ids = unsafe {
            text(
                message_id,
                "libsds error: message ID pointer is NULL",
                "message ID",
            )
            .and_then(|id| channel(channel_id).map(|ch| (id, ch)))
        };
        let (message_id, channel_id) = match ids {
            Ok(ids) => ids,
            Err(message) => return refuse(target, message),
        };
        let reply = reply_with(
            Answer::new(Some(target)),
            "WRAP_MESSAGE",
            |bytes: Vec<u8>| json::libsds_wrap_result(&bytes),
        );
        if message_len > MAX_CONTENT_SIZE {
            // Refused before copying, answered as the protocol would answer it.
            reply.send(Err(too_large(ProtocolError::ContentTooLarge {
                size: message_len,
                max: MAX_CONTENT_SIZE,
            })));
            return RET_OK;
        }
        // SAFETY: forwarded caller contract; NULL with length > 0 was refused above.
        let content = unsafe { copy_message(message, message_len) };
        handle.context.submit(Request::Wrap {
            channel_id: channel_id.to_owned(),
            message_id: message_id.to_owned(),
            content,
            reply,
        });
        RET_OK
    })
}

/// Unwraps received bytes; later `callback(RET_OK, json)` with libsds's unwrap result.
///
/// # Safety
/// `message` points to `message_len` bytes (or is NULL with length 0).
#[no_mangle]
pub unsafe extern "C" fn SdsUnwrapReceivedMessage(
    ctx: *mut c_void,
    message: *mut c_void,
    message_len: usize,
    callback: SdsCallBack,
    user_data: *mut c_void,
) -> c_int {
    run(ctx, callback, user_data, |handle, target| {
        if message.is_null() && message_len > 0 {
            return refuse(
                target,
                "libsds error: message pointer is NULL but length > 0",
            );
        }
        let reply = reply_with(Answer::new(Some(target)), "UNWRAP_MESSAGE", |u| {
            json::libsds_unwrap_result(&u)
        });
        if message_len > handle.max_wire_message_size {
            reply.send(Err(too_large(ProtocolError::WireMessageTooLarge {
                size: message_len,
                max: handle.max_wire_message_size,
            })));
            return RET_OK;
        }
        // SAFETY: forwarded caller contract; NULL with length > 0 was refused above.
        let bytes = unsafe { copy_message(message, message_len) };
        handle.context.submit(Request::Unwrap { bytes, reply });
        RET_OK
    })
}

/// Declares `count` ids present on `channel_id` (a NULL entry counts as `""`); later
/// `callback(RET_OK, "", 0)`.
///
/// # Safety
/// `message_ids` points to `count` entries, each NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn SdsMarkDependenciesMet(
    ctx: *mut c_void,
    message_ids: *mut *mut c_char,
    count: usize,
    channel_id: *const c_char,
    callback: SdsCallBack,
    user_data: *mut c_void,
) -> c_int {
    run(ctx, callback, user_data, |handle, target| {
        if message_ids.is_null() && count > 0 {
            return refuse(
                target,
                "libsds error: MessageIDs pointer is NULL but count > 0",
            );
        }
        // SAFETY: forwarded caller contract.
        let channel_id = match unsafe { channel(channel_id) } {
            Ok(id) => id.to_owned(),
            Err(message) => return refuse(target, message),
        };
        let mut ids = Vec::with_capacity(count.min(4096));
        for i in 0..count {
            // SAFETY: the caller guarantees `count` readable entries.
            let entry = unsafe { *message_ids.add(i) };
            if entry.is_null() {
                ids.push(String::new());
                continue;
            }
            // SAFETY: a non-NULL entry is a NUL-terminated string per the contract.
            match unsafe { CStr::from_ptr(entry) }.to_str() {
                Ok(id) => ids.push(id.to_owned()),
                Err(_) => return refuse(target, "libsds error: a message ID is not valid UTF-8"),
            }
        }
        handle.context.submit(Request::MarkDependenciesMet {
            channel_id,
            message_ids: ids,
            reply: reply_with(Answer::new(Some(target)), "MARK_DEPENDENCIES_MET", nothing),
        });
        RET_OK
    })
}

/// Starts the periodic tasks; later `callback(RET_OK, "", 0)`.
#[no_mangle]
pub extern "C" fn SdsStartPeriodicTasks(
    ctx: *mut c_void,
    callback: SdsCallBack,
    user_data: *mut c_void,
) -> c_int {
    run(ctx, callback, user_data, |handle, target| {
        let reply = reply_with(Answer::new(Some(target)), "START_PERIODIC_TASKS", nothing);
        handle.context.submit(Request::StartPeriodicTasks { reply });
        RET_OK
    })
}
