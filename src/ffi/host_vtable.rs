//! The host-supplied persistence vtable (`storage_persistence_vtable` in `storage.h`) and
//! its adapter to the [`Persistence`] contract, [`HostPersistence`], which calls the
//! host's function pointers.
//!
//! Meta and history rows cross as snapshot-codec bytes. Strings cross as
//! [`storage_str`]: a pointer and a length, NUL-terminated too for convenience (an id a
//! peer sent may hold a NUL byte, so the length is what counts). `load_channel` hands the
//! host a [`storage_load_sink`] to push meta and history rows into. Every call returns 0
//! on success; on failure the host may write a NUL-terminated message into the error
//! buffer the library passes (owned by the library, valid during the call only).

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void};

use crate::persistence::contract::{HistoryBatch, Persistence, PersistenceError, StoredChannel};

/// The vtable layout this build reads (`abi_version`).
pub const STORAGE_PERSISTENCE_ABI_VERSION: u32 = 1;

/// Size of the error buffer handed to every vtable call, terminating NUL included.
pub const STORAGE_PERSISTENCE_ERROR_CAPACITY: usize = 512;

/// A borrowed string: `len` bytes at `ptr`, followed by a NUL (not counted in `len`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct storage_str {
    /// The bytes, NUL-terminated.
    pub ptr: *const c_char,
    /// Number of bytes before the terminating NUL.
    pub len: usize,
}

/// One history row to append: the message id and the message's snapshot-codec bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct storage_history_row {
    /// The message id.
    pub message_id: storage_str,
    /// The stored message (its wire encoding without the bloom filter).
    pub data: *const u8,
    /// Length of `data`.
    pub len: usize,
}

/// Saves a channel's meta (replacing the previous one).
pub type storage_save_meta_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        channel_id: storage_str,
        meta: *const u8,
        meta_len: usize,
        error: *mut c_char,
        error_capacity: usize,
    ) -> i32,
>;

/// Appends rows (in order; a row whose id is stored already replaces it and moves to the
/// end) and deletes the rows (and retrieval hints) of the evicted ids.
pub type storage_update_history_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        channel_id: storage_str,
        append: *const storage_history_row,
        append_count: usize,
        evict: *const storage_str,
        evict_count: usize,
        error: *mut c_char,
        error_capacity: usize,
    ) -> i32,
>;

/// Pushes what is stored for the channel into `sink` (meta once, history rows in append
/// order); pushing nothing means the channel is not stored.
pub type storage_load_channel_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        channel_id: storage_str,
        sink: *mut storage_load_sink,
        error: *mut c_char,
        error_capacity: usize,
    ) -> i32,
>;

/// Deletes everything stored for the channel.
pub type storage_drop_channel_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        channel_id: storage_str,
        error: *mut c_char,
        error_capacity: usize,
    ) -> i32,
>;

/// Records a retrieval hint learned for a message.
pub type storage_set_retrieval_hint_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        channel_id: storage_str,
        message_id: storage_str,
        hint: *const u8,
        hint_len: usize,
        error: *mut c_char,
        error_capacity: usize,
    ) -> i32,
>;

/// A host persistence backend. Copied by value at registration. Calls come from the
/// context's worker thread, one at a time; `destroy` runs exactly once (see
/// `storage_new_with_persistence`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct storage_persistence_vtable {
    /// Must be `STORAGE_PERSISTENCE_ABI_VERSION`.
    pub abi_version: u32,
    /// Passed unchanged to every call.
    pub user_data: *mut c_void,
    /// Required.
    pub save_channel_meta: storage_save_meta_fn,
    /// Required.
    pub update_history: storage_update_history_fn,
    /// Required.
    pub load_channel: storage_load_channel_fn,
    /// Required.
    pub drop_channel: storage_drop_channel_fn,
    /// Required.
    pub set_retrieval_hint: storage_set_retrieval_hint_fn,
    /// Optional: releases `user_data`; called exactly once, after the last other call.
    pub destroy: Option<unsafe extern "C" fn(user_data: *mut c_void)>,
}

/// What the host pushes during `load_channel` (opaque to C; valid during that call only).
#[derive(Debug, Default)]
pub struct storage_load_sink {
    stored: StoredChannel,
    pushed: bool,
}

impl storage_load_sink {
    /// Sets the channel's meta (a second push replaces the first).
    pub fn push_meta(&mut self, meta: &[u8]) {
        self.stored.meta = Some(meta.to_vec());
        self.pushed = true;
    }

    /// Appends a history row (rows must come in append order).
    pub fn push_history(&mut self, message: &[u8]) {
        self.stored.history.push(message.to_vec());
        self.pushed = true;
    }
}

/// A NUL-terminated copy of a string, lent to the host as a [`storage_str`].
struct CText(Vec<u8>);

impl CText {
    fn new(text: &str) -> Self {
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(0);
        Self(bytes)
    }

    fn as_str(&self) -> storage_str {
        storage_str {
            ptr: self.0.as_ptr().cast(),
            len: self.0.len() - 1,
        }
    }
}

/// The library-owned buffer a call may write its error message into.
struct ErrorBuffer([u8; STORAGE_PERSISTENCE_ERROR_CAPACITY]);

impl ErrorBuffer {
    fn new() -> Self {
        Self([0; STORAGE_PERSISTENCE_ERROR_CAPACITY])
    }

    fn ptr(&mut self) -> *mut c_char {
        self.0.as_mut_ptr().cast()
    }

    /// `Ok` for status 0, else an error carrying the host's message (up to its NUL).
    fn result(&self, call: &str, status: i32) -> Result<(), PersistenceError> {
        if status == 0 {
            return Ok(());
        }
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        let message = String::from_utf8_lossy(&self.0[..end]);
        Err(PersistenceError::new(if message.is_empty() {
            format!("host persistence `{call}` failed with status {status}")
        } else {
            format!("host persistence `{call}` failed: {message}")
        }))
    }
}

/// Why a vtable was refused at registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VtableError {
    /// `abi_version` is not one this build reads; no other field was read.
    #[error(
        "persistence vtable abi_version {0} is not supported \
         (this build reads {STORAGE_PERSISTENCE_ABI_VERSION})"
    )]
    AbiVersion(u32),
    /// A required function pointer is NULL.
    #[error("persistence vtable: `{0}` is NULL")]
    Missing(&'static str),
}

/// [`Persistence`] over a host vtable. Dropping it calls `destroy`.
pub struct HostPersistence {
    /// The host's vtable, every required call checked non-NULL.
    vtable: storage_persistence_vtable,
}

impl std::fmt::Debug for HostPersistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostPersistence").finish_non_exhaustive()
    }
}

// SAFETY: the header requires the vtable's functions and `user_data` to be usable from
// the context's worker thread (and `destroy` from whichever thread frees the context);
// the adapter is used by one thread at a time (`&mut self`).
unsafe impl Send for HostPersistence {}

impl HostPersistence {
    /// Takes ownership of a vtable (copied by value). When `abi_version` is known, the
    /// vtable is owned from here on: `destroy` runs exactly once, also if a required call
    /// is missing (the error is returned after it ran). An unknown `abi_version` is
    /// refused without reading anything else and without calling `destroy`.
    pub fn new(vtable: &storage_persistence_vtable) -> Result<Self, VtableError> {
        if vtable.abi_version != STORAGE_PERSISTENCE_ABI_VERSION {
            return Err(VtableError::AbiVersion(vtable.abi_version));
        }
        let missing = [
            ("save_channel_meta", vtable.save_channel_meta.is_none()),
            ("update_history", vtable.update_history.is_none()),
            ("load_channel", vtable.load_channel.is_none()),
            ("drop_channel", vtable.drop_channel.is_none()),
            ("set_retrieval_hint", vtable.set_retrieval_hint.is_none()),
        ]
        .into_iter()
        .find_map(|(name, missing)| missing.then_some(name));
        // Owned from here on: dropping `backend` (on refusal too) calls `destroy`.
        let backend = Self { vtable: *vtable };
        match missing {
            Some(name) => Err(VtableError::Missing(name)),
            None => Ok(backend),
        }
    }

    /// Calls one of the host's functions (checked non-NULL at construction) with a fresh
    /// error buffer: `Ok` for status 0, else the host's message.
    fn invoke<F>(
        &self,
        name: &str,
        function: Option<F>,
        call: impl FnOnce(F, *mut c_void, *mut c_char, usize) -> i32,
    ) -> Result<(), PersistenceError> {
        let function = function
            .ok_or_else(|| PersistenceError::new(format!("host persistence `{name}` is NULL")))?;
        let mut error = ErrorBuffer::new();
        let status = call(
            function,
            self.vtable.user_data,
            error.ptr(),
            STORAGE_PERSISTENCE_ERROR_CAPACITY,
        );
        error.result(name, status)
    }
}

impl Drop for HostPersistence {
    fn drop(&mut self) {
        if let Some(destroy) = self.vtable.destroy.take() {
            // SAFETY: registered by the host for `user_data`; `take` makes this the only
            // call, and no other call follows since the adapter is going away.
            unsafe { destroy(self.vtable.user_data) };
        }
    }
}

impl Persistence for HostPersistence {
    fn save_channel_meta(&mut self, channel_id: &str, meta: &[u8]) -> Result<(), PersistenceError> {
        let channel = CText::new(channel_id);
        self.invoke(
            "save_channel_meta",
            self.vtable.save_channel_meta,
            |call, user_data, error, capacity| {
                // SAFETY: every pointer is valid for the duration of the call (the vtable
                // contract: the host reads them only during it); `error` holds `capacity`
                // writable bytes.
                unsafe {
                    call(
                        user_data,
                        channel.as_str(),
                        meta.as_ptr(),
                        meta.len(),
                        error,
                        capacity,
                    )
                }
            },
        )
    }

    fn update_history(
        &mut self,
        channel_id: &str,
        batch: &HistoryBatch,
    ) -> Result<(), PersistenceError> {
        let channel = CText::new(channel_id);
        let append_ids: Vec<CText> = batch
            .append
            .iter()
            .map(|row| CText::new(&row.message_id))
            .collect();
        let append: Vec<storage_history_row> = batch
            .append
            .iter()
            .zip(&append_ids)
            .map(|(row, id)| storage_history_row {
                message_id: id.as_str(),
                data: row.bytes.as_ptr(),
                len: row.bytes.len(),
            })
            .collect();
        let evict_ids: Vec<CText> = batch.evict.iter().map(|id| CText::new(id)).collect();
        let evict: Vec<storage_str> = evict_ids.iter().map(CText::as_str).collect();
        self.invoke(
            "update_history",
            self.vtable.update_history,
            |call, user_data, error, capacity| {
                // SAFETY: the arrays and every string and row they point to outlive the
                // call; counts match the arrays; the rest as in `save_channel_meta`.
                unsafe {
                    call(
                        user_data,
                        channel.as_str(),
                        append.as_ptr(),
                        append.len(),
                        evict.as_ptr(),
                        evict.len(),
                        error,
                        capacity,
                    )
                }
            },
        )
    }

    fn load_channel(
        &mut self,
        channel_id: &str,
    ) -> Result<Option<StoredChannel>, PersistenceError> {
        let channel = CText::new(channel_id);
        let mut sink = storage_load_sink::default();
        self.invoke(
            "load_channel",
            self.vtable.load_channel,
            |call, user_data, error, capacity| {
                // SAFETY: `sink` is live and exclusively lent for the duration of the call,
                // during which the host only passes it to `storage_load_sink_push_*`; the
                // rest as in `save_channel_meta`.
                unsafe { call(user_data, channel.as_str(), &mut sink, error, capacity) }
            },
        )?;
        Ok(sink.pushed.then_some(sink.stored))
    }

    fn drop_channel(&mut self, channel_id: &str) -> Result<(), PersistenceError> {
        let channel = CText::new(channel_id);
        self.invoke(
            "drop_channel",
            self.vtable.drop_channel,
            |call, user_data, error, capacity| {
                // SAFETY: as in `save_channel_meta`.
                unsafe { call(user_data, channel.as_str(), error, capacity) }
            },
        )
    }

    fn set_retrieval_hint(
        &mut self,
        channel_id: &str,
        message_id: &str,
        hint: &[u8],
    ) -> Result<(), PersistenceError> {
        let channel = CText::new(channel_id);
        let message = CText::new(message_id);
        self.invoke(
            "set_retrieval_hint",
            self.vtable.set_retrieval_hint,
            |call, user_data, error, capacity| {
                // SAFETY: as in `save_channel_meta`.
                unsafe {
                    call(
                        user_data,
                        channel.as_str(),
                        message.as_str(),
                        hint.as_ptr(),
                        hint.len(),
                        error,
                        capacity,
                    )
                }
            },
        )
    }
}
