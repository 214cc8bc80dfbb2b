//! Bit-compatibility with nim-sds: Nim's `hash(string)` vectors, single-id bit positions,
//! and whole rolling filters built by nim-sds (serialized bytes and lookup answers, false
//! positives included). Reads `../shared/fixtures/nim-sds/`; a missing fixture file skips
//! its test with a message.

#[path = "common/fixtures.rs"]
mod fixtures;

use fixtures::{array_of, f64_of, nim_fixture, str_of, u64_of};
use serde_json::Value;
use storage::protocol::{nim_hash, BloomFilter, IdHashes, PeerBloom, RollingBloomFilter};

/// Sorted positions of the set bits.
fn set_bits(words: &[u64]) -> Vec<u64> {
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        for bit in 0..64 {
            if (w >> bit) & 1 == 1 {
                out.push(i as u64 * 64 + bit);
            }
        }
    }
    out
}

#[test]
fn nim_hash_matches_every_vector() {
    let Some(fixture) = nim_fixture("hash.json") else {
        return;
    };
    let vectors = array_of(&fixture, "vectors");
    assert_eq!(vectors.len(), 319);
    let mut mismatches = Vec::new();
    for v in vectors {
        let input = fixtures::hex_of(v, "input_hex");
        let want: i64 = str_of(v, "hash_i64").parse().expect("decimal i64");
        let got = nim_hash(&input);
        if got != want {
            mismatches.push((input.len(), want, got));
        }
    }
    assert!(mismatches.is_empty(), "(len, nim, ours): {mismatches:?}");
}

#[test]
fn single_id_bit_positions_match() {
    let Some(fixture) = nim_fixture("hash.json") else {
        return;
    };
    let cases = array_of(&fixture, "bloom_single_id_bits");
    assert!(!cases.is_empty());
    for case in cases {
        let id = str_of(case, "id");
        let mut bf = BloomFilter::new(
            u64_of(case, "capacity") as usize,
            f64_of(case, "error_rate"),
        )
        .expect("fixture sizing is valid");
        assert_eq!(u64::from(bf.k()), u64_of(case, "k"), "k for {id:?}");
        assert_eq!(bf.m_bits(), u64_of(case, "m_bits"), "m_bits for {id:?}");
        bf.insert(id);
        let want: Vec<u64> = array_of(case, "set_bits_sorted")
            .iter()
            .map(|b| b.as_u64().expect("bit position"))
            .collect();
        assert_eq!(set_bits(&bf.words()), want, "bits for {id:?}");
        assert!(bf.contains(id));
    }
}

fn check_lookups(what: &str, lookups: &[Value], contains: impl Fn(&str) -> bool) {
    assert!(!lookups.is_empty());
    for l in lookups {
        let id = str_of(l, "id");
        let want = l["nim_lookup"].as_bool().expect("nim_lookup is a bool");
        assert_eq!(contains(id), want, "{what}: lookup of {id:?}");
    }
}

#[test]
fn rolling_filters_match_nim_bytes_and_lookups() {
    let Some(fixture) = nim_fixture("bloom.json") else {
        return;
    };
    let filters = array_of(&fixture, "filters");
    assert_eq!(filters.len(), 4);
    let mut saw_false_positive = false;
    let mut saw_rolled_out = false;
    for (n, f) in filters.iter().enumerate() {
        let capacity = u64_of(f, "capacity") as usize;
        let error_rate = f64_of(f, "error_rate");
        let mut rbf = RollingBloomFilter::new(capacity, error_rate).expect("valid sizing");
        for id in array_of(f, "inserted_ids_in_order") {
            rbf.add(id.as_str().expect("id is a string"));
        }
        assert_eq!(u64::from(rbf.filter().k()), u64_of(f, "k"), "filter {n} k");
        assert_eq!(
            rbf.filter().m_bits(),
            u64_of(f, "m_bits"),
            "filter {n} m_bits"
        );

        let want = fixtures::hex_of(f, "serialized_hex");
        let got = rbf.serialize();
        assert_eq!(got.len(), want.len(), "filter {n} encoded length");
        assert!(
            got == want,
            "filter {n}: serialized bytes differ from nim-sds"
        );
        assert_eq!(rbf.encoded_len(), want.len());

        let owned = BloomFilter::deserialize(&want).expect("nim bytes decode");
        assert_eq!(&owned, rbf.filter(), "filter {n} decoded equals built");
        let peer = PeerBloom::parse(&want).expect("nim bytes parse");

        for key in ["inserted_lookups", "absent_lookups"] {
            let lookups = array_of(f, key);
            check_lookups(&format!("filter {n} {key} built"), lookups, |id| {
                rbf.contains(id)
            });
            check_lookups(&format!("filter {n} {key} owned"), lookups, |id| {
                owned.contains(id)
            });
            check_lookups(&format!("filter {n} {key} peer"), lookups, |id| {
                peer.contains(id) && peer.contains_hashed(&IdHashes::of(id))
            });
            for l in lookups {
                let hit = l["nim_lookup"].as_bool() == Some(true);
                saw_false_positive |= key == "absent_lookups" && hit;
                saw_rolled_out |= key == "inserted_lookups" && !hit;
            }
        }
    }
    // The fixtures exercise both a false positive and ids rolled out of the filter.
    assert!(saw_false_positive);
    assert!(saw_rolled_out);
}

/// Core compatibility checks with figures copied from the fixtures, so they run even where
/// the fixture files are absent.
#[test]
fn embedded_nim_vectors() {
    // bloom_single_id_bits for "msg-1" in a default filter.
    let mut bf = BloomFilter::new(10_000, 0.001).expect("default sizing");
    assert_eq!((bf.k(), bf.m_bits(), bf.words().len()), (10, 150_000, 2344));
    bf.insert("msg-1");
    assert_eq!(
        set_bits(&bf.words()),
        [111300, 113491, 115682, 117873, 120064, 122255, 124446, 126637, 128828, 131019]
    );
    let mut bf = BloomFilter::new(10_000, 0.001).expect("default sizing");
    bf.insert("");
    assert_eq!(
        set_bits(&bf.words()),
        [3097, 28725, 34190, 54353, 59818, 85446, 90911, 116539, 122004, 147632]
    );

    // Trailer of bloom.json filter 0 (default sizing): capacity 10000, 1000 millionths,
    // k 10, m_bits 150000, after an 18752-byte bit array.
    let enc = BloomFilter::new(10_000, 0.001).expect("sizing").serialize();
    assert_eq!(&enc[..4], &[0x0a, 0xc0, 0x92, 0x01]);
    assert_eq!(enc.len(), 4 + 18752 + 12);
    assert_eq!(
        &enc[enc.len() - 12..],
        &[0x10, 0x90, 0x4e, 0x18, 0xe8, 0x07, 0x20, 0x0a, 0x28, 0xf0, 0x93, 0x09]
    );

    // bloom.json filter 1: capacity 100, error 0.01, 60 ids, serialized by nim-sds;
    // nim-sds's lookups of the 2000 absent ids give exactly two false positives.
    let want = hex::decode(concat!(
        "0a800122940a4d92c39e80485aa6349471d0920844cc4a49700111420a2bac1122c144058341",
        "2cdc3944612218c38e4e0501ccb56c54505860105242c990023207624800505201633c250be0",
        "210526a605507281830945662526bcb2532130d8320c053a219001d803545674f46438040403",
        "0014e130b0c015890089a013412c000000106418904e200728e807"
    ))
    .expect("hex");
    let mut rbf = RollingBloomFilter::new(100, 0.01).expect("sizing");
    for i in 0..60 {
        rbf.add(&fixture_id(100, i));
    }
    assert_eq!(rbf.serialize(), want);
    let peer = PeerBloom::parse(&want).expect("parse");
    assert!((0..60).all(|i| peer.contains(&fixture_id(100, i))));
    let false_positives: Vec<usize> = (0..2000)
        .filter(|i| peer.contains(&format!("absent-100-{i}")))
        .collect();
    assert_eq!(false_positives, [887, 1841]);

    // bloom.json filter 3: the same sizing, 150 ids, so it rolled once (at the 121st id,
    // into a capacity-120 filter holding ids 41..=120) and then took ids 121..=149.
    let want = hex::decode(concat!(
        "0a98016cded99502c7d8e850c5c2c40b3098d74316c86abcb74fafd417e9c6f4c8c5ec429a6a",
        "7119cce100b14484cc46050642e4414190304173629ab15dff26c57e86df808430411c5d9c45",
        "5cd42e7f2cd223e7a4abafce166f5b4e1ed92c805e463b255b5706fa12574ef5f1c4bd05e35c",
        "b1175f1e9889c6223deee134037b42289c7e6055be493942d80c9c75938f147d0cba48dbcf86",
        "290000107818904e200728b009"
    ))
    .expect("hex");
    let mut rbf = RollingBloomFilter::new(100, 0.01).expect("sizing");
    for i in 0..150 {
        rbf.add(&fixture_id(100, i));
    }
    assert_eq!(rbf.len(), 109);
    assert_eq!(
        rbf.tracked().next(),
        Some(IdHashes::of(&fixture_id(100, 41)))
    );
    assert_eq!(rbf.serialize(), want);
    let owned = BloomFilter::deserialize(&want).expect("decode");
    assert_eq!(
        (owned.capacity(), owned.k(), owned.m_bits()),
        (120, 7, 1200)
    );
    // Of the rolled-out ids 0..=40, nim-sds still "finds" only id 12 (a false positive).
    let still_found: Vec<usize> = (0..41)
        .filter(|&i| owned.contains(&fixture_id(100, i)))
        .collect();
    assert_eq!(still_found, [12]);
    assert!((41..150).all(|i| owned.contains(&fixture_id(100, i))));
}

/// The ids bloom.json inserts: `id-{cap}-{i}`, every third one followed by `-` and
/// `i mod 70` x's (the fixture's pattern, checked against the file below).
fn fixture_id(cap: usize, i: usize) -> String {
    if i.is_multiple_of(3) {
        format!("id-{cap}-{i}-{}", "x".repeat(i % 70))
    } else {
        format!("id-{cap}-{i}")
    }
}

#[test]
fn fixture_id_generator_matches_fixture() {
    let Some(fixture) = nim_fixture("bloom.json") else {
        return;
    };
    for f in array_of(&fixture, "filters") {
        let cap = u64_of(f, "capacity") as usize;
        for (i, id) in array_of(f, "inserted_ids_in_order").iter().enumerate() {
            assert_eq!(id.as_str(), Some(fixture_id(cap, i).as_str()));
        }
    }
}
