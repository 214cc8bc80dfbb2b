//! The SDS wire codec on peer bytes: every decoder of `protocol::wire`. Whatever decodes
//! re-encodes to a message that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::protocol::{
    decode_history_entry, decode_message, decode_received, decode_received_within,
    encode_history_entry, encode_message, DecodeLimits,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = decode_message(data) {
        assert_eq!(decode_message(&encode_message(&m)), Ok(m));
    }
    if let Ok(e) = decode_history_entry(data) {
        assert_eq!(decode_history_entry(&encode_history_entry(&e)), Ok(e));
    }
    let _ = decode_received(data);
    let limits = DecodeLimits {
        max_causal_history: 4,
        max_repair_requests: 2,
        max_id_bytes: 16,
    };
    let _ = decode_received_within(data, &limits);
});
