//! The S3 server killed in the middle of an upload (mid-chunk, mid-multipart: a relay
//! counts the bytes and the test kills the server once enough have gone) and started
//! again on the same data: the upload resumes, what had arrived is not sent again (the
//! relay's count says so, not only the report), and the bucket ends up holding every
//! chunk and the manifest, byte for byte. Once through the library call, once through a
//! context's background uploader. And a context shut down in the middle of a chunk's
//! parts stops before its next part, and the next context sends the chunk.

#[path = "common/contexts.rs"]
mod contexts;
#[path = "common/messages.rs"]
mod messages;
#[path = "common/recordings.rs"]
mod recordings;
#[path = "common/relay.rs"]
mod relay;
#[path = "common/scratch.rs"]
mod scratch;
#[path = "common/seaweed.rs"]
mod seaweed;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use contexts::{ask, start_configured};
use messages::{noise, sds_message};
use recordings::record;
use relay::Relay;
use scratch::Scratch;
use seaweed::{no_env, Seaweed, ACCESS_KEY, SECRET_KEY};
use sha2::{Digest, Sha256};
use storage::protocol::SdsMessage;
use storage::recording::upload::{
    reconcile_recording, upload_recording, ChunkAction, ManifestAction, ObjectKeys,
    ReconcileAction, S3Bucket, UploadOptions,
};
use storage::recording::{Manifest, Store, MANIFEST_FILE};
use storage::runtime::{ManualClock, Request, RuntimeEvent, UploadStatus};

const NOW: u64 = 1_800_000_000_000_000_000;
const T0: u64 = 1_800_000_000_000;
const MIB: u64 = 1024 * 1024;
/// Six chunks of about 6 MiB: each goes up in two 5 MiB-or-less parts.
const CHUNKS: u64 = 6;
const PART_BYTES: u64 = 5 * MIB;
/// What requests other than chunk bodies may add to the relay's count: heads, the
/// multipart requests, the manifest (a few KiB).
const REQUEST_SLACK: u64 = 256 * 1024;
const WAIT: Duration = Duration::from_secs(60);

/// Recording "run": `CHUNKS` chunk files of incompressible payloads, about 6 MiB each.
fn recorded(root: &Path) -> Manifest {
    let messages: Vec<SdsMessage> = (0..CHUNKS * 24)
        .map(|i| {
            sds_message(
                "fleet",
                &format!("m{i}"),
                i as i64 + 1,
                &noise(i, 256 * 1024),
            )
        })
        .collect();
    record(root, "run", &messages, r#"{"chunk_max_bytes": 6291456}"#);
    let manifest = Manifest::read(&root.join("run")).expect("manifest");
    assert_eq!(manifest.chunks.len() as u64, CHUNKS, "{manifest:?}");
    manifest
}

fn total_bytes(manifest: &Manifest) -> u64 {
    manifest.chunks.iter().map(|c| c.size).sum()
}

fn keys() -> ObjectKeys {
    ObjectKeys::new(Some("fleet"), "robot-7").expect("keys")
}

fn options(endpoint: &str, bucket: &str) -> UploadOptions {
    UploadOptions {
        endpoint: Some(endpoint.to_owned()),
        bucket: Some(bucket.to_owned()),
        access_key_id: Some(ACCESS_KEY.to_owned()),
        secret_access_key: Some(SECRET_KEY.to_owned().into()),
        part_size_bytes: Some(PART_BYTES),
        concurrency: Some(1),
        ..UploadOptions::default()
    }
}

/// A context configuration uploading `root`'s recordings to `bucket` at `endpoint`, one
/// recording at a time, in parts of `PART_BYTES`; `extra`: more upload keys.
fn context_config(root: &Path, endpoint: &str, bucket: &str, extra: &str) -> String {
    format!(
        r#"{{"participant_id": "robot-7", "recording": {{"root": "{}"}},
            "upload": {{"endpoint": "{endpoint}", "bucket": "{bucket}", "prefix": "fleet",
              "access_key_id": "{ACCESS_KEY}", "secret_access_key": "{SECRET_KEY}",
              "part_size_bytes": {PART_BYTES}, "concurrency": 1{extra}}}}}"#,
        root.display()
    )
}

/// Waits until the relay has passed `bytes`.
fn wait_sent(relay: &Relay, bytes: u64) {
    let deadline = Instant::now() + WAIT;
    while relay.sent() < bytes {
        assert!(
            Instant::now() < deadline,
            "the upload stopped at {} bytes",
            relay.sent()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Kills `server` once the relay has passed `bytes`; gives the server back.
fn kill_after(relay: &Relay, mut server: Seaweed, bytes: u64) -> Seaweed {
    wait_sent(relay, bytes);
    server.stop();
    server
}

/// Waits until every chunk of "run" is reported uploaded, each once. A failed pass
/// retries at its next backoff: the clock is moved on.
fn wait_each_chunk_reported(events: &Receiver<RuntimeEvent>, clock: &ManualClock) {
    let mut reported = BTreeSet::new();
    let deadline = Instant::now() + WAIT;
    while reported.len() < CHUNKS as usize {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left).expect("all chunks reported") {
            RuntimeEvent::ChunkUploaded { index, .. } => {
                assert!(reported.insert(index), "chunk {index} reported twice");
            }
            RuntimeEvent::UploadProgress(_) => clock.advance(1000),
            _ => {}
        }
    }
}

/// The bucket holds every chunk and the manifest of `root`'s "run", byte for byte.
fn assert_converged(bucket: &S3Bucket, root: &Path) {
    let store = Store::new(root);
    let report = reconcile_recording(&store, "run", bucket, &keys(), NOW + 9).expect("reconcile");
    assert!(report.converged(), "{report:#?}");
    assert_eq!(report.manifest, ManifestAction::Unchanged, "{report:#?}");
    assert!(
        report
            .chunks
            .iter()
            .all(|c| c.action == ReconcileAction::None),
        "{report:#?}"
    );
}

#[test]
fn an_upload_cut_by_a_server_crash_resumes_and_sends_nothing_twice() {
    let Some(server) = Seaweed::start() else {
        return;
    };
    server.bucket("crash");
    let relay = Relay::start(server.s3_port());
    let root = Scratch::new("crash-lib");
    let manifest = recorded(&root);
    let total = total_bytes(&manifest);
    let store = Store::new(&*root);
    let bucket = S3Bucket::new(&options(&relay.endpoint, "crash"), &no_env).expect("client");

    // The server dies two and a half chunks in: inside a chunk, between its parts.
    let mut server = std::thread::scope(|s| {
        let killer = s.spawn(|| kill_after(&relay, server, total * 5 / 12));
        let first = upload_recording(&store, "run", &bucket, &keys(), NOW).expect("report");
        assert_eq!(first.manifest, ManifestAction::Withheld, "{first:#?}");
        assert!(
            first.chunks.iter().any(|c| c.action == ChunkAction::Failed),
            "{first:#?}"
        );
        (killer.join().expect("killer"), first)
    });
    let (server_back, first) = (&mut server.0, server.1);
    let arrived: BTreeMap<u64, u64> = first
        .chunks
        .iter()
        .filter(|c| c.action == ChunkAction::Uploaded)
        .map(|c| (c.index, c.bytes_sent))
        .collect();
    assert!(arrived.len() >= 2, "{first:#?}");

    server_back.restart();
    let before = relay.sent();
    let second = upload_recording(&store, "run", &bucket, &keys(), NOW + 1).expect("report");
    let resent = relay.sent() - before;
    assert_eq!(second.manifest, ManifestAction::Uploaded, "{second:#?}");
    let mut sent_now = 0;
    for row in &second.chunks {
        let entry = &manifest.chunks[row.index as usize];
        if arrived.contains_key(&row.index) {
            assert_eq!(row.action, ChunkAction::AlreadyUploaded, "{second:#?}");
            assert_eq!(row.bytes_sent, 0);
        } else {
            // The chunk in flight when the server died, and those after it: sent now,
            // or found complete by a HEAD if its last bytes had made it.
            assert!(
                matches!(
                    row.action,
                    ChunkAction::Uploaded | ChunkAction::AlreadyRemote
                ),
                "{second:#?}"
            );
            if row.action == ChunkAction::Uploaded {
                assert_eq!(row.bytes_sent, entry.size);
            }
        }
        sent_now += row.bytes_sent;
    }
    // On the wire too: only those chunks' bytes (and small requests) went again.
    assert!(resent >= sent_now, "{resent} < {sent_now}");
    assert!(
        resent <= sent_now + REQUEST_SLACK,
        "sent {resent} bytes to upload {sent_now} of chunk bytes"
    );
    assert_eq!(
        arrived.values().sum::<u64>() + sent_now,
        total - skipped_as_remote(&second, &manifest),
        "every chunk's bytes reported sent once"
    );
    assert_converged(&server_back.bucket("crash"), &root);

    // A third run has nothing to do and sends (almost) nothing.
    let before = relay.sent();
    let third = upload_recording(&store, "run", &bucket, &keys(), NOW + 2).expect("report");
    assert!(third
        .chunks
        .iter()
        .all(|c| c.action == ChunkAction::AlreadyUploaded));
    assert!(relay.sent() - before <= REQUEST_SLACK);
}

/// Bytes of chunks the second run found already remote (never counted as sent).
fn skipped_as_remote(
    report: &storage::recording::upload::UploadReport,
    manifest: &Manifest,
) -> u64 {
    report
        .chunks
        .iter()
        .filter(|c| c.action == ChunkAction::AlreadyRemote)
        .map(|c| manifest.chunks[c.index as usize].size)
        .sum()
}

fn status(ctx: &storage::runtime::Context) -> UploadStatus {
    ask(ctx, |reply| Request::UploadStatus {
        name: "run".into(),
        reply,
    })
    .expect("status")
}

#[test]
fn the_background_uploader_rides_out_a_server_crash() {
    let Some(server) = Seaweed::start() else {
        return;
    };
    server.bucket("crash-bg");
    let relay = Relay::start(server.s3_port());
    let root = Scratch::new("crash-bg");
    let manifest = recorded(&root);
    let total = total_bytes(&manifest);
    let clock = ManualClock::new(T0);
    let retry = r#", "retry_initial_ms": 1000, "retry_max_ms": 1000"#;
    let config = context_config(&root, &relay.endpoint, "crash-bg", retry);
    // Start-up finds the unsent recording and starts on it; the server dies mid-way.
    let (ctx, events) = start_configured(&config, &clock).expect("context starts");
    let mut server = kill_after(&relay, server, total / 2);

    // The pass fails and the queue waits out its backoff, by the context's clock.
    let deadline = Instant::now() + WAIT;
    let waiting = loop {
        let state = status(&ctx);
        if let Some(at) = state.queue.retry_at_ms.filter(|_| !state.queue.uploading) {
            break at;
        }
        assert!(Instant::now() < deadline, "no retry planned: {state:#?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    server.restart();
    clock.advance(waiting - T0);

    wait_each_chunk_reported(&events, &clock);
    let direct = server.bucket("crash-bg");
    let local = std::fs::read(root.join("run").join(MANIFEST_FILE)).expect("manifest");
    let deadline = Instant::now() + WAIT;
    loop {
        let remote = direct.head(&keys().manifest("run")).expect("head");
        if remote.and_then(|r| r.sha256) == Some(hex::encode(Sha256::digest(&local))) {
            break;
        }
        assert!(Instant::now() < deadline, "the manifest never went up");
        clock.advance(1000);
        std::thread::sleep(Duration::from_millis(20));
    }
    ctx.shutdown().expect("shutdown");
    // At most the chunk in flight went twice: whatever had arrived did not.
    let largest = manifest.chunks.iter().map(|c| c.size).max().unwrap_or(0);
    assert!(
        relay.sent() <= total + largest + REQUEST_SLACK,
        "sent {} bytes for {total} bytes of chunks",
        relay.sent()
    );
    assert_converged(&direct, &root);
}

#[test]
fn shutting_down_mid_chunk_stops_before_the_next_part() {
    let Some(server) = Seaweed::start() else {
        return;
    };
    server.bucket("shutdown");
    // A slow link: 5 MiB/s, so a 6 MiB chunk's two parts take over a second.
    let relay = Relay::throttled(server.s3_port(), 5 * MIB);
    let root = Scratch::new("shutdown-mid-chunk");
    let manifest = recorded(&root);
    let first = &manifest.chunks[0];
    let config = context_config(&root, &relay.endpoint, "shutdown", "");
    let clock = ManualClock::new(T0);
    let (ctx, _events) = start_configured(&config, &clock).expect("context starts");
    // Into the first chunk's first part.
    wait_sent(&relay, MIB);
    ctx.shutdown().expect("shutdown");
    // The part in flight finished; the second part and every later chunk did not go.
    assert!(
        relay.sent() < first.size,
        "{} bytes went before the shutdown ended",
        relay.sent()
    );
    let direct = server.bucket("shutdown");
    let key = keys().chunk("run", first).expect("key");
    assert_eq!(direct.head(&key).expect("head"), None);
    let after = Manifest::read(&root.join("run")).expect("manifest");
    assert!(after.chunks.iter().all(|c| c.uploaded_at_ns.is_none()));

    // The next context (here, on a fast link) sends everything.
    let relay = Relay::start(server.s3_port());
    let config = context_config(&root, &relay.endpoint, "shutdown", "");
    let (ctx, events) = start_configured(&config, &clock).expect("context starts");
    wait_each_chunk_reported(&events, &clock);
    ctx.shutdown().expect("shutdown");
    assert!(direct.head(&key).expect("head").is_some());
}
