//! Property tests for the wire and snapshot codecs: round trips for arbitrary values, and
//! no panic on arbitrary, truncated or bit-flipped input.

#[path = "common/messages.rs"]
mod messages;
#[path = "common/strategies.rs"]
mod strategies;

use messages::without_bloom;
use proptest::collection::vec;
use proptest::prelude::*;
use storage::persistence::{
    decode_channel_data, decode_channel_meta, decode_history_update, encode_channel_data,
    encode_channel_meta, encode_history_update,
};
use storage::protocol::{
    decode_history_entry, decode_message, decode_stored_message, encode_history_entry,
    encode_message, encode_message_into, encode_message_with_bloom, encode_stored_message,
    encoded_message_len, ChannelData, ChannelMeta, HistoryEntry, HistoryUpdate, IncomingEntry,
    IncomingRepair, OutgoingEntry, OutgoingRepair, SdsMessage,
};
use strategies::bytes;

fn id() -> impl Strategy<Value = String> + Clone {
    prop_oneof![Just(String::new()), ".{0,12}"]
}

fn entry() -> impl Strategy<Value = HistoryEntry> {
    strategies::entry(id(), 16)
}

fn message_with_bloom(bloom: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = SdsMessage> {
    strategies::message(id(), id(), 48, 16, bloom)
}

fn message() -> impl Strategy<Value = SdsMessage> {
    message_with_bloom(bytes(64))
}

/// A message as stored in snapshots: without its bloom.
fn stored() -> impl Strategy<Value = SdsMessage> {
    message_with_bloom(Just(Vec::new()))
}

fn meta() -> impl Strategy<Value = ChannelMeta> {
    let outgoing = (stored(), any::<u64>(), any::<u32>(), any::<u32>()).prop_map(
        |(message, send_time_ms, resend_attempts, bloom_hits)| OutgoingEntry {
            message,
            send_time_ms,
            resend_attempts,
            bloom_hits,
        },
    );
    let incoming = (stored(), vec(id(), 0..3), any::<u64>()).prop_map(
        |(message, missing_deps, received_at_ms)| IncomingEntry {
            message,
            missing_deps,
            received_at_ms,
        },
    );
    let out_repair = (entry(), any::<u64>())
        .prop_map(|(entry, min_time_ms)| OutgoingRepair { entry, min_time_ms });
    let in_repair =
        (entry(), bytes(32), any::<u64>()).prop_map(|(entry, cached_message, min_time_ms)| {
            IncomingRepair {
                entry,
                cached_message,
                min_time_ms,
            }
        });
    (
        any::<i64>(),
        vec(outgoing, 0..3),
        vec(incoming, 0..3),
        vec(out_repair, 0..3),
        vec(in_repair, 0..3),
        vec(id(), 0..3),
    )
        .prop_map(
            |(lamport_timestamp, outgoing, incoming, outgoing_repair, incoming_repair, met_ids)| {
                ChannelMeta {
                    lamport_timestamp,
                    outgoing,
                    incoming,
                    outgoing_repair,
                    incoming_repair,
                    met_ids,
                }
            },
        )
}

fn data() -> impl Strategy<Value = ChannelData> {
    (meta(), vec(stored(), 0..4)).prop_map(|(meta, history)| ChannelData { meta, history })
}

fn update() -> impl Strategy<Value = HistoryUpdate> {
    (vec(stored(), 0..4), vec(id(), 0..4))
        .prop_map(|(append, evict)| HistoryUpdate { append, evict })
}

/// Feeds `bytes` to every decoder; none may panic. Whatever a decoder accepts must
/// survive re-encoding unchanged in meaning.
fn decode_everything(bytes: &[u8]) {
    if let Ok(m) = decode_message(bytes) {
        assert_eq!(decode_message(&encode_message(&m)), Ok(m));
    }
    if let Ok(e) = decode_history_entry(bytes) {
        assert_eq!(decode_history_entry(&encode_history_entry(&e)), Ok(e));
    }
    if let Ok(m) = decode_stored_message(bytes) {
        assert_eq!(decode_stored_message(&encode_message(&m)), Ok(m));
    }
    if let Ok(meta) = decode_channel_meta(bytes) {
        let again = decode_channel_meta(&encode_channel_meta(&meta)).expect("re-decodes");
        assert_eq!(again.lamport_timestamp, meta.lamport_timestamp);
        assert_eq!(again.outgoing.len(), meta.outgoing.len());
        assert_eq!(again.met_ids, meta.met_ids);
    }
    if let Ok(d) = decode_channel_data(bytes) {
        let again = decode_channel_data(&encode_channel_data(&d)).expect("re-decodes");
        assert_eq!(again.history.len(), d.history.len());
    }
    if let Ok(u) = decode_history_update(bytes) {
        let again = decode_history_update(&encode_history_update(&u)).expect("re-decodes");
        assert_eq!(again.evict, u.evict);
        assert_eq!(again.append.len(), u.append.len());
    }
}

/// Every prefix and, for the given positions, every single-bit flip of `valid`.
fn mutilate(valid: &[u8], positions: &[(usize, u8)]) {
    for len in 0..valid.len() {
        decode_everything(&valid[..len]);
    }
    for &(pos, bit) in positions {
        if valid.is_empty() {
            break;
        }
        let mut flipped = valid.to_vec();
        flipped[pos % valid.len()] ^= 1 << (bit % 8);
        decode_everything(&flipped);
    }
}

proptest! {
    #[test]
    fn message_round_trips(m in message()) {
        let bytes = encode_message(&m);
        prop_assert_eq!(bytes.len(), encoded_message_len(&m));
        prop_assert_eq!(bytes.capacity(), bytes.len());
        let mut buf = vec![1, 2, 3];
        encode_message_into(&m, &mut buf);
        prop_assert_eq!(&buf[3..], bytes.as_slice());
        prop_assert_eq!(decode_message(&bytes), Ok(m));
    }

    #[test]
    fn with_bloom_equals_attaching_the_bloom(m in message(), bloom in bytes(64)) {
        let attached = SdsMessage { bloom_filter: bloom.clone(), ..m.clone() };
        prop_assert_eq!(encode_message_with_bloom(&m, &bloom), encode_message(&attached));
    }

    #[test]
    fn history_entry_round_trips(e in entry()) {
        prop_assert_eq!(decode_history_entry(&encode_history_entry(&e)), Ok(e));
    }

    #[test]
    fn stored_message_round_trips_without_its_bloom(m in message()) {
        prop_assert_eq!(decode_stored_message(&encode_stored_message(&m)), Ok(without_bloom(&m)));
    }

    #[test]
    fn channel_meta_round_trips(meta in meta()) {
        let bytes = encode_channel_meta(&meta);
        prop_assert_eq!(bytes.capacity(), bytes.len());
        prop_assert_eq!(decode_channel_meta(&bytes), Ok(meta));
    }

    #[test]
    fn channel_data_round_trips(d in data()) {
        prop_assert_eq!(decode_channel_data(&encode_channel_data(&d)), Ok(d));
    }

    #[test]
    fn history_update_round_trips(u in update()) {
        prop_assert_eq!(decode_history_update(&encode_history_update(&u)), Ok(u));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(input in bytes(256)) {
        decode_everything(&input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn damaged_messages_never_panic(m in message(), flips in vec((any::<usize>(), any::<u8>()), 0..32)) {
        mutilate(&encode_message(&m), &flips);
    }

    #[test]
    fn damaged_snapshots_never_panic(
        d in data(),
        u in update(),
        flips in vec((any::<usize>(), any::<u8>()), 0..32),
    ) {
        mutilate(&encode_channel_meta(&d.meta), &flips);
        mutilate(&encode_channel_data(&d), &flips);
        mutilate(&encode_history_update(&u), &flips);
    }
}
