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
    target: Mutex<Option<Target>>,
    /// Held while an event is handed to the target (the callback runs under it), so that
    /// changing the target from another thread waits for a delivery in progress.
    delivery: Mutex<()>,
    /// Events waiting for `storage_next_event` (native contexts without a callback).
    pub queue: EventQueue<Vec<u8>>,
}

impl EventRoute {
    pub(super) fn new(target: Option<Target>, capacity: usize, max_bytes: usize) -> Self {
        Self {
            target: Mutex::new(target),
            delivery: Mutex::new(()),
            queue: EventQueue::new(capacity, max_bytes),
        }
    }

    /// Runs `deliver` with the current target, as one delivery (see [`Self::set_target`]).
    pub(super) fn deliver<R>(&self, deliver: impl FnOnce(Option<Target>) -> R) -> R {
        let _delivering = self.delivery.lock().unwrap_or_else(|p| p.into_inner());
        let target = *self.target.lock().unwrap_or_else(|p| p.into_inner());
        deliver(target)
    }

    /// Replaces the target. From any thread but the worker's, first waits for a delivery
    /// in progress: once this returns, every event went wholly to the old target or will
    /// go to the new one, never to the old one later. On the worker thread (a callback
    /// changing the callback) the delivery in progress is the caller's own, so it does
    /// not wait.
    pub(super) fn set_target(&self, target: Option<Target>, on_worker_thread: bool) {
        let _delivering =
            (!on_worker_thread).then(|| self.delivery.lock().unwrap_or_else(|p| p.into_inner()));
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

/// The first token. Hosts keep handles in pointer-typed variables, and Go's runtime
/// aborts ("invalid pointer found on stack") when one holds a value below 4096, as cgo
/// clients of libsds hold its `void*` context; tokens start well above that, far below
/// any address Go maps its heap at (0xc000000000 and up).
const FIRST_TOKEN: usize = 0x10000;

/// Tokens are multiples of 16 so they look like aligned pointers to tools, start at
/// [`FIRST_TOKEN`], and are never reused.
fn next_token() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(16)
        .wrapping_add(FIRST_TOKEN)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::c_void;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use crate::ffi::status::storage_status;

    /// What the blocking callback below sees; one test uses it.
    struct Probe {
        entered: AtomicBool,
        release: AtomicBool,
        target_changed_meanwhile: AtomicBool,
        route: OnceLock<Arc<EventRoute>>,
        changed: AtomicBool,
    }

    static PROBE: Probe = Probe {
        entered: AtomicBool::new(false),
        release: AtomicBool::new(false),
        target_changed_meanwhile: AtomicBool::new(false),
        route: OnceLock::new(),
        changed: AtomicBool::new(false),
    };

    /// Enters, waits to be released, and notes whether the target changed meanwhile.
    unsafe extern "C" fn blocking(_: storage_status, _: *const u8, _: usize, _: *mut c_void) {
        PROBE.entered.store(true, Ordering::SeqCst);
        while !PROBE.release.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let changed = PROBE.changed.load(Ordering::SeqCst);
        PROBE
            .target_changed_meanwhile
            .store(changed, Ordering::SeqCst);
    }

    /// Clears the target from inside the callback, as the worker thread.
    unsafe extern "C" fn clearing(_: storage_status, _: *const u8, _: usize, _: *mut c_void) {
        if let Some(route) = PROBE.route.get() {
            route.set_target(None, true);
        }
    }

    #[test]
    fn tokens_are_aligned_never_reused_and_never_below_a_legal_pointer() {
        let first = next_token();
        let second = next_token();
        assert!(first >= 4096 && second >= 4096, "{first:#x} {second:#x}");
        assert_ne!(first, second);
        assert_eq!((first % 16, second % 16), (0, 0));
    }

    #[test]
    fn changing_the_target_waits_for_a_delivery_in_progress() {
        let target = Target::native(Some(blocking), std::ptr::null_mut());
        let route = Arc::new(EventRoute::new(target, 8, usize::MAX));
        let delivering = {
            let route = route.clone();
            std::thread::spawn(move || {
                route.deliver(|t| {
                    if let Some(t) = t {
                        t.call(storage_status::STORAGE_OK, 0, b"e".to_vec())
                    }
                })
            })
        };
        while !PROBE.entered.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let changing = {
            let route = route.clone();
            std::thread::spawn(move || {
                route.set_target(None, false);
                PROBE.changed.store(true, Ordering::SeqCst);
            })
        };
        // Give the other thread every chance to change the target under the callback.
        std::thread::sleep(Duration::from_millis(50));
        PROBE.release.store(true, Ordering::SeqCst);
        delivering.join().expect("delivered");
        changing.join().expect("changed");
        assert!(!PROBE.target_changed_meanwhile.load(Ordering::SeqCst));
        assert!(route.deliver(|t| t.is_none()));
    }

    #[test]
    fn a_callback_changing_the_target_does_not_wait_for_itself() {
        let target = Target::native(Some(clearing), std::ptr::null_mut());
        let route = PROBE
            .route
            .get_or_init(|| Arc::new(EventRoute::new(target, 8, usize::MAX)))
            .clone();
        route.deliver(|t| {
            if let Some(t) = t {
                t.call(storage_status::STORAGE_OK, 0, b"e".to_vec())
            }
        });
        assert!(route.deliver(|t| t.is_none()));
    }
}
