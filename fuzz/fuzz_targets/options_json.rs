//! The recording and replay options documents a host passes to `storage_recording_start`
//! and `storage_replay_start`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::recording::{RecordingOptions, ReplayOptions};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = RecordingOptions::default().with_json(text);
        let _ = ReplayOptions::from_json(text);
    }
});
