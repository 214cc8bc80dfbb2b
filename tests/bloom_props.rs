//! Property tests: encodings round-trip, inserted ids are always found, and decoding any
//! bytes (arbitrary, truncated or mutated) never panics.

use proptest::prelude::*;
use storage::protocol::{BloomFilter, IdHashes, PeerBloom, RollingBloomFilter};

fn error_rate() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.001), Just(0.01), Just(0.05), 1e-9f64..0.999,]
}

/// Ids of any Unicode content, short (the common case) or longer than the 254 bytes that
/// `IdHashes` hashes on the stack.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z0-9-]{0,40}",
        1 => prop::collection::vec(any::<char>(), 0..150).prop_map(String::from_iter),
    ]
}

fn ids() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(id(), 0..200)
}

/// A small filter holding some ids, and its encoding.
fn encoded_filter() -> impl Strategy<Value = (Vec<String>, Vec<u8>)> {
    (
        1usize..300,
        error_rate(),
        prop::collection::vec(id(), 0..30),
    )
        .prop_map(|(capacity, err, ids)| {
            let mut bf = BloomFilter::new(capacity, err).expect("strategy yields valid sizings");
            for id in &ids {
                bf.insert(id);
            }
            let enc = bf.serialize();
            (ids, enc)
        })
}

/// Decodes with both decoders; they must agree, and a successful decode must answer
/// lookups without panicking.
fn decode_both(bytes: &[u8]) -> bool {
    let peer = PeerBloom::parse(bytes);
    let owned = BloomFilter::deserialize(bytes);
    assert_eq!(peer.as_ref().err(), owned.as_ref().err());
    if let (Ok(peer), Ok(owned)) = (peer, owned) {
        assert!(peer.m_bits() > 0 && peer.m_bits() <= 64 * peer.word_count() as u64);
        assert!((1..=32).contains(&peer.k()));
        for probe in ["", "a", "msg-1", "some-longer-message-id-0123456789"] {
            assert_eq!(peer.contains(probe), owned.contains(probe));
        }
        true
    } else {
        false
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn serialize_deserialize_round_trip(capacity in 1usize..5000, err in error_rate(), ids in ids()) {
        let mut bf = BloomFilter::new(capacity, err).expect("valid sizing");
        for id in &ids {
            bf.insert(id);
        }
        let enc = bf.serialize();
        prop_assert_eq!(enc.len(), bf.encoded_len());
        let back = BloomFilter::deserialize(&enc).expect("own encoding decodes");
        prop_assert_eq!(back.words(), bf.words());
        prop_assert_eq!(back.k(), bf.k());
        prop_assert_eq!(back.m_bits(), bf.m_bits());
        prop_assert_eq!(back.capacity(), bf.capacity());
        // The wire carries trunc(err * 1e6) millionths, read back as millionths / 1e6.
        prop_assert_eq!(back.error_rate(), ((err * 1e6) as u64) as f64 / 1e6);
        let peer = PeerBloom::parse(&enc).expect("own encoding parses");
        prop_assert_eq!(peer.to_filter().expect("copy"), back);
    }

    #[test]
    fn inserted_ids_are_always_found(capacity in 1usize..500, err in error_rate(), ids in ids()) {
        let mut bf = BloomFilter::new(capacity, err).expect("valid sizing");
        for id in &ids {
            bf.insert(id);
        }
        let enc = bf.serialize();
        let peer = PeerBloom::parse(&enc).expect("parses");
        for id in &ids {
            let h = IdHashes::of(id);
            prop_assert!(bf.contains(id));
            prop_assert!(bf.contains_hashed(&h));
            prop_assert!(peer.contains(id));
            prop_assert!(peer.contains_hashed(&h));
        }
    }

    #[test]
    fn rolling_filter_finds_every_tracked_id(capacity in 1usize..60, err in error_rate(), ids in ids()) {
        let mut r = RollingBloomFilter::new(capacity, err).expect("valid sizing");
        for id in &ids {
            r.add(id);
            prop_assert!(r.len() <= r.max_capacity());
        }
        // The tracked ids are a suffix of what was added, and all are found.
        let start = ids.len() - r.len();
        let tracked = &ids[start..];
        prop_assert!(r.tracked().eq(tracked.iter().map(|id| IdHashes::of(id))));
        for id in tracked {
            prop_assert!(r.contains(id));
        }
        let enc = r.serialize();
        let peer = PeerBloom::parse(&enc).expect("parses");
        for id in tracked {
            prop_assert!(peer.contains(id));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        decode_both(&bytes);
    }

    #[test]
    fn structured_junk_never_panics(
        parts in prop::collection::vec(
            (1u64..8, 0u8..8, any::<u64>(), prop::collection::vec(any::<u8>(), 0..80)),
            0..8,
        )
    ) {
        // Plausible keys and values so that decoding gets past the first byte.
        let mut bytes = Vec::new();
        for (field, wire, value, payload) in parts {
            let key = (field << 3) | u64::from(wire);
            prost::encoding::encode_varint(key, &mut bytes);
            match wire {
                0 => prost::encoding::encode_varint(value % 4096, &mut bytes),
                2 => {
                    prost::encoding::encode_varint(payload.len() as u64, &mut bytes);
                    bytes.extend_from_slice(&payload);
                }
                _ => bytes.extend_from_slice(&payload),
            }
        }
        decode_both(&bytes);
    }

    #[test]
    fn truncated_encodings_are_rejected((_, enc) in encoded_filter(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(enc.len());
        // Field 5 is last and required, so every proper prefix is invalid.
        prop_assert!(!decode_both(&enc[..cut]));
    }

    #[test]
    fn mutated_encodings_never_panic(
        (ids, enc) in encoded_filter(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut bytes = enc.clone();
        for (at, value, kind) in edits {
            if bytes.is_empty() {
                bytes.push(value);
                continue;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = value,
                1 => bytes.insert(i, value),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        if decode_both(&bytes) {
            let peer = PeerBloom::parse(&bytes).expect("decoded above");
            for id in &ids {
                let _ = peer.contains(id);
            }
        }
    }
}
