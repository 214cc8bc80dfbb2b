//! The spec wire dialect beside nim-sds's: byte vectors written by `@waku/sds` 0.0.8,
//! per-message detection and its corner cases, round trips in both dialects, hostile
//! input, and managers that send in their channel's dialect and understand both.

#[path = "common/managers.rs"]
mod managers;
#[path = "common/messages.rs"]
mod messages;
#[path = "common/strategies.rs"]
mod strategies;

use managers::{manager_with, T0};
use messages::{entry, sds_message};
use proptest::collection::vec;
use proptest::prelude::*;
use storage::protocol::{
    decode_message, decode_received, encode_message, encode_message_as, BloomFilter, Event,
    PeerBloom, SdsMessage, UnwrapStatus, WireFormat,
};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test hex")
}

/// Messages and the bytes `@waku/sds` 0.0.8's `SdsMessage.encode` writes for them
/// (produced with `tests/js-interop/node_modules/@waku/proto`).
fn js_vectors() -> Vec<(&'static str, SdsMessage, &'static str)> {
    let content = SdsMessage {
        sender_id: "alice".into(),
        causal_history: vec![entry("m1", b"", ""), entry("m2", b"hint-2", "bob")],
        bloom_filter: vec![1, 2],
        repair_request: vec![entry("mx", b"", "carol")],
        ..sds_message("chan-x", "m3", 42, b"payload")
    };
    let sync = SdsMessage {
        sender_id: "bob".into(),
        causal_history: vec![entry("m8", b"", "alice")],
        ..sds_message("ch", "sync-1", 7, b"")
    };
    let ephemeral = SdsMessage {
        sender_id: "bob".into(),
        ..sds_message("ch", "e1", 0, b"x")
    };
    vec![
        (
            "content",
            content,
            "0a05616c69636512026d331a066368616e2d78502a5a040a026d315a110a026d32120668696e742d32\
             1a03626f62620201026a0b0a026d781a056361726f6ca201077061796c6f6164",
        ),
        (
            "sync",
            sync,
            "0a03626f62120673796e632d311a02636850075a0b0a026d381a05616c696365",
        ),
        ("ephemeral", ephemeral, "0a03626f62120265311a026368a2010178"),
        (
            "empty_sender",
            sds_message("c1", "m1", 1, b"hello"),
            "12026d311a0263315001a2010568656c6c6f",
        ),
    ]
}

#[test]
fn spec_encoding_is_what_waku_sds_writes_and_reads_back() {
    for (name, m, wire) in js_vectors() {
        assert_eq!(
            hex::encode(encode_message_as(WireFormat::Spec, &m)),
            wire,
            "{name}"
        );
        let bytes = h(wire);
        let received = decode_received(&bytes).expect(name);
        assert_eq!(received.format, WireFormat::Spec, "{name}");
        assert_eq!(received.bloom, m.bloom_filter.as_slice(), "{name}");
        assert_eq!(decode_message(&h(wire)), Ok(m), "{name}");
    }
}

#[test]
fn nim_bytes_are_unchanged_and_detected_as_nim() {
    let m = sds_message("c1", "m1", 1, b"hello");
    let nim = "0a026d311001220263312a0568656c6c6f3200";
    assert_eq!(hex::encode(encode_message(&m)), nim);
    assert_eq!(hex::encode(encode_message_as(WireFormat::Nim, &m)), nim);
    assert_eq!(
        decode_received(&h(nim)).expect("nim").format,
        WireFormat::Nim
    );
}

#[test]
fn ephemeral_and_sync_messages_are_told_apart_in_the_spec_dialect() {
    let wire = |m: &SdsMessage| encode_message_as(WireFormat::Spec, m);
    // Ephemeral: no field 10 at all.
    let e = sds_message("ch", "e1", 0, b"x");
    let bytes = wire(&e);
    assert!(!bytes.contains(&0x50));
    assert!(decode_received(&bytes).expect("ephemeral").is_ephemeral());
    // A content message at Lamport 0 with a history is not ephemeral: its 0 is written.
    let c = SdsMessage {
        causal_history: vec![entry("d", b"", "")],
        ..sds_message("ch", "c", 0, b"x")
    };
    let bytes = wire(&c);
    let r = decode_received(&bytes).expect("content");
    assert!(!r.is_ephemeral());
    assert_eq!(r.message, c);
    // A spec message without a Lamport timestamp but with a history is ephemeral, as
    // `@waku/sds` decides (it reads only the Lamport timestamp and the content).
    let odd = h("12026d311a0263685a030a0164a2010178");
    assert!(decode_received(&odd).expect("odd").is_ephemeral());
    // Sync: Lamport timestamp, no content field.
    let s = sds_message("ch", "s", 9, b"");
    let bytes = wire(&s);
    let r = decode_received(&bytes).expect("sync");
    assert!(r.message.is_sync() && !r.is_ephemeral());
}

#[test]
fn detection_corner_cases() {
    let format = |hex_str: &str| decode_received(&h(hex_str)).map(|r| r.format);
    // Everything optional left out but the Lamport timestamp: a spec message.
    assert_eq!(format("5000"), Ok(WireFormat::Spec));
    // Unknown fields (every wire type) do not decide either way.
    assert_eq!(
        format(
            "12026d311a02636850014001 4d01020304 490102030405060708 5a03616263"
                .replace(' ', "")
                .as_str()
        )
        .ok(),
        None,
        "field 11 with garbage is a bad history entry"
    );
    assert_eq!(
        format("12026d311a026368500140014d01020304"),
        Ok(WireFormat::Spec)
    );
    assert_eq!(
        format(
            "0a026d311001220263312a00 5001 a20100"
                .replace(' ', "")
                .as_str()
        ),
        Ok(WireFormat::Nim)
    );
    // A spec message must not be mistaken for nim's refusals: nothing deciding is a nim
    // message with its required fields missing, reported as before.
    assert!(decode_message(&h("12026d311a026368")).is_err());
    assert!(decode_message(&h("")).is_err());
}

fn id() -> impl Strategy<Value = String> + Clone {
    prop_oneof![Just(String::new()), "[a-z0-9-]{1,12}"]
}

fn format() -> impl Strategy<Value = WireFormat> {
    prop_oneof![Just(WireFormat::Nim), Just(WireFormat::Spec)]
}

proptest! {
    #[test]
    fn both_dialects_round_trip(
        f in format(),
        m in strategies::message(id(), id(), 48, 16, strategies::bytes(64)),
    ) {
        let bytes = encode_message_as(f, &m);
        let received = decode_received(&bytes).expect("own encoding decodes");
        prop_assert_eq!(received.format, f);
        prop_assert_eq!(decode_message(&bytes), Ok(m));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        let _ = decode_received(&bytes);
    }

    #[test]
    fn spec_shaped_noise_never_panics(
        fields in vec((prop_oneof![Just(1u8), Just(2), Just(3), Just(10), Just(11), Just(12), Just(13), Just(20)], vec(any::<u8>(), 0..12)), 0..8),
    ) {
        let mut bytes = Vec::new();
        for (n, payload) in fields {
            let key = u32::from(n) << 3 | if n == 10 { 0 } else { 2 };
            prost::encoding::encode_varint(u64::from(key), &mut bytes);
            if n == 10 {
                bytes.extend(payload.iter().map(|b| b & 0x7f).take(1).chain([0]).take(1));
            } else {
                prost::encoding::encode_varint(payload.len() as u64, &mut bytes);
                bytes.extend(&payload);
            }
        }
        if let Ok(r) = decode_received(&bytes) {
            // Whatever decodes re-encodes in its own dialect and decodes to the same.
            let again = encode_message_as(r.format, &SdsMessage { bloom_filter: r.bloom.to_vec(), ..r.message.clone() });
            prop_assert_eq!(decode_received(&again).map(|x| x.message), Ok(r.message));
        }
    }
}

#[test]
fn spec_bloom_is_big_endian_words_read_with_the_receivers_sizing() {
    let mut filter = BloomFilter::new(10_000, 0.001).expect("sizing");
    filter.insert("m-1");
    let mut spec = Vec::new();
    filter.encode_as(WireFormat::Spec, &mut spec);
    assert_eq!(spec.len(), 18_752);
    // Word w's bit b sits in byte 8w + 7 - b/8.
    let words = filter.words();
    for (w, word) in words.iter().enumerate() {
        assert_eq!(spec[8 * w..8 * w + 8], word.to_be_bytes());
    }
    let peer = PeerBloom::parse_as(WireFormat::Spec, &spec, &filter).expect("valid");
    assert!(peer.contains("m-1"));
    assert!(!peer.contains("m-2"));
    // Too short for the receiver's sizing, or not whole words: refused, never read.
    assert!(PeerBloom::parse_as(WireFormat::Spec, &spec[..800], &filter).is_err());
    assert!(PeerBloom::parse_as(WireFormat::Spec, &spec[..18_751], &filter).is_err());
}

fn spec_manager(participant: &str) -> storage::protocol::Manager {
    manager_with(participant, |c| c.wire_format = WireFormat::Spec)
}

#[test]
fn a_spec_channel_sends_spec_and_a_nim_peer_understands_it() {
    let mut alice = spec_manager("alice");
    let mut bob = manager_with("bob", |_| {});
    let wire = alice.wrap(T0, "room", "a1", b"hello").expect("wrap");
    assert_eq!(
        decode_received(&wire).expect("decodes").format,
        WireFormat::Spec
    );
    assert_eq!(
        bob.unwrap(T0, &wire).expect("unwrap").status,
        UnwrapStatus::Delivered
    );
    // Bob answers in nim; alice reads it and is acknowledged by its bloom filter too.
    let reply = bob.wrap(T0 + 1, "room", "b1", b"hi").expect("wrap");
    assert_eq!(
        decode_received(&reply).expect("decodes").format,
        WireFormat::Nim
    );
    assert_eq!(
        alice.unwrap(T0 + 1, &reply).expect("unwrap").status,
        UnwrapStatus::Delivered
    );
    assert!(alice
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::MessageSent { message_id, .. } if message_id == "a1")));
}

#[test]
fn spec_bloom_acknowledges_as_possibly_then_confirmed() {
    let mut alice = spec_manager("alice");
    let mut bob = spec_manager("bob");
    let a1 = alice.wrap(T0, "room", "a1", b"one").expect("wrap");
    bob.unwrap(T0, &a1).expect("unwrap");
    // Bob's sync messages carry a1 in their bloom, and (from the second on) not in a
    // causal history alice could read it from: make the history empty by a fresh peer.
    let mut carol = spec_manager("carol");
    carol.unwrap(T0, &a1).expect("carol receives");
    let sync = carol.build_sync_message(T0 + 1, "room").expect("sync");
    let r = decode_received(&sync).expect("decodes");
    assert_eq!(r.format, WireFormat::Spec);
    assert!(r.message.is_sync());
    // Strip the history so only the bloom can acknowledge.
    let only_bloom = SdsMessage {
        causal_history: vec![],
        bloom_filter: r.bloom.to_vec(),
        ..r.message.clone()
    };
    let bytes = encode_message_as(WireFormat::Spec, &only_bloom);
    alice.unwrap(T0 + 2, &bytes).expect("sync 1");
    let events = alice.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PossiblyAcknowledged { hits: 1, .. })),
        "{events:?}"
    );
    let second = SdsMessage {
        message_id: "sync-x".into(),
        ..only_bloom
    };
    alice
        .unwrap(T0 + 3, &encode_message_as(WireFormat::Spec, &second))
        .expect("sync 2");
    assert!(alice
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::MessageSent { message_id, .. } if message_id == "a1")));
}

#[test]
fn per_channel_override_serves_both_dialects_side_by_side() {
    let mut m = manager_with("alice", |c| {
        c.channel_wire_formats
            .insert("browser".into(), WireFormat::Spec);
    });
    let nim = m.wrap(T0, "robots", "r1", b"x").expect("wrap");
    let spec = m.wrap(T0, "browser", "b1", b"x").expect("wrap");
    let eph = m.wrap_ephemeral("browser", "e1", b"x").expect("ephemeral");
    let sync = m.build_sync_message(T0, "browser").expect("sync");
    let f = |b: &[u8]| decode_received(b).expect("decodes").format;
    assert_eq!(f(&nim), WireFormat::Nim);
    assert_eq!(f(&spec), WireFormat::Spec);
    assert_eq!(f(&eph), WireFormat::Spec);
    assert!(decode_received(&eph).expect("e").is_ephemeral());
    assert_eq!(f(&sync), WireFormat::Spec);
    // Resends go out in the channel's dialect as well.
    m.sweep_outgoing(T0 + 61_000);
    for e in m.take_events() {
        if let Event::Resend {
            channel_id, bytes, ..
        } = e
        {
            let want = if channel_id == "browser" {
                WireFormat::Spec
            } else {
                WireFormat::Nim
            };
            assert_eq!(f(&bytes), want, "{channel_id}");
        }
    }
}

/// The k = 10 bit positions `@waku/sds` uses for `id` in a default filter (150 000 bits),
/// from its `hashN(id, 0)` and `hashN(id, 1)` (Node 20): `hashN(id, n) = (a + n * b) mod m`.
fn waku_sds_positions(first: u64, second: u64) -> Vec<u64> {
    let m = 150_000;
    let step = (second + m - first) % m;
    (0..10).map(|n| (first + n * step) % m).collect()
}

/// Whether bit `p` is set in a spec bloom (64-bit words, big-endian).
fn spec_bit(bloom: &[u8], p: u64) -> bool {
    let (word, bit) = ((p / 64) as usize, p % 64);
    bloom[8 * word + 7 - (bit / 8) as usize] >> (bit % 8) & 1 == 1
}

#[test]
fn spec_bloom_uses_the_hash_waku_sds_uses() {
    // A JS message id (hex SHA-256); @waku/sds sets bits by Nim's JavaScript-backend hash
    // (MurmurHash3), not nim-sds's FarmHash.
    let js_id = "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4";
    let js_positions = waku_sds_positions(147_339, 107_824);
    assert_eq!(js_positions[9], 91_704, "hashN(id, 9)");
    let mut alice = spec_manager("alice");
    let from_js = SdsMessage {
        sender_id: "js".into(),
        ..sds_message("room", js_id, 5, b"hi")
    };
    alice
        .unwrap(T0, &encode_message_as(WireFormat::Spec, &from_js))
        .expect("unwrap");
    let sync = alice.build_sync_message(T0 + 1, "room").expect("sync");
    let bloom = decode_received(&sync).expect("decodes").bloom.to_vec();
    assert!(js_positions.iter().all(|&p| spec_bit(&bloom, p)));

    // The other way: a bloom with exactly rs-0's @waku/sds bits (and no causal history)
    // makes alice's rs-0 possibly acknowledged.
    alice.wrap(T0 + 2, "room", "rs-0", b"x").expect("wrap");
    alice.take_events();
    let mut js_bloom = vec![0u8; 18_752];
    for p in waku_sds_positions(70_528, 81_949) {
        let (word, bit) = ((p / 64) as usize, p % 64);
        js_bloom[8 * word + 7 - (bit / 8) as usize] |= 1 << (bit % 8);
    }
    let js_sync = SdsMessage {
        sender_id: "js".into(),
        bloom_filter: js_bloom,
        ..sds_message("room", "sync-js", 9, b"")
    };
    alice
        .unwrap(T0 + 3, &encode_message_as(WireFormat::Spec, &js_sync))
        .expect("unwrap");
    let events = alice.take_events();
    assert!(
        events.iter().any(|e| matches!(e,
            Event::PossiblyAcknowledged { message_id, hits: 1, .. } if message_id == "rs-0")),
        "{events:?}"
    );
}
