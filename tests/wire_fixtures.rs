//! The wire codec against nim-sds's own output (`fixtures/nim-sds/wire.json`).
//!
//! The fixtures live beside the project, not in it; when they are absent (a fresh clone)
//! each test says so and returns. The key vectors are also checked by the unit tests in
//! `src/protocol/wire.rs`, which run everywhere.

#[path = "common/fixtures.rs"]
mod fixtures;
#[path = "common/messages.rs"]
mod messages;

use fixtures::{array_of, hex_of, nim_fixture, str_of};
use messages::entry;
use serde_json::Value;
use storage::protocol::{
    decode_message, encode_message, encode_message_with_bloom, encoded_message_len, HistoryEntry,
    SdsMessage,
};

fn entries(v: &Value, key: &str) -> Vec<HistoryEntry> {
    array_of(v, key)
        .iter()
        .map(|e| {
            entry(
                str_of(e, "message_id"),
                &hex_of(e, "retrieval_hint_hex"),
                str_of(e, "sender_id"),
            )
        })
        .collect()
}

/// The message a fixture describes, without its bloom (the fixture lists the ids in the
/// bloom, not its bytes).
fn described(v: &Value) -> SdsMessage {
    SdsMessage {
        message_id: str_of(v, "message_id").into(),
        lamport_timestamp: str_of(v, "lamport").parse().expect("lamport is an i64"),
        causal_history: entries(v, "causal_history"),
        channel_id: str_of(v, "channel_id").into(),
        content: hex_of(v, "content_hex"),
        bloom_filter: Vec::new(),
        sender_id: str_of(v, "sender_id").into(),
        repair_request: entries(v, "repair_request"),
    }
}

fn has_bloom(v: &Value) -> bool {
    !array_of(v, "bloom_ids").is_empty()
}

#[test]
fn every_message_encodes_to_nim_bytes_and_decodes_to_its_fields() {
    let Some(fixture) = nim_fixture("wire.json") else {
        return;
    };
    let messages = array_of(&fixture, "messages");
    assert!(messages.len() >= 7);
    for v in messages {
        let name = str_of(v, "name");
        let wire = hex_of(v, "wire_hex");
        let mut expected = described(v);
        let decoded = decode_message(&wire).unwrap_or_else(|e| panic!("{name}: {e}"));
        if has_bloom(v) {
            assert!(!decoded.bloom_filter.is_empty(), "{name}: bloom decoded");
            expected.bloom_filter = decoded.bloom_filter.clone();
            // Attaching the bloom to the bloom-less message gives nim's bytes too.
            assert_eq!(
                encode_message_with_bloom(&described(v), &decoded.bloom_filter),
                wire,
                "{name}"
            );
        }
        assert_eq!(decoded, expected, "{name}: decoded fields");
        assert_eq!(encode_message(&expected), wire, "{name}: encoded bytes");
        assert_eq!(encoded_message_len(&expected), wire.len(), "{name}");
    }
}

#[test]
fn every_decode_case_is_accepted_or_rejected_as_nim_does() {
    let Some(fixture) = nim_fixture("wire.json") else {
        return;
    };
    let cases = array_of(&fixture, "decode_cases");
    assert!(!cases.is_empty());
    for case in cases {
        let name = str_of(case, "name");
        let nim_accepts = case["nim_accepts"].as_bool().expect("nim_accepts");
        let result = decode_message(&hex_of(case, "hex"));
        assert_eq!(result.is_ok(), nim_accepts, "{name}: {result:?}");
    }
}

/// nim-sds's serialized bloom filter, as found in an SdsMessage's field 6.
#[derive(Clone, PartialEq, prost::Message)]
struct NimBloom {
    #[prost(bytes = "vec", tag = "1")]
    bits: Vec<u8>,
    #[prost(uint64, tag = "2")]
    capacity: u64,
    #[prost(uint64, tag = "3")]
    error_rate_millionths: u64,
    #[prost(uint64, tag = "4")]
    k: u64,
    #[prost(uint64, tag = "5")]
    m_bits: u64,
}

#[test]
fn bloom_of_25_ids_survives_the_round_trip() {
    use prost::Message as _;
    let Some(fixture) = nim_fixture("wire.json") else {
        return;
    };
    let v = array_of(&fixture, "messages")
        .iter()
        .find(|m| str_of(m, "name") == "with_bloom_25_ids")
        .expect("with_bloom_25_ids present");
    let wire = hex_of(v, "wire_hex");
    let decoded = decode_message(&wire).expect("decodes");
    let bloom = decoded.bloom_filter.clone();

    // The bytes are a default-size nim-sds filter (capacity 10000, error rate 0.001).
    let filter = NimBloom::decode(bloom.as_slice()).expect("bloom is nim's protobuf");
    assert_eq!(filter.capacity, 10_000);
    assert_eq!(filter.error_rate_millionths, 1_000);
    assert_eq!(filter.bits.len(), 18_752);
    assert!(filter.bits.iter().any(|&b| b != 0), "25 ids set some bits");
    if let Some(blooms) = nim_fixture("bloom.json") {
        let default = array_of(&blooms, "filters")
            .iter()
            .find(|f| f["capacity"].as_u64() == Some(10_000))
            .expect("a default-size filter");
        assert_eq!(Some(filter.k), default["k"].as_u64());
        assert_eq!(Some(filter.m_bits), default["m_bits"].as_u64());
    }

    // Round trip: re-encoded bytes and re-decoded bloom are identical.
    let again = encode_message(&decoded);
    assert_eq!(again, wire);
    assert_eq!(decode_message(&again).expect("decodes").bloom_filter, bloom);
}
