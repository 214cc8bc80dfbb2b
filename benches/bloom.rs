//! Hot paths of the nim-sds-compatible bloom filter: hashing an id, insert and lookup in a
//! default filter, encoding it, and checking ids against a peer's encoded filter.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use storage::protocol::{fingerprint64, BloomFilter, IdHashes, PeerBloom};

/// A 36-byte id (UUID-shaped), the typical message id length.
const ID: &str = "3f2b8c1e-9a4d-4e7b-b1c2-5d6e7f8a9b0c";

fn default_filter(n: usize) -> BloomFilter {
    let mut bf = BloomFilter::new(10_000, 0.001).expect("default sizing");
    for i in 0..n {
        bf.insert(&format!("msg-{i:08}-{ID}"));
    }
    bf
}

fn benches(c: &mut Criterion) {
    assert_eq!(ID.len(), 36);
    c.bench_function("fingerprint64/36B", |b| {
        b.iter(|| fingerprint64(black_box(ID.as_bytes())))
    });
    c.bench_function("IdHashes::of/36B", |b| {
        b.iter(|| IdHashes::of(black_box(ID)))
    });

    let mut bf = default_filter(5000);
    c.bench_function("insert/default", |b| b.iter(|| bf.insert(black_box(ID))));
    let h = IdHashes::of(ID);
    c.bench_function("insert_hashed/default", |b| {
        b.iter(|| bf.insert_hashed(black_box(&h)))
    });

    let bf = default_filter(5000);
    let present = format!("msg-{:08}-{ID}", 42);
    c.bench_function("contains/default/present", |b| {
        b.iter(|| bf.contains(black_box(&present)))
    });
    c.bench_function("contains/default/absent", |b| {
        b.iter(|| bf.contains(black_box(ID)))
    });
    c.bench_function("contains_hashed/default", |b| {
        b.iter(|| bf.contains_hashed(black_box(&h)))
    });

    c.bench_function("serialize/default", |b| {
        b.iter(|| black_box(&bf).serialize())
    });
    let mut buf = Vec::with_capacity(bf.encoded_len());
    c.bench_function("encode_into/default/reused_buf", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&bf).encode_into(&mut buf);
        })
    });

    let enc = bf.serialize();
    let probes: Vec<String> = (0..10)
        .map(|i| format!("msg-{:08}-{ID}", i * 997))
        .collect();
    c.bench_function("PeerBloom::parse/default", |b| {
        b.iter(|| PeerBloom::parse(black_box(&enc)).map(|p| p.k()))
    });
    c.bench_function("PeerBloom::parse+10_lookups/default", |b| {
        b.iter(|| {
            let peer = PeerBloom::parse(black_box(&enc)).expect("valid");
            probes.iter().filter(|id| peer.contains(id)).count()
        })
    });
    c.bench_function("BloomFilter::deserialize/default", |b| {
        b.iter(|| BloomFilter::deserialize(black_box(&enc)).map(|f| f.k()))
    });
}

criterion_group!(bloom, benches);
criterion_main!(bloom);
