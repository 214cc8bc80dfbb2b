//! Reading C arguments: NULL checks, UTF-8 checks and lengths, each failure with a status
//! and a message that says which argument was wrong.

use std::ffi::{c_char, CStr};

use super::callback::Target;
use super::registry::{self, storage_ctx, Flavour, Handle};
use super::status::storage_status;
use std::sync::Arc;

/// A bad argument: its status and a message naming it.
pub(crate) type ArgError = (storage_status, String);

/// Reports a bad argument to the request's callback (if any) and returns its status.
pub(crate) fn reject(target: Option<Target>, (status, message): ArgError) -> storage_status {
    if let Some(target) = target {
        target.call(status, 1, message.into_bytes());
    }
    status
}

/// The live native context behind `ctx` (a libsds context is not one).
pub(crate) fn context(ctx: *const storage_ctx) -> Result<Arc<Handle>, ArgError> {
    native_handle(ctx).ok_or_else(|| {
        (
            storage_status::STORAGE_INVALID_HANDLE,
            "the context handle is NULL, freed, or not a context".to_owned(),
        )
    })
}

/// The live context behind `ctx` if `storage_new` created it.
pub(crate) fn native_handle(ctx: *const storage_ctx) -> Option<Arc<Handle>> {
    registry::get(ctx).filter(|h| h.flavour == Flavour::Native)
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string readable for the whole call.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, ArgError> {
    if ptr.is_null() {
        return Err((
            storage_status::STORAGE_NULL_ARGUMENT,
            format!("{name} is NULL"),
        ));
    }
    // SAFETY: non-NULL, and the caller guarantees a readable NUL-terminated string.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|_| {
        (
            storage_status::STORAGE_INVALID_UTF8,
            format!("{name} is not valid UTF-8"),
        )
    })
}

/// A channel id: a non-empty UTF-8 string.
///
/// # Safety
/// As for [`text`].
pub(crate) unsafe fn channel<'a>(ptr: *const c_char) -> Result<&'a str, ArgError> {
    // SAFETY: forwarded caller contract.
    let id = unsafe { text(ptr, "channel_id") }?;
    if id.is_empty() {
        return Err((
            storage_status::STORAGE_EMPTY_CHANNEL_ID,
            "channel_id is empty".to_owned(),
        ));
    }
    Ok(id)
}

/// A byte buffer argument; NULL is accepted only with length 0.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes for the whole call.
pub(crate) unsafe fn bytes<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], ArgError> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err((
            storage_status::STORAGE_NULL_ARGUMENT,
            format!("{name} is NULL but its length is {len}"),
        ));
    }
    if len > isize::MAX as usize {
        return Err((
            storage_status::STORAGE_TOO_LARGE,
            format!("{name} length {len} is impossible"),
        ));
    }
    // SAFETY: non-NULL, length checked against isize::MAX, and the caller guarantees
    // `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Refuses a buffer over `max` bytes before anything copies it.
pub(crate) fn at_most(data: &[u8], max: usize, name: &str) -> Result<(), ArgError> {
    if data.len() > max {
        return Err((
            storage_status::STORAGE_TOO_LARGE,
            format!("{name} is {} bytes, over the {max}-byte limit", data.len()),
        ));
    }
    Ok(())
}
