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
use crate::recording::audit::{AuditRecord, MAX_FIELD_BYTES};
use crate::runtime::request::{Reply, Request, Retirement};

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
        anchor: None,
        reply: reply_with(Answer::new(target), |report| {
            json::recording_verify_result(&report)
        }),
    };
    // SAFETY: forwarded caller contract.
    unsafe { named_request(ctx, name, std::ptr::null(), "", callback, user_data, make) }
}

/// `storage_recording_verify`, also checking the hash chain against `head`, a head the
/// host anchored elsewhere (from a `chunk_sealed` event or a stop or seal result): the
/// result's `chain.anchor` is `"head"` (it is the head), `"prefix"` (the hash of an
/// earlier chunk: the recording grew since, its history unchanged) or `"mismatch"` (the
/// chain does not contain it: history was rewritten), and `ok` is false on a mismatch.
/// `head` must be 64 hex digits (`STORAGE_RECORDING_INVALID` otherwise).
///
/// Ownership: `name` and `head` are copied before this returns. Threading: any thread;
/// the callback runs on the worker thread.
///
/// # Safety
/// `name` and `head` are NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn storage_recording_verify_anchored(
    ctx: *mut storage_ctx,
    name: *const c_char,
    head: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract.
        let (name, head) = unsafe { (args::text(name, "name")?, args::text(head, "head")?) };
        let anchor = chain_hash(head, "head")?;
        let request = Request::RecordingVerify {
            name: name.to_owned(),
            anchor: Some(anchor),
            reply: reply_with(Answer::new(target), |report| {
                json::recording_verify_result(&report)
            }),
        };
        Ok((handle, request))
    })
}

/// A reply handing over the audit record appended.
fn audit_reply(target: Option<Target>) -> Reply<AuditRecord> {
    reply_with(Answer::new(target), |record| {
        json::audit_record_result(&record)
    })
}

/// A hash argument: 64 hex digits, returned lower-case.
fn chain_hash(text: &str, name: &str) -> Result<String, args::ArgError> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text.to_ascii_lowercase())
    } else {
        Err((
            storage_status::STORAGE_RECORDING_INVALID,
            format!("{name} must be a SHA-256 as 64 hex digits"),
        ))
    }
}

/// The actor and reason of an audit record: `actor` NULL reads as the context's
/// participant id; `reason` must not be NULL; each at most [`MAX_FIELD_BYTES`] bytes.
///
/// # Safety
/// `actor` is NULL or a NUL-terminated string; `reason` is one.
unsafe fn who_and_why(
    actor: *const c_char,
    reason: *const c_char,
) -> Result<(Option<String>, String), args::ArgError> {
    // SAFETY: forwarded caller contract.
    let (actor, reason) = unsafe {
        (
            optional_text(actor, "actor")?,
            args::text(reason, "reason")?,
        )
    };
    for (name, text) in [("actor", actor.unwrap_or("")), ("reason", reason)] {
        args::at_most(text.as_bytes(), MAX_FIELD_BYTES, name)?;
    }
    Ok((actor.map(str::to_owned), reason.to_owned()))
}

/// Retires recording `name` (or, with `chunk` ≥ 0, its chunk of that index) without
/// touching its files: appends a supersession record to the audit log under the
/// recordings root saying what was superseded (the recording's chain head, or the
/// chunk's SHA-256), by what (`replacement`, an existing recording, or NULL for nothing),
/// who (`actor`; NULL: the participant id) and why (`reason`). Listing then shows the
/// recording with this record under `superseded`. Refused while the recording is being
/// written, when it (or the chunk) is already superseded, and for an unknown recording
/// or replacement (`STORAGE_RECORDING_NOT_FOUND`). `actor` and `reason` are at most 4096
/// bytes (`STORAGE_TOO_LARGE`). The callback receives the audit record appended.
///
/// Ownership: the strings are copied before this returns. Threading: any thread; the
/// callback runs on the worker thread.
///
/// # Safety
/// `name` and `reason` are NUL-terminated strings; `replacement` and `actor` are NULL or
/// such strings.
#[no_mangle]
pub unsafe extern "C" fn storage_recording_supersede(
    ctx: *mut storage_ctx,
    name: *const c_char,
    chunk: i64,
    replacement: *const c_char,
    actor: *const c_char,
    reason: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract.
        let (name, replacement, (actor, reason)) = unsafe {
            (
                args::text(name, "name")?,
                optional_text(replacement, "replacement")?,
                who_and_why(actor, reason)?,
            )
        };
        let request = Request::RecordingSupersede {
            name: name.to_owned(),
            retire: Retirement {
                chunk: u64::try_from(chunk).ok(),
                replacement: replacement.map(str::to_owned),
                actor,
                reason,
            },
            reply: audit_reply(target),
        };
        Ok((handle, request))
    })
}

/// Deletes the files of superseded recording `name`: the separate, explicit step after
/// `storage_recording_supersede`. An erasure record (who: `actor`, NULL for the
/// participant id; why: `reason`) is appended to the audit log first, so the deletion is
/// never silent; the recording is then listed from the audit log alone, under `erased`.
/// Refused unless superseded (`STORAGE_RECORDING_INVALID`), while being written, and for
/// an unknown recording. The callback receives the audit record appended.
///
/// Ownership: the strings are copied before this returns. Threading: any thread; the
/// callback runs on the worker thread.
///
/// # Safety
/// `name` and `reason` are NUL-terminated strings; `actor` is NULL or one.
#[no_mangle]
pub unsafe extern "C" fn storage_recording_erase(
    ctx: *mut storage_ctx,
    name: *const c_char,
    actor: *const c_char,
    reason: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract.
        let (name, (actor, reason)) =
            unsafe { (args::text(name, "name")?, who_and_why(actor, reason)?) };
        let request = Request::RecordingErase {
            name: name.to_owned(),
            actor,
            reason,
            reply: audit_reply(target),
        };
        Ok((handle, request))
    })
}

/// Reads the audit log of the recordings root. `query_json` (NULL or `""`: every record)
/// may set `recording`, `actor`, `since_ns` and `until_ns` (Unix ns, inclusive) to select
/// records, and `anchor`, a head of the log the host stored elsewhere; unknown keys are
/// refused (`STORAGE_RECORDING_INVALID`). The callback receives `{"records": [...],
/// "verdict": {"status", "records", "head", "tornTail", "anchor", ...}}`: `status` is
/// `"ok"`, `"broken"` (a record was edited, removed, inserted or reordered) or
/// `"truncated"` (records the head file vouches for are gone).
///
/// Ownership: `query_json` is copied before this returns. Threading: any thread; the
/// callback runs on the worker thread.
///
/// # Safety
/// `query_json` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_audit_query(
    ctx: *mut storage_ctx,
    query_json: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract.
        let query = unsafe { optional_text(query_json, "query_json")? };
        let request = Request::AuditQuery {
            query_json: query.unwrap_or_default().to_owned(),
            reply: reply_with(Answer::new(target), |reading| {
                json::audit_query_result(&reading)
            }),
        };
        Ok((handle, request))
    })
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
