//! A host's C retrieval-hint provider as a protocol [`RetrievalHintProvider`].

use std::ffi::{c_char, c_void, CString};

use super::callback::{storage_hint_provider, UserData};
use crate::protocol::manager::RetrievalHintProvider;

extern "C" {
    fn free(ptr: *mut c_void);
}

/// Calls the host's provider on the worker thread.
pub(crate) struct CHintProvider {
    provider: unsafe extern "C" fn(*const c_char, *mut *mut c_char, *mut usize, *mut c_void),
    user_data: UserData,
    /// Whether a non-NULL hint of length 0 is the library's to free (native API), or is
    /// left alone as nim-sds leaves it (libsds API: a host may point it at static storage).
    frees_empty_hint: bool,
}

impl CHintProvider {
    /// A native provider (`storage.h`: every non-NULL hint is released with `free`), or
    /// `None` for a NULL provider.
    pub(super) fn native(provider: storage_hint_provider, user_data: *mut c_void) -> Option<Self> {
        Self::new(provider, user_data, true)
    }

    /// A libsds provider: as nim-sds, the library takes (and frees) `*hint` only when it
    /// is non-NULL and `*hintLen > 0`. `None` for a NULL provider.
    pub(super) fn libsds(provider: storage_hint_provider, user_data: *mut c_void) -> Option<Self> {
        Self::new(provider, user_data, false)
    }

    fn new(
        provider: storage_hint_provider,
        user_data: *mut c_void,
        frees_empty_hint: bool,
    ) -> Option<Self> {
        provider.map(|provider| Self {
            provider,
            user_data: UserData(user_data),
            frees_empty_hint,
        })
    }
}

impl RetrievalHintProvider for CHintProvider {
    fn retrieval_hint(&mut self, _channel_id: &str, message_id: &str) -> Vec<u8> {
        // An id with an interior NUL cannot be passed as a C string: no hint for it.
        let Ok(id) = CString::new(message_id) else {
            return Vec::new();
        };
        let mut hint: *mut c_char = std::ptr::null_mut();
        let mut hint_len: usize = 0;
        // SAFETY: the host registered this provider for exactly this call on the worker
        // thread; `id` outlives the call and the out-pointers point to live locals.
        unsafe { (self.provider)(id.as_ptr(), &mut hint, &mut hint_len, self.user_data.0) };
        if hint.is_null() || (hint_len == 0 && !self.frees_empty_hint) {
            return Vec::new();
        }
        let bytes = if hint_len > 0 {
            // SAFETY: the provider contract: `hint` points to `hint_len` readable bytes.
            unsafe { std::slice::from_raw_parts(hint.cast::<u8>(), hint_len) }.to_vec()
        } else {
            Vec::new()
        };
        // SAFETY: the provider allocated `hint` with malloc and handed ownership over.
        unsafe { free(hint.cast::<c_void>()) };
        bytes
    }
}
