//! STORAGE_PANIC and the restart through the C API. The C tests (`tests/c`) link the
//! release library, built without the `fault-injection` feature, so this drives the
//! exported C functions from Rust, where `arm_fault` is at hand: a wrap that panics
//! answers `STORAGE_PANIC` with the panic's message, a `worker_restarted` event follows,
//! the context carries on, and `storage_free` frees it.

use std::ffi::{c_void, CString};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use storage::ffi::{
    storage_bytes_free, storage_ctx, storage_free, storage_new, storage_next_event, storage_status,
    storage_wrap,
};
use storage::{arm_fault, FaultPoint};

/// A request's answer: its status and its data as text.
type Answer = (storage_status, String);

/// Where a request's answers land. Leaked, so that it outlives any call the library
/// makes: a second answer would be seen, not be a use after free.
#[derive(Default)]
struct Slot {
    answers: Mutex<Vec<Answer>>,
    arrived: Condvar,
}

impl Slot {
    /// The first answer, waiting for it.
    fn first(&self) -> Answer {
        let answers = self.answers.lock().unwrap();
        let (answers, _) = self
            .arrived
            .wait_timeout_while(answers, Duration::from_secs(10), |a| a.is_empty())
            .unwrap();
        answers.first().cloned().expect("answered")
    }
}

/// Records the answer in the `Slot` behind `user_data`.
unsafe extern "C" fn answer_cb(
    status: storage_status,
    data: *const u8,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: the library hands `len` readable bytes (or NULL with 0) for this call, and
    // `user_data` is a leaked `Slot`, valid for the whole process.
    let (bytes, slot) = unsafe {
        (
            if data.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(data, len)
            },
            &*(user_data as *const Slot),
        )
    };
    let text = String::from_utf8_lossy(bytes).into_owned();
    slot.answers.lock().unwrap().push((status, text));
    slot.arrived.notify_all();
}

/// `storage_wrap` of `x` as `id` on `channel`; its answers' slot.
fn wrap(ctx: *mut storage_ctx, channel: &str, id: &str) -> &'static Slot {
    let slot: &'static Slot = Box::leak(Box::default());
    let (channel, id) = (CString::new(channel).unwrap(), CString::new(id).unwrap());
    // SAFETY: the strings outlive the call (the library copies them); `slot` lives for
    // the whole process.
    let status = unsafe {
        storage_wrap(
            ctx,
            channel.as_ptr(),
            id.as_ptr(),
            b"x".as_ptr(),
            1,
            Some(answer_cb),
            slot as *const Slot as *mut c_void,
        )
    };
    assert_eq!(status, storage_status::STORAGE_OK);
    slot
}

/// The next event's JSON (`None` once none comes within a second).
fn next_event(ctx: *mut storage_ctx) -> Option<String> {
    let (mut data, mut len) = (std::ptr::null_mut(), 0usize);
    // SAFETY: the out-pointers are valid; the buffer is released below, once.
    unsafe {
        if storage_next_event(ctx, 1000, &mut data, &mut len) != storage_status::STORAGE_OK {
            return None;
        }
        let text = String::from_utf8_lossy(std::slice::from_raw_parts(data, len)).into_owned();
        storage_bytes_free(data, len);
        Some(text)
    }
}

#[test]
fn a_panic_answers_storage_panic_then_the_context_restarts_and_frees() {
    let config =
        CString::new(r#"{"participant_id": "c", "persistence": {"kind": "memory"}}"#).unwrap();
    let mut ctx = std::ptr::null_mut();
    // SAFETY: a valid config string and out-pointer; no event callback.
    let status = unsafe { storage_new(config.as_ptr(), None, std::ptr::null_mut(), &mut ctx) };
    assert_eq!(status, storage_status::STORAGE_OK);
    let m1 = wrap(ctx, "ffi-restart", "m1");
    assert_eq!(m1.first().0, storage_status::STORAGE_OK);
    arm_fault(FaultPoint::Request, "ffi-restart");
    let m2 = wrap(ctx, "ffi-restart", "m2");
    let (status, message) = m2.first();
    assert_eq!(status, storage_status::STORAGE_PANIC);
    assert!(message.contains("injected fault"), "{message}");
    assert!(message.contains("the worker restarted"), "{message}");
    let restarted = std::iter::from_fn(|| next_event(ctx))
        .find(|e| e.contains(r#""eventType":"worker_restarted""#))
        .expect("a worker_restarted event");
    assert!(
        restarted.contains(r#""channelsReloaded":["ffi-restart"]"#),
        "{restarted}"
    );
    assert!(restarted.contains(r#""restartCount":1"#), "{restarted}");
    let m3 = wrap(ctx, "ffi-restart", "m3");
    assert_eq!(m3.first().0, storage_status::STORAGE_OK);
    // SAFETY: `ctx` came from storage_new and is freed once.
    assert_eq!(unsafe { storage_free(ctx) }, storage_status::STORAGE_OK);
    for slot in [m1, m2, m3] {
        assert_eq!(slot.answers.lock().unwrap().len(), 1, "each answered once");
    }
}
