//! A stored history row: `decode_stored_message`; what decodes round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::protocol::{decode_stored_message, encode_stored_message};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = decode_stored_message(data) {
        assert_eq!(decode_stored_message(&encode_stored_message(&m)), Ok(m));
    }
});
