//! A host persistence vtable written in Rust, backed by a [`MemoryStore`]: drives the
//! vtable adapter through the same C ABI a host uses (strings, rows, the load sink, error
//! buffers), with the store's fault injection behind every call.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use storage::ffi::{
    storage_history_row, storage_load_sink, storage_load_sink_push_history,
    storage_load_sink_push_meta, storage_persistence_vtable, storage_str,
    STORAGE_PERSISTENCE_ABI_VERSION,
};
use storage::persistence::{HistoryBatch, MemoryStore, Persistence, StoredMessage};

/// What `user_data` points to.
struct Host {
    store: MemoryStore,
    destroyed: Arc<AtomicUsize>,
}

unsafe fn host<'a>(user_data: *mut c_void) -> &'a mut Host {
    // SAFETY: user_data is the Box<Host> made by `vtable` and alive until `destroy`.
    unsafe { &mut *user_data.cast::<Host>() }
}

unsafe fn text(s: storage_str) -> String {
    // SAFETY: the library lends `len` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) };
    String::from_utf8(bytes.to_vec()).expect("UTF-8 id")
}

unsafe fn bytes<'a>(data: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: the library lends `len` readable bytes.
    unsafe { std::slice::from_raw_parts(data, len) }
}

/// Writes `result`'s error into the library's buffer and returns the status.
unsafe fn status<T>(
    result: Result<T, storage::persistence::PersistenceError>,
    error: *mut c_char,
    capacity: usize,
) -> i32 {
    match result {
        Ok(_) => 0,
        Err(e) => {
            let message = e.to_string();
            let n = message.len().min(capacity - 1);
            // SAFETY: the library's buffer holds `capacity` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(message.as_ptr(), error.cast::<u8>(), n);
                *error.add(n) = 0;
            }
            7
        }
    }
}

unsafe extern "C" fn save_meta(
    user_data: *mut c_void,
    channel: storage_str,
    meta: *const u8,
    meta_len: usize,
    error: *mut c_char,
    cap: usize,
) -> i32 {
    unsafe {
        let r = host(user_data)
            .store
            .save_channel_meta(&text(channel), bytes(meta, meta_len));
        status(r, error, cap)
    }
}

unsafe extern "C" fn update_history(
    user_data: *mut c_void,
    channel: storage_str,
    append: *const storage_history_row,
    append_count: usize,
    evict: *const storage_str,
    evict_count: usize,
    error: *mut c_char,
    cap: usize,
) -> i32 {
    unsafe {
        let mut batch = HistoryBatch::default();
        for i in 0..append_count {
            let row = *append.add(i);
            batch.append.push(StoredMessage {
                message_id: text(row.message_id),
                bytes: bytes(row.data, row.len).to_vec(),
            });
        }
        for i in 0..evict_count {
            batch.evict.push(text(*evict.add(i)));
        }
        let r = host(user_data).store.update_history(&text(channel), &batch);
        status(r, error, cap)
    }
}

unsafe extern "C" fn load_channel(
    user_data: *mut c_void,
    channel: storage_str,
    sink: *mut storage_load_sink,
    error: *mut c_char,
    cap: usize,
) -> i32 {
    unsafe {
        match host(user_data).store.load_channel(&text(channel)) {
            Ok(Some(stored)) => {
                if let Some(meta) = &stored.meta {
                    storage_load_sink_push_meta(sink, meta.as_ptr(), meta.len());
                }
                for row in &stored.history {
                    storage_load_sink_push_history(sink, row.as_ptr(), row.len());
                }
                0
            }
            Ok(None) => 0,
            Err(e) => status::<()>(Err(e), error, cap),
        }
    }
}

unsafe extern "C" fn drop_channel(
    user_data: *mut c_void,
    channel: storage_str,
    error: *mut c_char,
    cap: usize,
) -> i32 {
    unsafe {
        let r = host(user_data).store.drop_channel(&text(channel));
        status(r, error, cap)
    }
}

unsafe extern "C" fn set_hint(
    user_data: *mut c_void,
    channel: storage_str,
    message: storage_str,
    hint: *const u8,
    hint_len: usize,
    error: *mut c_char,
    cap: usize,
) -> i32 {
    unsafe {
        let r = host(user_data).store.set_retrieval_hint(
            &text(channel),
            &text(message),
            bytes(hint, hint_len),
        );
        status(r, error, cap)
    }
}

unsafe extern "C" fn destroy(user_data: *mut c_void) {
    // SAFETY: made by Box::into_raw in `vtable`; destroy runs once.
    let host = unsafe { Box::from_raw(user_data.cast::<Host>()) };
    host.destroyed.fetch_add(1, Ordering::SeqCst);
}

/// A vtable over `store`; `destroyed` counts `destroy` calls.
pub fn vtable(store: &MemoryStore, destroyed: &Arc<AtomicUsize>) -> storage_persistence_vtable {
    let host = Box::new(Host {
        store: store.clone(),
        destroyed: destroyed.clone(),
    });
    storage_persistence_vtable {
        abi_version: STORAGE_PERSISTENCE_ABI_VERSION,
        user_data: Box::into_raw(host).cast(),
        save_channel_meta: Some(save_meta),
        update_history: Some(update_history),
        load_channel: Some(load_channel),
        drop_channel: Some(drop_channel),
        set_retrieval_hint: Some(set_hint),
        destroy: Some(destroy),
    }
}
