//! Recording and replay speed, without the protocol: 1 KiB messages with 10
//! causal-history entries (as a delivered message has), of telemetry-like content (zstd
//! shrinks it to about a third) or random content (incompressible), copied from their
//! stored encoding as the worker does and pushed through the recorder's queue into zstd
//! MCAP chunk files (compressed on one thread per core), then read back by the replay
//! reader (CRC checks and decoding included).

#[path = "../tests/common/messages.rs"]
mod messages;
#[path = "../tests/common/scratch.rs"]
mod scratch;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use messages::{noise, sds_message};
use scratch::Scratch;
use storage::protocol::{encode_stored_message, HistoryEntry, SdsMessage};
use storage::recording::{
    Frame, Now, Recorder, RecordingOptions, ReplayOptions, ReplayReader, Store,
};

/// Messages per recording; `cargo test` runs each bench once as a smoke test, unoptimised,
/// where a hundredth of the run proves the same code paths.
fn message_count() -> u64 {
    if std::env::args().any(|arg| arg == "--bench") {
        100_000
    } else {
        1_000
    }
}
const CONTENT: usize = 1024;

/// Telemetry-like content: a slowly changing record of 32-bit readings, which zstd
/// shrinks the way it shrinks real sensor data (to about a third).
fn telemetry(seed: u64, len: usize) -> Vec<u8> {
    let noise = noise(seed, len / 4);
    (0..len / 4)
        .flat_map(|k| (((k as u32) << 8) | u32::from(noise[k] & 0x0f)).to_le_bytes())
        .collect()
}

/// Makes `len` bytes of content from a seed.
type Content = fn(u64, usize) -> Vec<u8>;

fn message(i: u64, content: Content) -> SdsMessage {
    let id = format!("msg-{i:08}");
    SdsMessage {
        causal_history: (0..10)
            .map(|k| HistoryEntry::new(format!("msg-{k:08}")))
            .collect(),
        sender_id: "robot-7".into(),
        ..sds_message("robot/telemetry", &id, i as i64, &content(i, CONTENT))
    }
}

/// The stored encodings (what history keeps) of messages with `content`.
fn stored_pool(content: Content) -> Vec<Vec<u8>> {
    (0..1024)
        .map(|i| encode_stored_message(&message(i, content)))
        .collect()
}

/// Records `count` messages (cycling through `pool`), `step_ns` apart in log time, and
/// stops; the time includes sealing the last chunk file and writing the manifest.
fn record(store: &Store, name: &str, pool: &[Vec<u8>], count: u64, step_ns: u64) -> Duration {
    let clock = Arc::new(AtomicU64::new(1_700_000_000_000_000_000));
    let read = clock.clone();
    let now: Now = Arc::new(move || read.load(Ordering::Relaxed));
    let recorder =
        Recorder::start(store, name, "bench", RecordingOptions::default(), now).expect("start");
    let started = Instant::now();
    for i in 0..count {
        let t = clock.fetch_add(step_ns, Ordering::Relaxed);
        // What the worker does per delivered message: copy its stored encoding from the
        // history.
        let stored = &pool[(i % pool.len() as u64) as usize];
        recorder.record(Frame::from_stored("robot/telemetry", stored, t, t));
    }
    let (tx, rx) = mpsc::channel();
    let thread = recorder.stop(Box::new(move |r| {
        let _ = tx.send(r);
    }));
    rx.recv().expect("stopped").expect("recorded");
    let elapsed = started.elapsed();
    if let Some(thread) = thread {
        thread.join().expect("recorder thread");
    }
    elapsed
}

fn recording(c: &mut Criterion) {
    let dir = Scratch::new("bench-rec-write");
    let store = Store::new(&dir);
    let mut group = c.benchmark_group("recording");
    group.sample_size(10);
    let count = message_count();
    group.throughput(Throughput::Elements(count));
    let run = AtomicU64::new(0);
    // 1 µs apart, a run spans 0.1 s of log time; 100 µs apart, 10 s: with the default
    // 1 s flush interval that is 10 flushes in a run of about 0.3 s, some 30 times as
    // many flushes per message as recording at this speed in real time makes.
    let variants: [(&str, Content, u64); 3] = [
        ("record_1KiB_telemetry_zstd_mcap", telemetry, 1_000),
        ("record_1KiB_random_zstd_mcap", noise, 1_000),
        (
            "record_1KiB_telemetry_zstd_mcap_100us_apart",
            telemetry,
            100_000,
        ),
    ];
    for (bench, content, step_ns) in variants {
        let pool = stored_pool(content);
        group.bench_function(bench, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let name = format!("r{}", run.fetch_add(1, Ordering::Relaxed));
                        let elapsed = record(&store, &name, &pool, count, step_ns);
                        // Scratch clean-up, not an erasure worth an audit record.
                        let _ = std::fs::remove_dir_all(store.root().join(&name));
                        elapsed
                    })
                    .sum()
            })
        });
    }

    record(
        &store,
        "replay-source",
        &stored_pool(telemetry),
        count,
        1_000,
    );
    let folder = dir.join("replay-source");
    group.bench_function("replay_read_1KiB", |b| {
        b.iter(|| {
            let reader =
                ReplayReader::open(&folder, ReplayOptions::default()).expect("open recording");
            let mut n = 0u64;
            for m in reader {
                black_box(m.expect("message"));
                n += 1;
            }
            assert_eq!(n, count);
        })
    });
    group.finish();
}

criterion_group!(benches, recording);
criterion_main!(benches);
