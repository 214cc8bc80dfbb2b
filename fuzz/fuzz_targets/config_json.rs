//! The context configuration document a host passes to `storage_new`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::runtime::ContextConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ContextConfig::from_json(text);
    }
});
