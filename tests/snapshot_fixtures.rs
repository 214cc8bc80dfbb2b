//! The snapshot codec against nim-sds's `snapshot_codec.nim` output
//! (`fixtures/nim-sds/snapshot.json`; its `note` lists the values encoded, rebuilt below).
//!
//! When the fixture is absent each test says so and returns; the same vectors are also
//! embedded in the unit tests of `src/persistence/codec.rs`.

#[path = "common/fixtures.rs"]
mod fixtures;
#[path = "common/messages.rs"]
mod messages;

use fixtures::{hex_of, nim_fixture};
use messages::{entry, sds_message};
use storage::persistence::{
    decode_channel_data, decode_channel_meta, decode_history_update, encode_channel_data,
    encode_channel_meta, encode_history_update,
};
use storage::protocol::{
    decode_stored_message, encode_stored_message, ChannelData, ChannelMeta, HistoryUpdate,
    IncomingEntry, IncomingRepair, OutgoingEntry, OutgoingRepair, SdsMessage,
};

/// "every message: channel chan, sender alice, causal history [p-<id> sender bob], no
/// bloom".
fn msg(id: &str, lamport: i64, content: &[u8]) -> SdsMessage {
    SdsMessage {
        causal_history: vec![entry(&format!("p-{id}"), b"", "bob")],
        sender_id: "alice".into(),
        ..sds_message("chan", id, lamport, content)
    }
}

fn full_meta() -> ChannelMeta {
    ChannelMeta {
        lamport_timestamp: 1_763_820_000,
        outgoing: vec![OutgoingEntry {
            message: msg("o1", 5, &[1, 2, 3]),
            send_time_ms: 1_700_000_000_250,
            resend_attempts: 2,
            bloom_hits: 0,
        }],
        incoming: vec![IncomingEntry {
            message: msg("i1", 6, &[9]),
            missing_deps: vec!["dep-a".into()],
            received_at_ms: 0,
        }],
        outgoing_repair: vec![OutgoingRepair {
            entry: entry("r1", &[7], "carol"),
            min_time_ms: 1_700_000_100_000,
        }],
        incoming_repair: vec![IncomingRepair {
            entry: entry("q1", b"", "dave"),
            cached_message: vec![4, 5],
            min_time_ms: 1_700_000_200_000,
        }],
        met_ids: Vec::new(),
    }
}

#[test]
fn empty_channel_meta_matches_nim() {
    let Some(fixture) = nim_fixture("snapshot.json") else {
        return;
    };
    let nim = hex_of(&fixture, "channel_meta_empty_hex");
    assert_eq!(encode_channel_meta(&ChannelMeta::default()), nim);
    assert_eq!(decode_channel_meta(&nim), Ok(ChannelMeta::default()));
}

#[test]
fn full_channel_meta_matches_nim() {
    let Some(fixture) = nim_fixture("snapshot.json") else {
        return;
    };
    let nim = hex_of(&fixture, "channel_meta_full_hex");
    assert_eq!(encode_channel_meta(&full_meta()), nim);
    assert_eq!(decode_channel_meta(&nim), Ok(full_meta()));
}

#[test]
fn channel_data_matches_nim() {
    let Some(fixture) = nim_fixture("snapshot.json") else {
        return;
    };
    let nim = hex_of(&fixture, "channel_data_hex");
    let data = ChannelData {
        meta: full_meta(),
        history: vec![msg("h1", 1, &[1]), msg("h2", 2, &[2])],
    };
    assert_eq!(encode_channel_data(&data), nim);
    assert_eq!(decode_channel_data(&nim), Ok(data));
}

#[test]
fn history_update_matches_nim() {
    let Some(fixture) = nim_fixture("snapshot.json") else {
        return;
    };
    let nim = hex_of(&fixture, "history_update_hex");
    let update = HistoryUpdate {
        append: vec![msg("a1", 3, &[3])],
        evict: vec!["old1".into(), "old2".into()],
    };
    assert_eq!(encode_history_update(&update), nim);
    assert_eq!(decode_history_update(&nim), Ok(update));
}

#[test]
fn stored_history_rows_in_nim_data_decode_alone() {
    let Some(fixture) = nim_fixture("snapshot.json") else {
        return;
    };
    let nim = hex_of(&fixture, "channel_data_hex");
    // Each history row nim wrote is our stored-message encoding of that message.
    for m in [msg("h1", 1, &[1]), msg("h2", 2, &[2])] {
        let row = encode_stored_message(&m);
        assert!(
            nim.windows(row.len()).any(|w| w == row.as_slice()),
            "{} stored as nim stores it",
            m.message_id
        );
        assert_eq!(decode_stored_message(&row), Ok(m));
    }
}
