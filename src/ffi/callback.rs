//! Host callbacks: the C function pointer types, and `Answer`, which calls a request's
//! callback exactly once — with an error if the request is dropped unanswered.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void, CStr};

use super::status::storage_status;

/// Request and event callback of the native API. `data` is borrowed for the duration of
/// the call only.
pub type storage_callback = Option<
    unsafe extern "C" fn(
        status: storage_status,
        data: *const u8,
        len: usize,
        user_data: *mut c_void,
    ),
>;

/// Callback of the libsds-compatible API (`SdsCallBack`).
pub type SdsCallBack = Option<
    unsafe extern "C" fn(caller_ret: c_int, msg: *const c_char, len: usize, user_data: *mut c_void),
>;

/// Retrieval-hint provider (both APIs): sets `*hint` to a `malloc`ed buffer of
/// `*hint_len` bytes, which the library releases with `free`, or leaves it NULL.
pub type storage_hint_provider = Option<
    unsafe extern "C" fn(
        message_id: *const c_char,
        hint: *mut *mut c_char,
        hint_len: *mut usize,
        user_data: *mut c_void,
    ),
>;

/// The host's opaque `user_data`, handed back unchanged on the worker thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UserData(pub *mut c_void);

// SAFETY: the pointer is never dereferenced by the library, only passed back to the
// host's own callback; the header documents that callbacks run on the worker thread.
unsafe impl Send for UserData {}
// SAFETY: as above; the library only copies the pointer value.
unsafe impl Sync for UserData {}

/// A callback plus its user data, in one of the two API flavours.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// Native `storage_callback`.
    Native(
        unsafe extern "C" fn(storage_status, *const u8, usize, *mut c_void),
        UserData,
    ),
    /// libsds `SdsCallBack`.
    Libsds(
        unsafe extern "C" fn(c_int, *const c_char, usize, *mut c_void),
        UserData,
    ),
}

impl Target {
    /// A native target, or `None` for a NULL callback.
    pub(super) fn native(callback: storage_callback, user_data: *mut c_void) -> Option<Self> {
        callback.map(|f| Target::Native(f, UserData(user_data)))
    }

    /// A libsds target, or `None` for a NULL callback.
    pub(super) fn libsds(callback: SdsCallBack, user_data: *mut c_void) -> Option<Self> {
        callback.map(|f| Target::Libsds(f, UserData(user_data)))
    }

    /// Calls the host with `data`; `status` is used by native targets, `ret` by libsds
    /// ones. Native targets borrow `data` for the duration of the call. libsds targets get
    /// it NUL-terminated after `len` bytes, as nim-sds's strings are, and it stays readable
    /// after the call ([`super::retained`]). Empty data is passed as a valid pointer to a
    /// static empty C string (as libsds passes `""`), never as a dangling pointer.
    pub(super) fn call(&self, status: storage_status, ret: c_int, mut data: Vec<u8>) {
        if data.is_empty() {
            self.call_static(status, ret, c"");
            return;
        }
        let len = data.len();
        match self {
            Target::Native(..) => self.call_raw(status, ret, data.as_ptr(), len),
            Target::Libsds(..) => {
                data.push(0);
                self.call_raw(status, ret, data.as_ptr(), len);
                super::retained::retain(data);
            }
        }
    }

    /// Calls the host with text that lives for the whole process (valid for both flavours'
    /// lifetime rules, and NUL-terminated).
    pub(super) fn call_static(&self, status: storage_status, ret: c_int, text: &'static CStr) {
        let bytes = text.to_bytes();
        self.call_raw(status, ret, bytes.as_ptr(), bytes.len());
    }

    /// Calls the host with a NULL data pointer and length 0.
    pub(super) fn call_null(&self, status: storage_status, ret: c_int) {
        self.call_raw(status, ret, std::ptr::null(), 0);
    }

    fn call_raw(&self, status: storage_status, ret: c_int, data: *const u8, len: usize) {
        match *self {
            // SAFETY: the host registered `f` for exactly this use and guarantees it stays
            // callable with `user_data` until the context is freed (header contract);
            // every caller passes `data` valid for `len` bytes during the call (or NULL
            // with 0).
            Target::Native(f, user_data) => unsafe { f(status, data, len, user_data.0) },
            // SAFETY: as above.
            Target::Libsds(f, user_data) => unsafe {
                f(ret, data.cast::<c_char>(), len, user_data.0)
            },
        }
    }
}

/// A request's callback, called exactly once: by [`Answer::send`], or on drop with
/// [`storage_status::STORAGE_PANIC`] if the request was lost to an internal error.
#[derive(Debug)]
pub(crate) struct Answer(Option<Target>);

impl Answer {
    /// Wraps a target (`None`: the host asked for no answer).
    pub(super) fn new(target: Option<Target>) -> Self {
        Self(target)
    }

    /// Answers the request with `data` (see [`Target::call`] for its lifetime).
    pub(super) fn send(mut self, status: storage_status, ret: c_int, data: Vec<u8>) {
        if let Some(target) = self.0.take() {
            target.call(status, ret, data);
        }
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(target) = self.0.take() {
            target.call_static(
                storage_status::STORAGE_PANIC,
                1,
                c"internal error: the request was dropped without an answer",
            );
        }
    }
}
