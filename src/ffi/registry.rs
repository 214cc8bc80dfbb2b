//! The registry of live contexts. C callers hold an opaque token, never a Rust pointer:
//! a NULL, freed or foreign handle is looked up, not dereferenced, and tokens are never
//! reused, so a stale handle cannot reach a newer context.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::callback::Target;
use crate::runtime::context::Context;
use crate::runtime::event_queue::EventQueue;

/// Opaque handle of a context, as C sees it (an incomplete type there).
#[allow(non_camel_case_types)]
pub struct storage_ctx {
    _private: [u8; 0],
}

/// Which API created a context: it decides event formats and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// `storage_new`.
    Native,
    /// `SdsNewReliabilityManager`.
    Libsds,
}

/// Where events go when no callback is set, and the callback slot itself.
#[derive(Debug)]
pub(crate) struct EventRoute {
    /// The event callback, if set; copied out before each call, never called under the lock.
    pub target: Mutex<Option<Target>>,
    /// Events waiting for `storage_next_event` (native contexts without a callback).
    pub queue: EventQueue<Vec<u8>>,
}

impl EventRoute {
    pub fn new(target: Option<Target>, capacity: usize) -> Self {
        Self {
            target: Mutex::new(target),
            queue: EventQueue::new(capacity),
        }
    }

    pub fn target(&self) -> Option<Target> {
        *self.target.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_target(&self, target: Option<Target>) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = target;
    }
}

/// A live context and its event routing.
pub(crate) struct Handle {
    pub context: Context,
    pub events: Arc<EventRoute>,
    pub flavour: Flavour,
    /// Received messages over this size are refused before they are copied.
    pub max_wire_message_size: usize,
}

type Table = HashMap<usize, Arc<Handle>>;

fn table() -> MutexGuard<'static, Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    // Entries are inserted and removed whole, so a poisoned lock still holds a valid map.
    TABLE
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Tokens are multiples of 16 so they look like aligned pointers to tools, start at 16,
/// and are never reused.
fn next_token() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(16)
}

/// Registers a context and returns its handle.
pub(crate) fn insert(handle: Handle) -> *mut storage_ctx {
    let token = next_token();
    table().insert(token, Arc::new(handle));
    token as *mut storage_ctx
}

/// The live context behind a handle.
pub(crate) fn get(handle: *const storage_ctx) -> Option<Arc<Handle>> {
    table().get(&(handle as usize)).cloned()
}

/// Unregisters a context; later lookups of the handle fail.
pub(crate) fn remove(handle: *const storage_ctx) -> Option<Arc<Handle>> {
    table().remove(&(handle as usize))
}
