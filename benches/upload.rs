//! Upload throughput: a recording of `STORAGE_UPLOAD_BENCH_BYTES` (default 1 GiB) sent by
//! `upload_recording` (verify each chunk, HEAD, PUT in parts, mark the manifest, put the
//! manifest), against the same client's plain PUT loop of the same chunk files to the
//! same server: SeaweedFS on loopback (`make s3-server`; `STORAGE_WEED` names it, as
//! `make bench` does). A plain program, not criterion: one upload of a gigabyte is a
//! measurement, and `STORAGE_UPLOAD_BENCH_ROUNDS` repeats it (default 3). Run by
//! `cargo test`, it uploads 8 MiB once, to check that it still works.

#[path = "../tests/common/messages.rs"]
#[allow(dead_code)]
mod messages;
#[path = "../tests/common/scratch.rs"]
mod scratch;
#[path = "../tests/common/seaweed.rs"]
mod seaweed;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use messages::{noise, sds_message};
use scratch::Scratch;
use seaweed::Seaweed;
use storage::recording::upload::{upload_recording, ChunkAction, ObjectKeys, S3Bucket};
use storage::recording::{Frame, Manifest, Recorder, RecordingOptions, Store, CHUNKS_DIR};

const MIB: u64 = 1024 * 1024;
/// One message's payload: incompressible, so chunk files are as large as the data.
const MESSAGE_BYTES: u64 = MIB;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Records `bytes` of payload into recording "run" under `root`, in 64 MiB chunk files.
fn record(root: &Path, bytes: u64) -> Manifest {
    let options = RecordingOptions::default()
        .with_json(r#"{"chunk_max_bytes": 67108864, "when_full": "block"}"#)
        .expect("options");
    let now = Arc::new(|| 1_800_000_000_000_000_000u64);
    let store = Store::new(root);
    let recorder = Recorder::start(&store, "run", "bench", options, now).expect("recorder");
    for i in 0..bytes.div_ceil(MESSAGE_BYTES) {
        let at = 1_800_000_000_000_000_000 + i * 1_000_000;
        let message = sds_message(
            "bench",
            &format!("m{i}"),
            i as i64 + 1,
            &noise(i, MESSAGE_BYTES as usize),
        );
        recorder.record(Frame::new(&message, at, at));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(thread) = recorder.stop(Box::new(move |r| {
        let _ = tx.send(r);
    })) {
        thread.join().expect("recorder thread");
    }
    rx.recv().expect("stopped").expect("sealed");
    Manifest::read(&root.join("run")).expect("manifest")
}

fn mb_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

fn main() {
    let Some(server) = Seaweed::start() else {
        eprintln!(
            "upload bench skipped: `make s3-server` builds the S3 server, `make bench` names it"
        );
        return;
    };
    // `cargo test --all-targets` runs this program too, without `--bench`: then one
    // small round checks that it works.
    let measuring = std::env::args().any(|a| a == "--bench");
    let (bytes, rounds) = if measuring {
        let bytes = env_u64("STORAGE_UPLOAD_BENCH_BYTES", 1024 * MIB);
        (bytes, env_u64("STORAGE_UPLOAD_BENCH_ROUNDS", 3))
    } else {
        (8 * MIB, 1)
    };
    let root = Scratch::new("bench-upload");
    let manifest = record(&root, bytes);
    let total: u64 = manifest.chunks.iter().map(|c| c.size).sum();
    let chunks = root.join("run").join(CHUNKS_DIR);
    let bucket: S3Bucket = server.bucket("bench");
    let store = Store::new(&*root);
    println!(
        "upload of {} chunk files, {:.1} MiB, to SeaweedFS on loopback",
        manifest.chunks.len(),
        total as f64 / MIB as f64
    );
    for round in 0..rounds {
        let plain = || {
            let started = Instant::now();
            for entry in &manifest.chunks {
                let key = format!("plain/{round}/{}", entry.file);
                bucket
                    .put_file(&key, &chunks.join(&entry.file), &entry.sha256)
                    .expect("plain put");
            }
            started.elapsed()
        };
        // Each round uploads under keys of its own, from a manifest without marks.
        let uploader = || {
            manifest.write(&root.join("run")).expect("marks cleared");
            let keys = ObjectKeys::new(Some(&format!("round-{round}")), "bench").expect("keys");
            let started = Instant::now();
            let report = upload_recording(&store, "run", &bucket, &keys, 1).expect("upload");
            let took = started.elapsed();
            assert!(report.complete(), "{report:#?}");
            assert!(report
                .chunks
                .iter()
                .all(|c| c.action == ChunkAction::Uploaded));
            took
        };
        // Turn about, so that neither always runs on a warmer server.
        let (plain, uploader) = if round % 2 == 0 {
            (plain(), uploader())
        } else {
            let uploader = uploader();
            (plain(), uploader)
        };
        let (plain_rate, uploader_rate) = (mb_per_s(total, plain), mb_per_s(total, uploader));
        println!(
            "round {round}: plain PUT loop {plain_rate:.1} MB/s, upload_recording {uploader_rate:.1} MB/s, overhead {:+.1}%",
            (plain_rate / uploader_rate - 1.0) * 100.0
        );
    }
}
