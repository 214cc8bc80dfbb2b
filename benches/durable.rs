//! Durable operation cost: wrap→unwrap pairs between two managers that each save to
//! their own SQLite database (synchronous FULL and NORMAL, one commit per op, and group
//! commit of 64 pairs), against the in-memory store; and, printed before the timings, a
//! table of pairs per second and bytes written per operation at `full` with 10, 100,
//! 1 000 and 10 000 messages outstanding (one by one and with group commit), beside the
//! disk's floor (a loop of small writes + `fdatasync`).
//!
//! The table's figures are wall-clock over a short run on whatever else the machine is
//! doing: compare rows of one run, not runs on different days.

#[path = "../tests/common/managers.rs"]
mod managers;
#[path = "../tests/common/scratch.rs"]
mod scratch;

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

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
        .measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
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
         complete meta {} B ({} B per outstanding message, no bloom; SQLite writes only \
         the rows an op changes), WAL appended {} B per op",
        wire.len(),
        meta.len(),
        meta.len() / a.manager().channel_meta(CH).unwrap().outgoing.len(),
        wal / OPS
    );
}

/// Bytes this process has handed to `write` so far (`wchar` of `/proc/self/io`), or
/// `None` where that file does not exist.
fn bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("wchar: "))
        .and_then(|n| n.trim().parse().ok())
}

/// Small writes + `fdatasync` per second on the scratch folder's disk: what one durable
/// commit cannot beat.
fn fsync_floor(dir: &Path) -> f64 {
    let mut file = std::fs::File::create(dir.join("floor")).expect("floor file");
    const SYNCS: u32 = 200;
    let start = Instant::now();
    for i in 0..SYNCS {
        file.write_all(&[i as u8; 128]).expect("write");
        file.sync_data().expect("fdatasync");
    }
    f64::from(SYNCS) / start.elapsed().as_secs_f64()
}

/// How long each table cell runs (at least a few pairs, whatever their cost).
const CELL_TIME: Duration = Duration::from_millis(1500);
const CELL_MIN_PAIRS: u64 = 4;

/// One table cell: pairs per second and bytes written per operation (a pair is two
/// operations on each side: one wrap and one unwrap), one by one or in groups.
fn cell(
    a: &mut PersistentManager,
    b: &mut PersistentManager,
    i: &mut u64,
    grouped: bool,
) -> (f64, u64) {
    let content = [42u8; 64];
    let written = bytes_written();
    let start = Instant::now();
    let mut pairs = 0;
    while pairs < CELL_MIN_PAIRS || start.elapsed() < CELL_TIME {
        let n = if grouped { GROUP } else { 1 };
        if grouped {
            a.begin_group();
            b.begin_group();
        }
        for _ in 0..n {
            *i += 1;
            step(a, b, *i, &content);
        }
        if grouped {
            a.commit_group();
            b.commit_group();
        }
        pairs += n;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let per_op = match (written, bytes_written()) {
        (Some(before), Some(after)) => (after - before) / (4 * pairs),
        _ => 0,
    };
    (pairs as f64 / elapsed, per_op)
}

/// Pairs/s and bytes written per op at `full`, by messages outstanding (alice's
/// unacknowledged messages bob never saw), one by one and with group commit.
fn report_outstanding(_: &mut Criterion) {
    let dir = Scratch::new("bench-outstanding");
    let floor = fsync_floor(&dir);
    eprintln!(
        "fsync floor: {floor:.0} small writes + fdatasync per second ({:.3} ms each)",
        1000.0 / floor
    );
    eprintln!("outstanding | full pairs/s | bytes/op | group {GROUP} pairs/s | bytes/op");
    for outstanding in [10u64, 100, 1_000, 10_000] {
        let open = |name: &str| {
            let config = managers::manager_with(name, |c| c.max_outgoing_buffer = 20_000);
            let path = dir.join(format!("{name}-{outstanding}.db"));
            let store = SqliteStore::open(path, Synchronous::Full).expect("database opens");
            PersistentManager::new(config, Box::new(store))
        };
        let (mut a, mut b) = (open("alice"), open("bob"));
        a.begin_group();
        for k in 0..outstanding {
            a.wrap(T0, CH, &format!("lost-{k}"), &[1u8; 64])
                .expect("wrap");
        }
        // Bob has never seen them, and alice's later messages do not name them: her
        // causal history is her newest history, which bob's messages now fill.
        let filler = managers::config("bob").max_causal_history as u64 + 1;
        for k in 0..filler {
            let bytes = b.wrap(T0, CH, &format!("filler-{k}"), b"x").expect("wrap");
            a.unwrap(T0, &bytes).expect("unwrap");
        }
        a.commit_group();
        a.take_events();
        // Copy the setup's log into the database now, so that the cells measure the
        // steady cost of an operation, not this one-off checkpoint of megabytes.
        for name in ["alice", "bob"] {
            let side = rusqlite::Connection::open(dir.join(format!("{name}-{outstanding}.db")))
                .expect("side connection");
            side.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .expect("checkpoint");
        }
        let mut i = 0;
        for _ in 0..10 {
            i += 1;
            step(&mut a, &mut b, i, b"warm-up");
        }
        let (one, one_bytes) = cell(&mut a, &mut b, &mut i, false);
        let (grouped, grouped_bytes) = cell(&mut a, &mut b, &mut i, true);
        let held = a.manager().channel_stats(CH).expect("channel").outgoing_len;
        eprintln!(
            "{held:>11} | {one:>12.0} | {one_bytes:>8} | {grouped:>17.0} | {grouped_bytes:>8}"
        );
    }
}

/// CPU per received message, in memory (no persistence), by alice's messages
/// outstanding: the acknowledgement review checks every outgoing message against the
/// peer's bloom filter, so this part of a receive grows with what is outstanding.
fn report_receive_cost(_: &mut Criterion) {
    eprintln!("outstanding | in-memory unwrap µs (ack review walks the outgoing buffer)");
    for outstanding in [10u64, 100, 1_000, 10_000] {
        let mut alice = managers::manager_with("alice", |c| c.max_outgoing_buffer = 20_000);
        let mut bob = managers::manager("bob");
        for k in 0..outstanding {
            alice
                .wrap(T0, CH, &format!("lost-{k}"), &[1u8; 64])
                .expect("wrap");
        }
        const RECEIVES: u64 = 500;
        let sent: Vec<Vec<u8>> = (0..RECEIVES)
            .map(|k| bob.wrap(T0, CH, &format!("b-{k}"), b"x").expect("wrap"))
            .collect();
        let start = Instant::now();
        for bytes in &sent {
            black_box(alice.unwrap(T0, bytes).expect("unwrap"));
        }
        let micros = start.elapsed().as_secs_f64() * 1e6 / RECEIVES as f64;
        alice.take_events();
        eprintln!("{outstanding:>11} | {micros:>8.1}");
    }
}

criterion_group!(
    benches,
    report_outstanding,
    report_receive_cost,
    report_bytes_per_op,
    bench_pairs
);
criterion_main!(benches);
