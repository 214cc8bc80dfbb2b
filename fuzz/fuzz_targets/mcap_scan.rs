//! An MCAP chunk file, sealed or cut short by a crash: the one reader behind verify,
//! replay and recovery (`McapScan`), in both modes.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use storage::recording::{McapScan, ScanMode};

fuzz_target!(
    // libfuzzer-sys's panic hook aborts even on a panic the library catches (McapScan
    // turns one from inside mcap's reader into a damaged-file error); a panic that
    // escapes the library still aborts, at the fuzz target's boundary.
    init: std::panic::set_hook(Box::new(|_| {})),
    |data: &[u8]| {
    for mode in [ScanMode::Sealed, ScanMode::Salvage] {
        for message in McapScan::new(Cursor::new(data), Path::new("fuzz.mcap"), mode) {
            if message.is_err() {
                break;
            }
        }
    }
}
);
