//! What a peer's bytes reach: `Manager::unwrap` (decode within limits, deduplicate,
//! acknowledge, buffer, repair), then the sweeps, on a manager with small limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::protocol::{Manager, ProtocolConfig};

const T0: u64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    let mut m = Manager::new(ProtocolConfig {
        participant_id: "me".into(),
        bloom_capacity: 100,
        max_channels: 3,
        max_incoming_buffer: 5,
        max_repair_buffer: 4,
        max_message_history: 8,
        ..ProtocolConfig::default()
    })
    .expect("config");
    // The input split at 0xff bytes: several messages in a row, as from one peer.
    for (i, bytes) in data.split(|&b| b == 0xff).enumerate() {
        let now = T0 + 700 * i as u64;
        let _ = m.unwrap(now, bytes);
        m.sweep_outgoing(now);
        m.sweep_incoming(now);
        m.sweep_repair(now);
    }
    m.take_events();
});
