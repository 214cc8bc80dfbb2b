//! The uploads C API (`storage_upload_*`): upload a recording now, report its upload
//! state, reconcile it with the bucket, restore it from the bucket. All need the
//! context's `upload` section; all are asynchronous, their results JSON. Validate, copy,
//! enqueue: the work happens on the uploader's and the recordings' helper threads.

use std::ffi::{c_char, c_void};

use super::args;
use super::callback::{storage_callback, Answer};
use super::json;
use super::native::{reply_with, request};
use super::registry::storage_ctx;
use super::status::storage_status;
use crate::runtime::request::Request;

/// Runs the request `make` builds from recording name `name`.
///
/// # Safety
/// `name` is a NUL-terminated string.
unsafe fn upload_request(
    ctx: *mut storage_ctx,
    name: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
    make: impl FnOnce(String, Answer) -> Request,
) -> storage_status {
    request(callback, user_data, |target| {
        let handle = args::context(ctx)?;
        // SAFETY: forwarded caller contract.
        let name = unsafe { args::text(name, "name") }?.to_owned();
        Ok((handle, make(name, Answer::new(target))))
    })
}

/// Uploads recording `name` now to the `upload` section's bucket, as the background
/// uploader does (each chunk re-verified, looked up, sent only if the bucket lacks it,
/// marked in the manifest; the manifest last), also trying again the chunks it gave up on
/// (dead-lettered). A recording still being written is uploaded as far as it is sealed.
/// The callback receives `{"recording","chunks":[{"index","key","action","bytesSent",
/// "reason"}],"manifestKey","manifest","bytesSent"}` once the pass ends; a chunk that
/// failed is a row (`"action":"failed"`), not an error.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_upload_recording(
    ctx: *mut storage_ctx,
    name: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    let make = |name, answer| Request::UploadRecording {
        name,
        reply: reply_with(answer, |report| json::upload_report_result(&report)),
    };
    // SAFETY: forwarded caller contract.
    unsafe { upload_request(ctx, name, callback, user_data, make) }
}

/// Reports recording `name`'s upload state from its manifest's marks and the queue:
/// `{"recording","manifestKey","active","chunks":[{"index","key","size","uploadedAtNs",
/// "etag","deadLetter"}],"uploaded","pending","deadLettered","queued","uploading",
/// "paused","retryAtMs"}`.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_upload_status(
    ctx: *mut storage_ctx,
    name: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    let make = |name, answer| Request::UploadStatus {
        name,
        reply: reply_with(answer, |status| json::upload_status_result(&status)),
    };
    // SAFETY: forwarded caller contract.
    unsafe { upload_request(ctx, name, callback, user_data, make) }
}

/// Reconciles sealed recording `name` with the bucket, per chunk, without deleting
/// anything: uploads what the bucket lacks, uploads again an object whose checksum does
/// not match, marks what is there, restores a corrupt or missing local file from the
/// bucket (verified), and reports what is lost everywhere, and the files and objects of
/// the recording its manifest does not name (orphans, never touched; at most 1 000
/// listed). The callback receives `{"recording","chunks":[{"index","key","local",
/// "remote","action"}],"manifest","orphans":[{"side","name","size"}],"orphansNotShown"}`.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_upload_reconcile(
    ctx: *mut storage_ctx,
    name: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    let make = |name, answer| Request::UploadReconcile {
        name,
        restore: false,
        reply: reply_with(answer, |report| json::reconcile_result(&report)),
    };
    // SAFETY: forwarded caller contract.
    unsafe { upload_request(ctx, name, callback, user_data, make) }
}

/// Rebuilds recording `name`, which this machine lacks, from the bucket alone: its
/// manifest and chunks downloaded (each verified against its SHA-256) into a staging
/// folder, renamed into place only when complete. The callback receives the same
/// document as `storage_upload_reconcile`'s.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn storage_upload_restore(
    ctx: *mut storage_ctx,
    name: *const c_char,
    callback: storage_callback,
    user_data: *mut c_void,
) -> storage_status {
    let make = |name, answer| Request::UploadReconcile {
        name,
        restore: true,
        reply: reply_with(answer, |report| json::reconcile_result(&report)),
    };
    // SAFETY: forwarded caller contract.
    unsafe { upload_request(ctx, name, callback, user_data, make) }
}
