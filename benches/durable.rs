//! Durable operation cost: wrap→unwrap pairs between two managers that each save to
//! their own SQLite database (synchronous FULL and NORMAL, one commit per op, and group
//! commit of 64 pairs), against the in-memory store; and the bytes one op writes with
//! 100 unacknowledged messages outstanding (printed before the timings).

#[path = "../tests/common/managers.rs"]
mod managers;
#[path = "../tests/common/scratch.rs"]
mod scratch;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use managers::T0;
use scratch::Scratch;
use storage::persistence::{MemoryStore, Persistence, PersistentManager, SqliteStore, Synchronous};

const CH: &str = "bench";
const GROUP: u64 = 64;

fn manager(participant: &str, backend: Box<dyn Persistence>) -> PersistentManager {
    PersistentManager::new(managers::manager(participant), backend)
}

fn sqlite(dir: &Path, name: &str, synchronous: Synchronous) -> Box<dyn Persistence> {
    Box::new(SqliteStore::open(dir.join(name), synchronous).expect("database opens"))
}

/// One ping-pong step: `i` even, alice → bob; odd, bob → alice (acks keep buffers small).
fn step(a: &mut PersistentManager, b: &mut PersistentManager, i: u64, content: &[u8]) {
    let (from, to) = if i.is_multiple_of(2) { (a, b) } else { (b, a) };
    let bytes = from
        .wrap(T0 + i, CH, &format!("m{i}"), content)
        .expect("wrap");
    black_box(to.unwrap(T0 + i, &bytes).expect("unwrap"));
    from.take_events();
    to.take_events();
}

fn pair(
    a: Box<dyn Persistence>,
    b: Box<dyn Persistence>,
) -> (PersistentManager, PersistentManager) {
    let (mut a, mut b) = (manager("alice", a), manager("bob", b));
    for i in 0..100 {
        step(&mut a, &mut b, i, b"warm-up");
    }
    (a, b)
}

fn bench_pairs(c: &mut Criterion) {
    let content = [42u8; 64];
    let mut group = c.benchmark_group("durable_pair");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    let backends: [(&str, Option<Synchronous>); 3] = [
        ("memory", None),
        ("sqlite_full", Some(Synchronous::Full)),
        ("sqlite_normal", Some(Synchronous::Normal)),
    ];
    for (name, synchronous) in backends {
        let dir = Scratch::new(&format!("bench-{name}"));
        let (mut a, mut b) = match synchronous {
            Some(s) => pair(sqlite(&dir, "a.db", s), sqlite(&dir, "b.db", s)),
            None => pair(Box::new(MemoryStore::new()), Box::new(MemoryStore::new())),
        };
        let mut i = 1_000;
        group.bench_function(name, |bench| {
            bench.iter(|| {
                i += 1;
                step(&mut a, &mut b, i, &content);
            });
        });
        if synchronous.is_some() {
            group.throughput(Throughput::Elements(GROUP));
            group.bench_function(format!("{name}_group_commit_{GROUP}"), |bench| {
                bench.iter(|| {
                    a.begin_group();
                    b.begin_group();
                    for _ in 0..GROUP {
                        i += 1;
                        step(&mut a, &mut b, i, &content);
                    }
                    a.commit_group();
                    b.commit_group();
                });
            });
            group.throughput(Throughput::Elements(1));
        }
    }
    group.finish();
}

/// Bytes one wrap writes with ~100 unacknowledged messages outstanding: the snapshot
/// bytes handed to the store, and what SQLite appends to its write-ahead log.
fn report_bytes_per_op(_: &mut Criterion) {
    let dir = Scratch::new("bench-bytes");
    let path = dir.join("state.db");
    let mut a = manager(
        "alice",
        Box::new(SqliteStore::open(&path, Synchronous::Full).unwrap()),
    );
    let content = [7u8; 100];
    for i in 0..100 {
        a.wrap(T0, CH, &format!("o{i}"), &content).expect("wrap");
    }
    let wire = a.wrap(T0, CH, "probe", &content).expect("wrap");
    let checkpoint = rusqlite::Connection::open(&path).unwrap();
    let truncate = || {
        checkpoint
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    };
    truncate();
    const OPS: usize = 10;
    for i in 0..OPS {
        a.wrap(T0, CH, &format!("p{i}"), &content).expect("wrap");
    }
    let wal = std::fs::metadata(dir.join("state.db-wal")).map_or(0, |m| m.len()) as usize;
    let meta =
        storage::persistence::encode_channel_meta(&a.manager().channel_meta(CH).expect("channel"));
    eprintln!(
        "bytes per op with ~100 outstanding: wire message {} B (bloom included), \
         meta snapshot {} B ({} B per outstanding message, no bloom), \
         WAL appended {} B per op",
        wire.len(),
        meta.len(),
        meta.len() / a.manager().channel_meta(CH).unwrap().outgoing.len(),
        wal / OPS
    );
}

criterion_group!(benches, report_bytes_per_op, bench_pairs);
criterion_main!(benches);
