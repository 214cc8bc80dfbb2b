//! The panic boundary every exported function runs inside: a panic becomes an error
//! value, never an unwind into C (which would abort the host).

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`; if it panics, returns `on_panic` instead.
pub(crate) fn guard<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    // Nothing `body` touches is left in a state a later call could observe half-updated:
    // contexts are reached only through the registry, whose lock is never held across user
    // code, and protocol state lives on the worker thread, not in the exported function.
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}
