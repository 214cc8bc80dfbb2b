//! The snapshot codec on stored bytes (a damaged database or a host's store): channel
//! meta, channel data and history updates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::persistence::{
    decode_channel_data, decode_channel_meta, decode_history_update, encode_channel_meta,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(meta) = decode_channel_meta(data) {
        let again = decode_channel_meta(&encode_channel_meta(&meta)).expect("re-decodes");
        assert_eq!(again.lamport_timestamp, meta.lamport_timestamp);
    }
    let _ = decode_channel_data(data);
    let _ = decode_history_update(data);
});
