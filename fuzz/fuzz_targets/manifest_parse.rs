//! A recording's `manifest.json`, whatever the file holds: `Manifest::read`.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use storage::recording::{Manifest, MANIFEST_FILE};

/// One folder per fuzzing process, holding the manifest under test.
fn folder() -> &'static PathBuf {
    static FOLDER: OnceLock<PathBuf> = OnceLock::new();
    FOLDER.get_or_init(|| {
        let dir =
            std::env::temp_dir().join(format!("storage-fuzz-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("fuzz folder");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let folder = folder();
    std::fs::write(folder.join(MANIFEST_FILE), data).expect("manifest written");
    if let Ok(manifest) = Manifest::read(folder) {
        let _ = manifest.message_count();
    }
});
