//! Library logs to the host: a `log::Log` implementation installed once per process that
//! hands each record to the host's log callback. Nothing is printed anywhere by default;
//! without a callback the `log` crate's max level is `Off`, so a filtered-out record costs
//! one atomic load and is never formatted.

#![allow(non_camel_case_types)]

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Once, RwLock};

use super::panic::guard;
use super::status::storage_status::{self, *};

/// Severity of a log record, and the threshold set by `storage_set_log_level`.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum storage_log_level {
    /// No record passes (as a threshold only).
    STORAGE_LOG_OFF = 0,
    /// Something failed: a recording stopped, a job thread could not start.
    STORAGE_LOG_ERROR = 1,
    /// Something degraded but went on: a failed save kept in memory, a recovered file.
    STORAGE_LOG_WARN = 2,
    /// Notable events: a recording started.
    STORAGE_LOG_INFO = 3,
    /// Details for debugging.
    STORAGE_LOG_DEBUG = 4,
    /// Very verbose details.
    STORAGE_LOG_TRACE = 5,
}

/// The host's log callback: `target` (the module that logged, e.g.
/// `storage::persistence::durable`) and `message` are NUL-terminated UTF-8, borrowed for
/// the duration of the call only. It may run on any thread, concurrently.
pub type storage_log_callback = Option<
    unsafe extern "C" fn(
        level: storage_log_level,
        target: *const c_char,
        message: *const c_char,
        user_data: *mut c_void,
    ),
>;

/// The threshold applied once a callback is set (`STORAGE_LOG_WARN` until changed).
static THRESHOLD: AtomicI32 = AtomicI32::new(storage_log_level::STORAGE_LOG_WARN as i32);

/// The host's callback and its user data; `None` until one is set.
static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Installs [`HostLogger`] as the process's `log` logger, once.
static INSTALL: Once = Once::new();

thread_local! {
    /// True while this thread runs the host's log callback: records it causes are dropped
    /// and it may not replace the callback (that would deadlock on [`SINK`]).
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

#[derive(Clone, Copy)]
struct Sink {
    callback: unsafe extern "C" fn(storage_log_level, *const c_char, *const c_char, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: `user_data` is the host's; the header's contract for storage_set_log_callback
// makes the callback and its user_data usable from any thread.
unsafe impl Send for Sink {}
// SAFETY: as above: the library only hands `user_data` back to the callback.
unsafe impl Sync for Sink {}

/// The `log::Log` that forwards to [`SINK`].
struct HostLogger;

static LOGGER: HostLogger = HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) || IN_CALLBACK.with(Cell::get) {
            return;
        }
        let Ok(sink) = SINK.read() else { return };
        let Some(sink) = *sink else { return };
        let mut target = String::with_capacity(record.target().len() + 1);
        push_c_text(&mut target, record.target());
        let mut message = String::new();
        if write!(message, "{}", record.args()).is_err() {
            return;
        }
        let message = c_text(message);
        IN_CALLBACK.with(|flag| flag.set(true));
        // SAFETY: both strings are NUL-terminated and live until the call returns; the
        // callback and user_data are the host's, valid per storage_set_log_callback.
        unsafe {
            (sink.callback)(
                level_of(record.level()),
                target.as_ptr().cast(),
                message.as_ptr().cast(),
                sink.user_data,
            )
        };
        IN_CALLBACK.with(|flag| flag.set(false));
    }

    fn flush(&self) {}
}

/// `text` with interior NULs replaced (U+FFFD) and a terminating NUL.
fn c_text(text: String) -> String {
    if !text.contains('\0') {
        let mut text = text;
        text.push('\0');
        return text;
    }
    let mut out = String::with_capacity(text.len() + 3);
    push_c_text(&mut out, &text);
    out
}

/// Appends `text` to `out` as [`c_text`] makes it.
fn push_c_text(out: &mut String, text: &str) {
    for c in text.chars() {
        out.push(if c == '\0' { '\u{FFFD}' } else { c });
    }
    out.push('\0');
}

fn level_of(level: log::Level) -> storage_log_level {
    use storage_log_level::*;
    match level {
        log::Level::Error => STORAGE_LOG_ERROR,
        log::Level::Warn => STORAGE_LOG_WARN,
        log::Level::Info => STORAGE_LOG_INFO,
        log::Level::Debug => STORAGE_LOG_DEBUG,
        log::Level::Trace => STORAGE_LOG_TRACE,
    }
}

fn filter_of(level: i32) -> log::LevelFilter {
    match level {
        i32::MIN..=0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// Applies the threshold to the `log` crate: `Off` while no callback is set.
fn apply(has_sink: bool) {
    let filter = if has_sink {
        filter_of(THRESHOLD.load(Ordering::Relaxed))
    } else {
        log::LevelFilter::Off
    };
    log::set_max_level(filter);
}

/// Installs the library's logger once; false if another `log` logger owns the process
/// (a Rust program linking the crate that installed its own).
fn install() -> bool {
    INSTALL.call_once(|| {
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(log::LevelFilter::Off);
        }
    });
    std::ptr::addr_eq(log::logger(), &LOGGER)
}

/// Sets the process-wide log callback (NULL removes it: nothing is logged, the default).
/// Records at or below the level of `storage_set_log_level` (`STORAGE_LOG_WARN` by
/// default) reach it; records above it are not formatted at all. Returns `STORAGE_MISUSE`
/// when called from inside the log callback, or when the process already has another
/// logger of the Rust `log` crate.
///
/// # Safety
/// The callback may run on any thread, several at once, until a later
/// `storage_set_log_callback` returns: `callback` and `user_data` must stay valid and be
/// usable from any thread until then. After that call returns, the previous callback is
/// never called again. The callback must not call `storage_set_log_callback`; records
/// logged while it runs on the same thread are dropped.
#[no_mangle]
pub unsafe extern "C" fn storage_set_log_callback(
    callback: storage_log_callback,
    user_data: *mut c_void,
) -> storage_status {
    guard(STORAGE_PANIC, || {
        if IN_CALLBACK.with(Cell::get) || !install() {
            return STORAGE_MISUSE;
        }
        let Ok(mut sink) = SINK.write() else {
            return STORAGE_PANIC;
        };
        *sink = callback.map(|callback| Sink {
            callback,
            user_data,
        });
        apply(sink.is_some());
        STORAGE_OK
    })
}

/// Sets the most verbose level passed to the log callback (process-wide, any thread,
/// `STORAGE_LOG_WARN` by default; `STORAGE_LOG_OFF` passes nothing). Takes a
/// `storage_log_level` value as an `int32_t`, so any value may be passed: values above
/// `STORAGE_LOG_TRACE` mean trace, values below `STORAGE_LOG_OFF` mean off. Takes effect
/// for records logged after it returns.
#[no_mangle]
pub extern "C" fn storage_set_log_level(level: i32) -> storage_status {
    guard(STORAGE_PANIC, || {
        THRESHOLD.store(level, Ordering::Relaxed);
        let Ok(sink) = SINK.read() else {
            return STORAGE_PANIC;
        };
        apply(sink.is_some());
        STORAGE_OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_are_replaced_and_the_text_terminated() {
        assert_eq!(c_text("a\0b".to_owned()), "a\u{FFFD}b\0");
        assert_eq!(c_text("ab".to_owned()), "ab\0");
    }

    #[test]
    fn thresholds_map_to_filters() {
        assert_eq!(filter_of(0), log::LevelFilter::Off);
        assert_eq!(filter_of(-4), log::LevelFilter::Off);
        assert_eq!(filter_of(2), log::LevelFilter::Warn);
        assert_eq!(filter_of(99), log::LevelFilter::Trace);
    }
}
