//! Whatever a peer sends, the manager never panics and stays within its limits.

#[path = "common/strategies.rs"]
mod strategies;

use proptest::prelude::*;
use storage::protocol::{self, Manager, ProtocolConfig, SdsMessage};
use strategies::bytes;

const T0: u64 = 1_700_000_000_000;

fn small_manager() -> Manager {
    Manager::new(ProtocolConfig {
        participant_id: "me".into(),
        bloom_capacity: 100,
        max_channels: 3,
        max_incoming_buffer: 5,
        max_incoming_buffer_bytes: 8192,
        max_repair_buffer: 4,
        max_message_history: 8,
        max_dependency_wait_ms: 5_000,
        resend_interval_ms: 1_000,
        ..ProtocolConfig::default()
    })
    .expect("config")
}

/// Ids from a small alphabet, so that messages name each other.
const ID: &str = "[a-e]{0,2}";

fn message() -> impl Strategy<Value = SdsMessage> {
    let bloom = prop_oneof![Just(Vec::new()), bytes(64)];
    strategies::message(ID, "[xyz]{0,1}", 4, 3, bloom)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in bytes(512)) {
        let mut m = small_manager();
        let _ = m.unwrap(T0, &bytes);
    }

    #[test]
    fn arbitrary_message_sequences_keep_the_manager_sound(
        messages in proptest::collection::vec(message(), 1..40),
        wraps in proptest::collection::vec((ID, "[xyz]{1}"), 0..10),
    ) {
        let mut m = small_manager();
        let mut now = T0;
        for (i, msg) in messages.iter().enumerate() {
            now += 700;
            let _ = m.unwrap(now, &protocol::encode_message(msg));
            if let Some((id, channel)) = wraps.get(i) {
                let _ = m.wrap(now, channel, id, b"x");
                let _ = m.build_sync_message(now, channel);
            }
            m.sweep_outgoing(now);
            m.sweep_incoming(now);
            m.sweep_repair(now);
            let _ = m.mark_dependencies_met(&["a", "b"], "x");
            m.take_events();
        }
        let channels = m.channel_ids();
        prop_assert!(channels.len() <= 3);
        for channel in channels {
            let stats = m.channel_stats(&channel).expect("listed channel");
            prop_assert!(stats.incoming_len <= 5 && stats.incoming_bytes <= 8192);
            prop_assert!(stats.history_len <= 8);
            prop_assert!(stats.outgoing_repair_len <= 4 && stats.incoming_repair_len <= 4);
        }
    }
}
