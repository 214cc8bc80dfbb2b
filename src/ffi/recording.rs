//! The recordings C API (`storage_recording_*`, `storage_recordings_list`,
//! `storage_replay_*`) and the JSON of recording results and events. Validate, copy,
//! enqueue; the work happens on the worker and its helper threads.

use std::ffi::{c_char, c_void};

use super::args;
use super::callback::{storage_callback, Answer, Target};
use super::json;
use super::native::{done, reply_with, request};
use super::registry::storage_ctx;
use super::status::storage_status;
use crate::runtime::request::Request;

/// An optional string argument: NULL reads as `None`.
///
/// # Safety
/// As for [`args::text`].
unsafe fn optional_text<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, args::ArgError> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded caller contract.
        unsafe { args::text(ptr, name) }.map(Some)
    }
}

/// Runs a request on recording `name`, with an optional second string argument
/// (`extra`, reported as `extra_name`; NULL reads as `None`), built by `make`.
///
/// # Safety
/// `name` is a NUL-terminated string; `extra` is NULL or one.
unsafe fn named_request(
    ctx: *mut storage_ctx,
    name: *const c_char,
    extra: *const c_char,
    extra_name: &str,
    callback: storage_callback,
    user_data: *mut c_void,
    make: impl FnOnce(String, Option<String>, Option<Target>) -> Request,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract.
        let (name, extra) = unsafe {
            (
                args::text(name, "name")?.to_owned(),
                optional_text(extra, extra_name)?.map(str::to_owned),
            )
        };
        Ok((handle, make(name, extra, target)))
    })
}

/// Starts recording delivered messages into recording `name` under the configured
/// `recording.root`. `options_json` (NULL: defaults) may set `channels` (array or
/// `"all"`), `record_sent`, `mode` (`"continuous"` | `"ring"`), `window_secs`,
/// `max_bytes`, `queue_capacity`, `when_full` (`"block"` | `"drop"`), `chunk_max_bytes`,
/// `chunk_max_age_ms`, `flush_interval_ms`. A continuous recording's folder is created now;
/// a name in use is refused.
///
/// # Safety
/// `name` is a NUL-terminated string; `options_json` is NULL or one.
#[no_mangle]
pub unsafe extern "C" fn storage_recording_start(
    ctx: *mut storage_ctx,
    name: *const c_char,
    options_json: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    let make = |name, options: Option<String>, target| Request::RecordingStart {
        name,
        options_json: options.unwrap_or_default(),
        reply: done(target),
    };
    // SAFETY: forwarded caller contract.
    unsafe {
        named_request(
            ctx,
            name,
            options_json,
            "options_json",
            callback,
            user_data,
            make,
        )
    }
}

/// Stops recording `name`: queued messages are written, the open chunk sealed and the
/// final manifest written. The callback receives `{"name","written","dropped","manifest"}`.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_recording_stop(
    ctx: *mut storage_ctx,
    name: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    let make = |name, _, target| Request::RecordingStop {
        name,
        reply: reply_with(Answer::new(target), |summary| {
            json::recording_stop_result(&summary)
        }),
    };
    // SAFETY: forwarded caller contract.
    unsafe { named_request(ctx, name, std::ptr::null(), "", callback, user_data, make) }
}

/// Writes the current window of ring-buffer recording `name` as a new recording
/// `out_name` (NULL: `{name}-{unix ms}`), without clearing the window. The callback
/// receives the new recording's manifest.
///
/// # Safety
/// `name` is a NUL-terminated string; `out_name` is NULL or one.
#[no_mangle]
pub unsafe extern "C" fn storage_recording_seal(
    ctx: *mut storage_ctx,
    name: *const c_char,
    out_name: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    let make = |name, out_name, target| Request::RecordingSeal {
        name,
        out_name,
        reply: reply_with(Answer::new(target), |manifest| {
            json::recording_seal_result(&manifest)
        }),
    };
    // SAFETY: forwarded caller contract.
    unsafe { named_request(ctx, name, out_name, "out_name", callback, user_data, make) }
}

/// Lists the recordings under the root. The callback receives `{"recordings": [{"name",
/// "active", "manifest" | "error"}]}`, `manifest` being the recording's `manifest.json`.
#[no_mangle]
pub extern "C" fn storage_recordings_list(
    ctx: *mut storage_ctx,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        let reply = reply_with(Answer::new(target), |recordings: Vec<_>| {
            json::recordings_list_result(&recordings)
        });
        Ok((handle, Request::RecordingsList { reply }))
    })
}

/// Checks recording `name`: every chunk's SHA-256 against its name and the manifest, its
/// size, message count and MCAP CRCs. The callback receives `{"name","ok","chunks":
/// [{"file","status","reason"}]}` with status `ok`, `corrupt`, `missing`, `unlisted` or
/// `active`; `STORAGE_OK` means the check ran, `ok` says whether the recording is intact.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_recording_verify(
    ctx: *mut storage_ctx,
    name: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    let make = |name, _, target| Request::RecordingVerify {
        name,
        reply: reply_with(Answer::new(target), |report| {
            json::recording_verify_result(&report)
        }),
    };
    // SAFETY: forwarded caller contract.
    unsafe { named_request(ctx, name, std::ptr::null(), "", callback, user_data, make) }
}

/// Deletes recording `name` and its files; refused while it is being written.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_recording_delete(
    ctx: *mut storage_ctx,
    name: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    let make = |name, _, target| Request::RecordingDelete {
        name,
        reply: done(target),
    };
    // SAFETY: forwarded caller contract.
    unsafe { named_request(ctx, name, std::ptr::null(), "", callback, user_data, make) }
}

/// Replays recording `name` as `replay_message` events, then one `replay_finished`.
/// `options_json` (NULL: defaults) may set `include`/`exclude` (channel id arrays),
/// `start_time_ns`/`end_time_ns` (log-time trim), `rate` (1 = recorded pace, 0 = as fast
/// as possible), `loop`, `remap` (object channel → channel). The callback receives
/// `{"replayId": n}`.
///
/// # Safety
/// `name` is a NUL-terminated string; `options_json` is NULL or one.
#[no_mangle]
pub unsafe extern "C" fn storage_replay_start(
    ctx: *mut storage_ctx,
    name: *const c_char,
    options_json: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    let make = |name, options: Option<String>, target| Request::ReplayStart {
        name,
        options_json: options.unwrap_or_default(),
        reply: reply_with(Answer::new(target), json::replay_start_result),
    };
    // SAFETY: forwarded caller contract.
    unsafe {
        named_request(
            ctx,
            name,
            options_json,
            "options_json",
            callback,
            user_data,
            make,
        )
    }
}

/// Cancels replay `replay_id` promptly; its `replay_finished` event follows with
/// `"cancelled": true`.
#[no_mangle]
pub extern "C" fn storage_replay_stop(
    ctx: *mut storage_ctx,
    replay_id: u64,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        Ok((
            handle,
            Request::ReplayStop {
                replay_id,
                reply: done(target),
            },
        ))
    })
}
