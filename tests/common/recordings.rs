//! Recordings made in tests: a hand-moved clock, and a recorder run to its end.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use storage::protocol::SdsMessage;
use storage::recording::{
    Frame, Now, Recorder, RecorderSummary, RecordingError, RecordingOptions, Store,
};

/// A clock tests move by hand (ns).
pub fn manual_now() -> (Arc<AtomicU64>, Now) {
    let t = Arc::new(AtomicU64::new(1_700_000_000_000_000_000));
    let read = t.clone();
    (t, Arc::new(move || read.load(Ordering::SeqCst)))
}

/// Stops `recorder` and waits for its thread and its summary.
pub fn stop(recorder: Recorder) -> Result<RecorderSummary, RecordingError> {
    let (tx, rx) = mpsc::channel();
    let thread = recorder.stop(Box::new(move |r| {
        let _ = tx.send(r);
    }));
    if let Some(thread) = thread {
        thread.join().expect("recorder thread");
    }
    rx.recv().expect("stop answered")
}

/// Recording options from JSON.
pub fn options(json: &str) -> RecordingOptions {
    RecordingOptions::default()
        .with_json(json)
        .expect("options")
}

/// Records `messages` (log time 1 ms apart) into `name`, participant "alice".
pub fn record(root: &Path, name: &str, messages: &[SdsMessage], json: &str) -> RecorderSummary {
    let (t, now) = manual_now();
    let store = Store::new(root);
    let recorder = Recorder::start(&store, name, "alice", options(json), now).expect("start");
    for m in messages {
        let at = t.fetch_add(1_000_000, Ordering::SeqCst);
        recorder.record(Frame::new(m, at, at));
    }
    stop(recorder).expect("stop")
}

/// Serialises a test's spawning of child processes against another's recording and
/// then locking the recording (supersede, upload): a child shares every open file of
/// this process from its fork until its exec, a recorder's folder lock included, so the
/// lock can look held for that instant after the recorder let it go.
#[allow(dead_code)] // not every test binary including this module spawns processes
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static GUARD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    GUARD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
