//! The background uploader of a context with an `upload` section, against a real S3
//! server (SeaweedFS on loopback): chunks go up as they are sealed while recording goes
//! on (marks through the recorder, which owns the manifest), the manifest once its
//! chunks are up; what earlier runs left unsent is found at start-up and nothing that
//! arrived is sent again; a missing bucket or refused credentials pause the queue, which
//! resumes when fixed; a corrupt chunk, or one that keeps failing, is dead-lettered
//! (persisted); and upload-now, status, reconcile and restore through requests.

#[path = "common/contexts.rs"]
mod contexts;
#[path = "common/messages.rs"]
mod messages;
#[path = "common/recordings.rs"]
mod recordings;
#[path = "common/scratch.rs"]
mod scratch;
#[path = "common/seaweed.rs"]
mod seaweed;

use std::fs;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use contexts::{ask, start_configured};
use messages::{noise, sds_message};
use recordings::{exclusive, record};
use scratch::Scratch;
use seaweed::{Seaweed, ACCESS_KEY, SECRET_KEY};
use sha2::{Digest, Sha256};
use storage::protocol::SdsMessage;
use storage::recording::upload::{
    ChunkAction, ManifestAction, ObjectKeys, ReconcileAction, S3Bucket,
};
use storage::recording::{verify_folder, Manifest, CHUNKS_DIR, MANIFEST_FILE};
use storage::runtime::{Context, ManualClock, Request, RequestError, RuntimeEvent, UploadStatus};

const T0: u64 = 1_800_000_000_000;

/// How long a test waits for the uploader: network round trips on a loaded machine.
const UPLOAD_WAIT: Duration = Duration::from_secs(30);

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The `upload` section for `bucket` of `server`, with `extra` keys.
fn upload_section(endpoint: &str, bucket: &str, secret: &str, extra: &str) -> String {
    format!(
        r#""upload": {{"endpoint": "{endpoint}", "bucket": "{bucket}", "prefix": "fleet",
            "access_key_id": "{ACCESS_KEY}", "secret_access_key": "{secret}"{extra}}}"#
    )
}

/// A context of participant `robot-7` recording under `root` and uploading per `upload`.
fn start(root: &Path, upload: &str, clock: &ManualClock) -> (Context, Receiver<RuntimeEvent>) {
    let config = format!(
        r#"{{"participant_id": "robot-7", "recording": {{"root": "{}"}}, {upload}}}"#,
        root.display()
    );
    start_configured(&config, clock).expect("context starts")
}

fn keys() -> ObjectKeys {
    ObjectKeys::new(Some("fleet"), "robot-7").expect("keys")
}

/// Waits for the first event `pick` accepts, keeping every event seen in `seen`.
fn wait_for<T>(
    events: &Receiver<RuntimeEvent>,
    seen: &mut Vec<RuntimeEvent>,
    mut pick: impl FnMut(&RuntimeEvent) -> Option<T>,
) -> T {
    let deadline = Instant::now() + UPLOAD_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no such event; seen: {seen:#?}"));
        let picked = pick(&event);
        seen.push(event);
        if let Some(found) = picked {
            return found;
        }
    }
}

/// Waits until chunks `indexes` of `recording` are reported uploaded; returns the bytes
/// sent for each, in the order given.
fn wait_uploaded(
    events: &Receiver<RuntimeEvent>,
    seen: &mut Vec<RuntimeEvent>,
    recording: &str,
    indexes: &[u64],
) -> Vec<u64> {
    let mut sent = vec![None; indexes.len()];
    // Those reported while the test waited for something else count too.
    for event in seen.iter() {
        if let RuntimeEvent::ChunkUploaded {
            recording: r,
            index,
            bytes_sent,
            ..
        } = event
        {
            if let Some(at) = indexes
                .iter()
                .position(|i| i == index)
                .filter(|_| r == recording)
            {
                sent[at] = Some(*bytes_sent);
            }
        }
    }
    while sent.iter().any(Option::is_none) {
        let (index, bytes) = wait_for(events, seen, |e| match e {
            RuntimeEvent::ChunkUploaded {
                recording: r,
                index,
                bytes_sent,
                ..
            } if r == recording => Some((*index, *bytes_sent)),
            _ => None,
        });
        if let Some(at) = indexes.iter().position(|&i| i == index) {
            assert!(
                sent[at].is_none(),
                "chunk {index} reported twice: {seen:#?}"
            );
            sent[at] = Some(bytes);
        }
    }
    sent.into_iter().flatten().collect()
}

/// Polls until the bucket holds `recording`'s manifest with exactly the local bytes.
fn wait_manifest_up(bucket: &S3Bucket, root: &Path, recording: &str) {
    let key = keys().manifest(recording);
    let deadline = Instant::now() + UPLOAD_WAIT;
    loop {
        let local = fs::read(root.join(recording).join(MANIFEST_FILE)).expect("manifest");
        let remote = bucket.head(&key).expect("head");
        if remote.and_then(|r| r.sha256) == Some(sha_hex(&local)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "manifest of `{recording}` never went up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every chunk of `recording` is in the bucket with the local file's bytes.
fn assert_bucket_holds(bucket: &S3Bucket, root: &Path, recording: &str) -> Manifest {
    let folder = root.join(recording);
    let manifest = Manifest::read(&folder).expect("manifest");
    let scratch = Scratch::new("download");
    for entry in &manifest.chunks {
        let key = keys().chunk(recording, entry).expect("key");
        let path = scratch.file("chunk");
        bucket.download(&key, &path, entry.size).expect("download");
        let local = fs::read(folder.join(CHUNKS_DIR).join(&entry.file)).expect("local");
        assert_eq!(
            fs::read(&path).expect("downloaded"),
            local,
            "chunk {}",
            entry.index
        );
        assert!(
            entry.uploaded_at_ns.is_some() && entry.etag.is_some(),
            "{entry:?}"
        );
    }
    manifest
}

fn wrap(ctx: &Context, id: &str, content: Vec<u8>) {
    ask(ctx, |reply| Request::Wrap {
        channel_id: "fleet".into(),
        message_id: id.into(),
        content,
        reply,
    })
    .expect("wrap");
}

fn status(ctx: &Context, name: &str) -> Result<UploadStatus, RequestError> {
    ask(ctx, |reply| Request::UploadStatus {
        name: name.into(),
        reply,
    })
}

fn messages(count: u64) -> Vec<SdsMessage> {
    (0..count)
        .map(|i| sds_message("fleet", &format!("m{i}"), i as i64 + 1, &noise(i, 512)))
        .collect()
}

/// Recording `name` of 3 chunk files under `root`, made without a context.
fn recorded(root: &Path, name: &str) {
    let _guard = exclusive();
    record(root, name, &messages(30), r#"{"chunk_max_age_ms": 10}"#);
}

fn shutdown(ctx: Context) {
    ctx.shutdown().expect("shutdown");
}

#[test]
fn chunks_go_up_as_they_are_sealed_and_the_manifest_once_recording_ends() {
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("bg-live");
    let root = Scratch::new("bg-live");
    let clock = ManualClock::new(T0);
    let upload = upload_section(&server.endpoint, "bg-live", SECRET_KEY, "");
    let (ctx, events) = start(&root, &upload, &clock);
    ask(&ctx, |reply| Request::RecordingStart {
        name: "live".into(),
        options_json: r#"{"record_sent": true, "chunk_max_age_ms": 10}"#.into(),
        reply,
    })
    .expect("recording starts");
    for i in 0..6 {
        wrap(&ctx, &format!("m{i}"), noise(i, 2048));
        clock.advance(20);
    }
    let mut seen = Vec::new();
    // Each message after the first sealed the chunk before it: five went up while the
    // recording is still being written, their marks written by the recorder.
    let sent = wait_uploaded(&events, &mut seen, "live", &[0, 1, 2, 3, 4]);
    assert!(sent.iter().all(|&b| b > 2048), "{sent:?}");
    let during = status(&ctx, "live").expect("status");
    assert!(during.active);
    assert!(during.chunks[..5]
        .iter()
        .all(|c| c.uploaded_at_ns.is_some()));
    ask(&ctx, |reply| Request::RecordingStop {
        name: "live".into(),
        reply,
    })
    .expect("stops");
    wait_uploaded(&events, &mut seen, "live", &[5]);
    wait_manifest_up(&bucket, &root, "live");
    let manifest = assert_bucket_holds(&bucket, &root, "live");
    assert_eq!(manifest.chunks.len(), 6);
    assert!(manifest.end_time_ns.is_some());
    let after = status(&ctx, "live").expect("status");
    assert!(!after.active && after.chunks.iter().all(|c| c.uploaded_at_ns.is_some()));
    assert!(
        verify_folder(&root.join("live"), "live")
            .expect("verify")
            .ok
    );
    shutdown(ctx);
}

#[test]
fn unsent_chunks_are_found_at_start_up_and_what_arrived_is_not_sent_again() {
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("bg-resume");
    let root = Scratch::new("bg-resume");
    recorded(&root, "old");
    let folder = root.join("old");
    let manifest = Manifest::read(&folder).expect("manifest");
    assert_eq!(manifest.chunks.len(), 3);
    // Chunk 1 arrived in an earlier run whose mark was lost.
    let entry = &manifest.chunks[1];
    let path = folder.join(CHUNKS_DIR).join(&entry.file);
    bucket
        .put_file(
            &keys().chunk("old", entry).expect("key"),
            &path,
            &entry.sha256,
        )
        .expect("put");

    let clock = ManualClock::new(T0);
    let upload = upload_section(&server.endpoint, "bg-resume", SECRET_KEY, "");
    let (ctx, events) = start(&root, &upload, &clock);
    let mut seen = Vec::new();
    let sent = wait_uploaded(&events, &mut seen, "old", &[0, 1, 2]);
    assert_eq!(sent[1], 0, "chunk 1 was in the bucket: not sent again");
    assert_eq!(sent[0], manifest.chunks[0].size);
    assert_eq!(sent[2], manifest.chunks[2].size);
    wait_manifest_up(&bucket, &root, "old");
    assert_bucket_holds(&bucket, &root, "old");
    shutdown(ctx);

    // A later start finds nothing to send: every chunk is marked, the manifest is there.
    let (ctx, events) = start(&root, &upload, &clock);
    let mut seen = Vec::new();
    let progress = wait_for(&events, &mut seen, |e| match e {
        RuntimeEvent::UploadProgress(p) => Some(*p),
        _ => None,
    });
    assert_eq!((progress.bytes_sent, progress.chunks_pending), (0, 0));
    assert!(!seen
        .iter()
        .any(|e| matches!(e, RuntimeEvent::ChunkUploaded { .. })));
    shutdown(ctx);
}

#[test]
fn a_missing_bucket_pauses_the_queue_until_it_exists() {
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let root = Scratch::new("bg-paused");
    recorded(&root, "early");
    let clock = ManualClock::new(T0);
    let retry = r#", "retry_initial_ms": 1000, "retry_max_ms": 1000"#;
    let upload = upload_section(&server.endpoint, "bg-later", SECRET_KEY, retry);
    let (ctx, events) = start(&root, &upload, &clock);
    let mut seen = Vec::new();
    let reason = wait_for(&events, &mut seen, |e| match e {
        RuntimeEvent::UploadPaused { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(reason.contains("NoSuchBucket"), "{reason}");
    assert!(!reason.contains(SECRET_KEY));
    let paused = status(&ctx, "early").expect("status");
    assert_eq!(paused.queue.paused.as_deref(), Some(reason.as_str()));
    assert_eq!(paused.queue.retry_at_ms, Some(T0 + 1000));

    let bucket = server.bucket("bg-later");
    // The queue tries again when the backoff's time has come: the clock says so.
    clock.advance(1000);
    wait_for(&events, &mut seen, |e| {
        matches!(e, RuntimeEvent::UploadResumed).then_some(())
    });
    wait_uploaded(&events, &mut seen, "early", &[0, 1, 2]);
    wait_manifest_up(&bucket, &root, "early");
    let paused_events = seen
        .iter()
        .filter(|e| matches!(e, RuntimeEvent::UploadPaused { .. }))
        .count();
    assert_eq!(paused_events, 1, "paused is said once: {seen:#?}");
    shutdown(ctx);
}

#[test]
fn refused_credentials_pause_the_queue_and_never_show_the_secret() {
    let Some(server) = Seaweed::shared() else {
        return;
    };
    server.bucket("bg-creds");
    let root = Scratch::new("bg-creds");
    recorded(&root, "r");
    let clock = ManualClock::new(T0);
    let wrong = "not-the-secret-key-4242";
    let upload = upload_section(&server.endpoint, "bg-creds", wrong, "");
    let (ctx, events) = start(&root, &upload, &clock);
    let mut seen = Vec::new();
    let reason = wait_for(&events, &mut seen, |e| match e {
        RuntimeEvent::UploadPaused { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(reason.contains("403"), "{reason}");
    let state = status(&ctx, "r").expect("status");
    assert!(state.chunks.iter().all(|c| c.uploaded_at_ns.is_none()));
    shutdown(ctx);
    for event in &seen {
        assert!(!format!("{event:?}").contains(wrong), "{event:?}");
    }
    let manifest = fs::read_to_string(root.join("r").join(MANIFEST_FILE)).expect("manifest");
    assert!(!manifest.contains(wrong));
}

#[test]
fn a_corrupt_chunk_is_dead_lettered_persistently_and_never_sent() {
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("bg-corrupt");
    let root = Scratch::new("bg-corrupt");
    recorded(&root, "c");
    let folder = root.join("c");
    let manifest = Manifest::read(&folder).expect("manifest");
    let damaged = folder.join(CHUNKS_DIR).join(&manifest.chunks[1].file);
    let mut bytes = fs::read(&damaged).expect("chunk");
    bytes[100] ^= 0xff;
    fs::write(&damaged, &bytes).expect("damage");

    let clock = ManualClock::new(T0);
    let upload = upload_section(&server.endpoint, "bg-corrupt", SECRET_KEY, "");
    let (ctx, events) = start(&root, &upload, &clock);
    let mut seen = Vec::new();
    let (index, reason) = wait_for(&events, &mut seen, |e| match e {
        RuntimeEvent::ChunkDeadLettered { index, reason, .. } => Some((*index, reason.clone())),
        _ => None,
    });
    assert_eq!(index, 1);
    assert!(reason.contains("corrupt"), "{reason}");
    wait_uploaded(&events, &mut seen, "c", &[0, 2]);
    let key = keys().chunk("c", &manifest.chunks[1]).expect("key");
    assert_eq!(bucket.head(&key).expect("head"), None, "never sent");
    assert_eq!(
        bucket.head(&keys().manifest("c")).expect("head"),
        None,
        "a manifest goes up only after all its chunks"
    );
    let state = status(&ctx, "c").expect("status");
    assert!(state.chunks[1].dead_letter.is_some());
    shutdown(ctx);

    // The dead letter is in the manifest: a restart does not try again (a recording
    // queued after it goes up, and nothing is said of this one)...
    let marked = Manifest::read(&folder).expect("manifest");
    assert!(marked.chunks[1].upload_dead_letter.is_some());
    recorded(&root, "later");
    let (ctx, events) = start(&root, &upload, &clock);
    let mut seen = Vec::new();
    wait_uploaded(&events, &mut seen, "later", &[0, 1, 2]);
    wait_manifest_up(&bucket, &root, "later");
    assert!(
        !seen.iter().any(|e| matches!(e,
            RuntimeEvent::ChunkDeadLettered { recording, .. }
            | RuntimeEvent::ChunkUploaded { recording, .. } if recording == "c")),
        "{seen:#?}"
    );
    // ... an upload asked for by name does, and finds it still corrupt.
    let report = ask(&ctx, |reply| Request::UploadRecording {
        name: "c".into(),
        reply,
    })
    .expect("upload now");
    let actions: Vec<ChunkAction> = report.chunks.iter().map(|c| c.action).collect();
    assert_eq!(
        actions,
        [
            ChunkAction::AlreadyUploaded,
            ChunkAction::Corrupt,
            ChunkAction::AlreadyUploaded
        ]
    );
    assert_eq!(report.manifest, ManifestAction::Withheld);
    drop(events);
    shutdown(ctx);
}

#[test]
fn a_chunk_that_keeps_failing_is_dead_lettered_after_the_configured_time() {
    // Nothing listens at this endpoint: every request fails, and is worth retrying.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let root = Scratch::new("bg-dead");
    recorded(&root, "d");
    let clock = ManualClock::new(T0);
    let retry = r#", "retry_initial_ms": 100, "retry_max_ms": 100, "dead_letter_after_ms": 5000"#;
    let endpoint = format!("http://127.0.0.1:{port}");
    let upload = upload_section(&endpoint, "nowhere", SECRET_KEY, retry);
    let (ctx, events) = start(&root, &upload, &clock);
    let mut seen = Vec::new();
    let pass_ended = |seen: &mut Vec<RuntimeEvent>| {
        wait_for(&events, seen, |e| {
            matches!(e, RuntimeEvent::UploadProgress(_)).then_some(())
        })
    };
    // The first pass failed: the queue waits out the backoff, by the clock.
    pass_ended(&mut seen);
    let waiting = status(&ctx, "d").expect("status");
    assert_eq!(waiting.queue.retry_at_ms, Some(T0 + 100));
    assert!(
        waiting.queue.paused.is_none(),
        "a network failure does not pause"
    );
    // Each chunk is given up on once it has failed for longer than 5 s; the pass then
    // goes on to the next, whose first failure starts its own time.
    for index in 0..3 {
        if index > 0 {
            pass_ended(&mut seen);
        }
        clock.advance(6_000);
        let (dead, reason) = wait_for(&events, &mut seen, |e| match e {
            RuntimeEvent::ChunkDeadLettered { index, reason, .. } => Some((*index, reason.clone())),
            _ => None,
        });
        assert_eq!(dead, index);
        assert!(reason.contains("still failing"), "{reason}");
    }
    let manifest = Manifest::read(&root.join("d")).expect("manifest");
    assert!(manifest
        .chunks
        .iter()
        .all(|c| c.upload_dead_letter.is_some() && c.uploaded_at_ns.is_none()));
    shutdown(ctx);
}

#[test]
fn reconcile_and_restore_through_requests() {
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("bg-heal");
    let root = Scratch::new("bg-heal");
    recorded(&root, "h");
    let clock = ManualClock::new(T0);
    let upload = upload_section(&server.endpoint, "bg-heal", SECRET_KEY, "");
    let (ctx, events) = start(&root, &upload, &clock);
    let mut seen = Vec::new();
    wait_uploaded(&events, &mut seen, "h", &[0, 1, 2]);
    wait_manifest_up(&bucket, &root, "h");

    // Someone overwrote chunk 2's object: reconcile puts it back.
    let manifest = Manifest::read(&root.join("h")).expect("manifest");
    let key = keys().chunk("h", &manifest.chunks[2]).expect("key");
    bucket.put_bytes(&key, b"tampered").expect("tamper");
    let report = ask(&ctx, |reply| Request::UploadReconcile {
        name: "h".into(),
        restore: false,
        reply,
    })
    .expect("reconcile");
    let actions: Vec<ReconcileAction> = report.chunks.iter().map(|c| c.action).collect();
    assert_eq!(
        actions,
        [
            ReconcileAction::None,
            ReconcileAction::None,
            ReconcileAction::Reuploaded
        ]
    );
    assert_bucket_holds(&bucket, &root, "h");

    // This machine lost the recording: it is rebuilt from the bucket alone.
    let original = fs::read(
        root.join("h")
            .join(CHUNKS_DIR)
            .join(&manifest.chunks[0].file),
    )
    .expect("chunk");
    fs::remove_dir_all(root.join("h")).expect("lose it");
    let restored = ask(&ctx, |reply| Request::UploadReconcile {
        name: "h".into(),
        restore: true,
        reply,
    })
    .expect("restore");
    assert!(restored.converged(), "{restored:?}");
    assert!(verify_folder(&root.join("h"), "h").expect("verify").ok);
    let back = fs::read(
        root.join("h")
            .join(CHUNKS_DIR)
            .join(&manifest.chunks[0].file),
    )
    .expect("chunk");
    assert_eq!(back, original);
    shutdown(ctx);
}

#[test]
fn upload_requests_without_an_upload_section_fail_clearly() {
    let root = Scratch::new("bg-none");
    let clock = ManualClock::new(T0);
    let config = format!(
        r#"{{"participant_id": "p", "recording": {{"root": "{}"}}}}"#,
        root.display()
    );
    let (ctx, _events) = start_configured(&config, &clock).expect("starts");
    let err = status(&ctx, "x").expect_err("not configured");
    assert!(err.to_string().contains("`upload` section"), "{err}");
    let err = ask(&ctx, |reply| Request::UploadRecording {
        name: "x".into(),
        reply,
    })
    .expect_err("not configured");
    assert!(matches!(err, RequestError::Upload(_)), "{err:?}");
    shutdown(ctx);

    // An upload section without recordings, or with a bad key, is refused at creation.
    let refused = storage::runtime::ContextConfig::from_json(
        r#"{"upload": {"endpoint": "http://127.0.0.1:1", "bucket": "b"}}"#,
    )
    .expect_err("no recording root");
    assert!(refused.to_string().contains("recording.root"), "{refused}");
    let config = format!(
        r#"{{"recording": {{"root": "{}"}}, "upload": {{"bucket": "b"}}}}"#,
        root.display()
    );
    let Err(refused) = start_configured(&config, &clock) else {
        panic!("an upload section without an endpoint was accepted");
    };
    assert!(refused.to_string().contains("endpoint"), "{refused}");
}

#[test]
fn a_sealed_ring_window_goes_up_as_a_recording_of_its_own() {
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("bg-ring");
    let root = Scratch::new("bg-ring");
    let clock = ManualClock::new(T0);
    let upload = upload_section(&server.endpoint, "bg-ring", SECRET_KEY, "");
    let (ctx, events) = start(&root, &upload, &clock);
    ask(&ctx, |reply| Request::RecordingStart {
        name: "ring".into(),
        options_json: r#"{"record_sent": true, "mode": "ring", "window_secs": 60}"#.into(),
        reply,
    })
    .expect("ring starts");
    for i in 0..5 {
        wrap(&ctx, &format!("m{i}"), noise(i, 512));
        clock.advance(10);
    }
    ask(&ctx, |reply| Request::RecordingSeal {
        name: "ring".into(),
        out_name: Some("window-1".into()),
        reply,
    })
    .expect("sealed");
    let mut seen = Vec::new();
    wait_uploaded(&events, &mut seen, "window-1", &[0]);
    wait_manifest_up(&bucket, &root, "window-1");
    assert_bucket_holds(&bucket, &root, "window-1");
    shutdown(ctx);
}
