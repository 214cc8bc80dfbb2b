//! Uploading recordings to a real S3 server (SeaweedFS on loopback, `tests/common/
//! seaweed.rs`): keys as documented, every chunk verified before it goes and by the
//! server on arrival, marks in the manifest, nothing sent twice (a second run, or a run
//! after marks were lost), corrupt files flagged and never sent, large files in parts,
//! and bad credentials or a missing bucket failing clearly with the queue to pause.

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

use messages::{noise, sds_message};
use recordings::{exclusive, record};
use scratch::Scratch;
use seaweed::{no_env, Seaweed};
use sha2::{Digest, Sha256};
use storage::protocol::SdsMessage;
use storage::recording::upload::{
    reconcile_recording, restore_recording, upload_recording, upload_recording_with, ChunkAction,
    FailureClass, LocalState, ManifestAction, ObjectKeys, OrphanSide, ReconcileAction, S3Bucket,
    UploadProgress, MAX_ORPHANS_SHOWN,
};
use storage::recording::{
    verify_folder, Manifest, ReplayOptions, ReplayReader, Store, CHUNKS_DIR, MANIFEST_FILE,
};

const NOW: u64 = 1_800_000_000_000_000_000;

/// `count` messages of `size` random bytes, on one channel.
fn messages(count: u64, size: usize) -> Vec<SdsMessage> {
    (0..count)
        .map(|i| sds_message("fleet", &format!("m{i}"), i as i64 + 1, &noise(i, size)))
        .collect()
}

fn sha_hex(path: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(path).expect("read")))
}

/// Recording "run" (3 chunk files of 10 messages) under a fresh root.
fn recorded(tag: &str) -> Scratch {
    let root = Scratch::new(tag);
    record(
        &root,
        "run",
        &messages(30, 256),
        r#"{"chunk_max_age_ms": 10}"#,
    );
    root
}

fn keys() -> ObjectKeys {
    ObjectKeys::new(Some("fleet"), "robot-7").expect("keys")
}

#[test]
fn a_recording_goes_up_under_its_keys_once() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("once");
    let root = recorded("s3-once");
    let store = Store::new(&root);

    let report = upload_recording(&store, "run", &bucket, &keys(), NOW).expect("upload");
    assert!(report.complete(), "{report:?}");
    assert_eq!(report.chunks.len(), 3);
    assert!(report
        .chunks
        .iter()
        .all(|c| c.action == ChunkAction::Uploaded));
    assert_eq!(report.manifest, ManifestAction::Uploaded);
    assert_eq!(report.manifest_key, "fleet/robot-7/run/manifest.json");

    let manifest = Manifest::read(&root.join("run")).expect("manifest");
    let mut listed = Vec::new();
    bucket
        .list_each("fleet/robot-7/run/", &mut |o| listed.push(o.key))
        .expect("list");
    listed.sort();
    let mut expected: Vec<String> = manifest
        .chunks
        .iter()
        .map(|c| format!("fleet/robot-7/run/chunks/{}", c.file))
        .collect();
    expected.push("fleet/robot-7/run/manifest.json".into());
    assert_eq!(listed, expected);
    for c in &manifest.chunks {
        assert_eq!(c.uploaded_at_ns, Some(NOW));
        assert!(c.etag.as_deref().is_some_and(|e| !e.is_empty()), "{c:?}");
        let remote = bucket
            .head(&format!("fleet/robot-7/run/chunks/{}", c.file))
            .expect("head")
            .expect("there");
        assert_eq!(remote.sha256.as_deref(), Some(c.sha256.as_str()));
        assert_eq!(remote.size, c.size);
    }
    // The bucket's manifest is the local one, marks included.
    let copy = root.file("manifest-copy.json");
    bucket
        .download(&report.manifest_key, &copy, u64::MAX)
        .expect("download");
    assert_eq!(
        sha_hex(&copy),
        sha_hex(&root.join("run").join(MANIFEST_FILE))
    );

    // Again: nothing is sent.
    let again = upload_recording(&store, "run", &bucket, &keys(), NOW + 1).expect("again");
    assert!(again
        .chunks
        .iter()
        .all(|c| c.action == ChunkAction::AlreadyUploaded));
    assert_eq!(
        (again.bytes_sent, again.manifest),
        (0, ManifestAction::Unchanged)
    );
}

#[test]
fn the_progress_observer_sees_every_chunk_once_with_growing_bytes() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("progress");
    let root = recorded("s3-progress");
    let store = Store::new(&root);
    let manifest = Manifest::read(&root.join("run")).expect("manifest");
    let indices: Vec<u64> = manifest.chunks.iter().map(|c| c.index).collect();
    let total: u64 = manifest.chunks.iter().map(|c| c.size).sum();

    let mut seen: Vec<UploadProgress> = Vec::new();
    let report = upload_recording_with(&store, "run", &bucket, &keys(), NOW, &mut |p| seen.push(p))
        .expect("upload");
    assert!(report.complete(), "{report:?}");
    assert_eq!(
        seen.iter().map(|p| p.chunk_index).collect::<Vec<_>>(),
        indices,
        "each chunk once, in order"
    );
    assert_eq!(
        seen.iter().map(|p| p.chunks_done).collect::<Vec<_>>(),
        (1..=indices.len() as u64).collect::<Vec<_>>()
    );
    assert!(seen
        .windows(2)
        .all(|w| w[0].bytes_sent < w[1].bytes_sent && w[0].bytes_done < w[1].bytes_done));
    assert!(seen.iter().all(
        |p| (p.bytes_total, p.chunks_total) == (total, indices.len() as u64)
            && p.action == ChunkAction::Uploaded
    ));
    let last = seen.last().expect("observed");
    assert_eq!(
        (last.bytes_sent, last.bytes_done),
        (report.bytes_sent, total)
    );
    assert_eq!(report.bytes_sent, total);

    // Again: each chunk is seen once more, done without a byte sent.
    let mut again: Vec<UploadProgress> = Vec::new();
    upload_recording_with(&store, "run", &bucket, &keys(), NOW + 1, &mut |p| {
        again.push(p)
    })
    .expect("again");
    assert_eq!(again.len(), indices.len());
    assert!(again
        .iter()
        .all(|p| p.bytes_sent == 0 && p.action == ChunkAction::AlreadyUploaded));
    assert_eq!(again.last().map(|p| p.bytes_done), Some(total));
}

#[test]
fn lost_marks_are_found_by_head_and_nothing_is_sent_again() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("marks");
    let root = recorded("s3-marks");
    let store = Store::new(&root);
    upload_recording(&store, "run", &bucket, &keys(), NOW).expect("upload");

    // A crash after the PUTs but before the marks were written: the marks are gone.
    let folder = root.join("run");
    let mut manifest = Manifest::read(&folder).expect("manifest");
    for c in &mut manifest.chunks {
        c.uploaded_at_ns = None;
        c.etag = None;
    }
    manifest.write(&folder).expect("write");

    let report = upload_recording(&store, "run", &bucket, &keys(), NOW + 5).expect("upload");
    assert!(
        report
            .chunks
            .iter()
            .all(|c| c.action == ChunkAction::AlreadyRemote),
        "{report:?}"
    );
    assert_eq!(report.bytes_sent, 0);
    // The manifest changed (new marks), so it goes up again.
    assert_eq!(report.manifest, ManifestAction::Uploaded);
    let manifest = Manifest::read(&folder).expect("manifest");
    assert!(manifest
        .chunks
        .iter()
        .all(|c| c.uploaded_at_ns == Some(NOW + 5)));
}

#[test]
fn a_corrupt_chunk_is_flagged_never_sent_and_the_manifest_withheld() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("corrupt");
    let root = recorded("s3-corrupt");
    let store = Store::new(&root);
    let manifest = Manifest::read(&root.join("run")).expect("manifest");
    let victim = root
        .join("run")
        .join(CHUNKS_DIR)
        .join(&manifest.chunks[1].file);
    let mut bytes = fs::read(&victim).expect("read");
    bytes[100] ^= 1;
    fs::write(&victim, bytes).expect("write");

    let report = upload_recording(&store, "run", &bucket, &keys(), NOW).expect("upload");
    let actions: Vec<ChunkAction> = report.chunks.iter().map(|c| c.action).collect();
    assert_eq!(
        actions,
        [
            ChunkAction::Uploaded,
            ChunkAction::Corrupt,
            ChunkAction::Uploaded
        ]
    );
    assert!(report.chunks[1]
        .reason
        .as_deref()
        .is_some_and(|r| r.contains("SHA-256")));
    assert_eq!(bucket.head(&report.chunks[1].key).expect("head"), None);
    assert_eq!(report.manifest, ManifestAction::Withheld);
    assert_eq!(bucket.head(&report.manifest_key).expect("head"), None);
    assert!(!report.complete());
}

#[test]
fn the_server_refuses_bytes_that_do_not_match_their_checksum() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("digest");
    let root = Scratch::new("s3-digest");
    let path = root.file("blob");
    fs::write(&path, b"what we meant to send").expect("write");
    fs::write(root.file("other"), b"what was hashed instead").expect("write");
    let wrong = sha_hex(&root.file("other"));
    let err = bucket
        .put_file("blob", &path, &wrong)
        .expect_err("bytes that are not the SHA-256's are refused");
    assert_eq!(err.class, FailureClass::Retryable, "{err}");
    assert_eq!(bucket.head("blob").expect("head"), None);
}

#[test]
fn large_chunk_files_go_up_in_parts() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let mut options = server.options("parts");
    options.part_size_bytes = Some(5 * 1024 * 1024);
    let bucket = S3Bucket::new(&options, &no_env).expect("client");
    bucket.create_bucket().expect("bucket");
    let root = Scratch::new("s3-parts");
    // About 12 MiB of incompressible content in one chunk file: three parts.
    record(&root, "big", &messages(48, 256 * 1024), "{}");
    let manifest = Manifest::read(&root.join("big")).expect("manifest");
    assert_eq!(manifest.chunks.len(), 1);
    assert!(
        manifest.chunks[0].size > 10 * 1024 * 1024,
        "{}",
        manifest.chunks[0].size
    );

    let store = Store::new(&root);
    let report = upload_recording(&store, "big", &bucket, &keys(), NOW).expect("upload");
    assert!(report.complete(), "{report:?}");
    let copy = root.file("copy.mcap");
    let size = bucket
        .download(&report.chunks[0].key, &copy, u64::MAX)
        .expect("download");
    assert_eq!(size, manifest.chunks[0].size);
    assert_eq!(sha_hex(&copy), manifest.chunks[0].sha256);
    let remote = bucket
        .head(&report.chunks[0].key)
        .expect("head")
        .expect("there");
    assert_eq!(
        remote.sha256.as_deref(),
        Some(manifest.chunks[0].sha256.as_str())
    );
}

#[test]
fn bad_credentials_and_a_missing_bucket_pause_with_a_clear_error() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let root = recorded("s3-refused");
    let store = Store::new(&root);

    server.bucket("refused");
    let mut wrong = server.options("refused");
    wrong.secret_access_key = Some("not-the-secret".to_owned().into());
    let bucket = S3Bucket::new(&wrong, &no_env).expect("client");
    let err = upload_recording(&store, "run", &bucket, &keys(), NOW).expect_err("refused");
    assert_eq!(err.class, FailureClass::Pause, "{err}");
    assert!(!err.message.contains("not-the-secret"), "{err}");

    let bucket = S3Bucket::new(&server.options("missing"), &no_env).expect("client");
    let err = upload_recording(&store, "run", &bucket, &keys(), NOW).expect_err("no bucket");
    assert_eq!(err.class, FailureClass::Pause, "{err}");
    // Nothing was marked.
    let manifest = Manifest::read(&root.join("run")).expect("manifest");
    assert!(manifest.chunks.iter().all(|c| c.uploaded_at_ns.is_none()));

    // Fixed (the bucket made), the same upload goes through.
    let fixed = server.bucket("missing");
    let report = upload_recording(&store, "run", &fixed, &keys(), NOW).expect("upload");
    assert!(report.complete(), "{report:?}");
}

#[test]
fn a_recording_being_written_is_refused() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("active");
    let root = recorded("s3-active");
    let store = Store::new(&root);
    let _writer = store.lock_sealed("run").expect("lock");
    let err = upload_recording(&store, "run", &bucket, &keys(), NOW).expect_err("locked");
    assert!(err.message.contains("active"), "{err}");
}

#[test]
fn storagectl_uploads_with_flags_and_the_aws_variables() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("cli");
    let root = recorded("s3-cli");
    let elsewhere = Scratch::new("s3-cli-elsewhere");
    let storagectl = |root: &Path, args: &[&str], secret: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_storagectl"))
            .args(args)
            .args(["--json", "--prefix", "fleet"])
            .args(["--endpoint", &server.endpoint, "--bucket", "cli"])
            .env("STORAGE_RECORDINGS_ROOT", root)
            .env("AWS_ACCESS_KEY_ID", seaweed::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .output()
            .expect("storagectl runs")
    };
    let run = |secret: &str| storagectl(&root, &["upload"], secret);
    let out = run(seaweed::SECRET_KEY);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["manifest"], "uploaded");
    // The origin is the recording's participant.
    assert_eq!(report["manifestKey"], "fleet/alice/run/manifest.json");
    assert!(bucket
        .head("fleet/alice/run/manifest.json")
        .expect("head")
        .is_some());

    let again: serde_json::Value =
        serde_json::from_slice(&run(seaweed::SECRET_KEY).stdout).expect("JSON report");
    assert_eq!(again["bytesSent"], 0);

    let refused = run("wrong");
    assert_eq!(refused.status.code(), Some(4), "{refused:?}");
    assert!(!String::from_utf8_lossy(&refused.stderr).contains("wrong"));

    let out = storagectl(&root, &["reconcile"], seaweed::SECRET_KEY);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let restore = ["restore", "run", "--origin", "alice"];
    let out = storagectl(&elsewhere, &restore, seaweed::SECRET_KEY);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        verify_folder(&elsewhere.join("run"), "run")
            .expect("verify")
            .ok
    );
    // Without --origin there is nothing to find it by.
    let out = storagectl(&elsewhere, &["restore", "other"], seaweed::SECRET_KEY);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}

#[test]
fn storagectl_creates_a_missing_bucket_when_asked_and_lists_upload_state() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let root = recorded("s3-cli-create");
    let storagectl = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_storagectl"))
            .args(args)
            .env("STORAGE_RECORDINGS_ROOT", &*root)
            .env("AWS_ACCESS_KEY_ID", seaweed::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", seaweed::SECRET_KEY)
            .output()
            .expect("storagectl runs")
    };
    let listed = |out: std::process::Output| {
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let list = listed(storagectl(&["list"]));
    assert!(
        list.contains("UPLOADED") && list.contains(" 0/3 "),
        "{list}"
    );
    let upload = [
        "upload",
        "--endpoint",
        &server.endpoint,
        "--bucket",
        "cli-created",
    ];
    let missing = storagectl(&upload);
    assert_eq!(missing.status.code(), Some(4), "{missing:?}");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("NoSuchBucket"));
    let out = storagectl(&[&upload[..], &["--create-bucket"]].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let list = listed(storagectl(&["list"]));
    assert!(list.contains(" 3/3 "), "{list}");
}

#[test]
fn reconcile_heals_the_bucket_the_files_and_the_marks_and_then_does_nothing() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("heal");
    let root = recorded("s3-heal");
    let store = Store::new(&root);
    upload_recording(&store, "run", &bucket, &keys(), NOW).expect("upload");
    let folder = root.join("run");
    let mut manifest = Manifest::read(&folder).expect("manifest");
    let chunk_keys: Vec<String> = manifest
        .chunks
        .iter()
        .map(|c| keys().chunk("run", c).expect("key"))
        .collect();
    let key = |i: usize| chunk_keys[i].clone();
    // Chunk 0: the bucket's copy tampered with. Chunk 1: the local file lost. Chunk 2:
    // the local file corrupt, and the manifest's mark lost.
    bucket.put_bytes(&key(0), b"tampered").expect("tamper");
    let chunks = folder.join(CHUNKS_DIR);
    fs::remove_file(chunks.join(&manifest.chunks[1].file)).expect("remove");
    let third = chunks.join(&manifest.chunks[2].file);
    let mut bytes = fs::read(&third).expect("read");
    bytes[10] ^= 1;
    fs::write(&third, bytes).expect("write");
    manifest.chunks[2].uploaded_at_ns = None;
    manifest.write(&folder).expect("write manifest");

    let report = reconcile_recording(&store, "run", &bucket, &keys(), NOW + 9).expect("reconcile");
    let actions: Vec<ReconcileAction> = report.chunks.iter().map(|c| c.action).collect();
    assert_eq!(
        actions,
        [
            ReconcileAction::Reuploaded,
            ReconcileAction::Downloaded,
            ReconcileAction::Downloaded
        ]
    );
    assert_eq!(report.chunks[2].local, LocalState::Corrupt);
    assert!(report.converged(), "{report:?}");
    assert!(verify_folder(&folder, "run").expect("verify").ok);
    // Nothing deleted: the corrupt file is kept aside.
    assert!(folder
        .join("quarantine")
        .join(&manifest.chunks[2].file)
        .is_file());
    let remote = bucket.head(&key(0)).expect("head").expect("there");
    assert_eq!(
        remote.sha256.as_deref(),
        Some(manifest.chunks[0].sha256.as_str())
    );

    let again = reconcile_recording(&store, "run", &bucket, &keys(), NOW + 10).expect("again");
    assert!(
        again
            .chunks
            .iter()
            .all(|c| c.action == ReconcileAction::None),
        "{again:?}"
    );
    assert_eq!(again.manifest, ManifestAction::Unchanged);
}

#[test]
fn reconcile_reports_orphans_on_both_sides_and_touches_neither() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("orphans");
    let root = recorded("s3-orphans");
    let store = Store::new(&root);
    upload_recording(&store, "run", &bucket, &keys(), NOW).expect("upload");
    let chunks = root.join("run").join(CHUNKS_DIR);
    fs::write(chunks.join("stray.bin"), b"12345").expect("stray file");
    fs::write(chunks.join("chunk-000009-0badf00d.mcap"), b"1").expect("stray chunk");
    let remote_stray = "fleet/robot-7/run/chunks/chunk-000042-deadbeef.mcap";
    bucket
        .put_bytes(remote_stray, b"orphan")
        .expect("stray object");
    // Another recording's objects, and a recording whose name starts the same, are not
    // this one's orphans.
    bucket
        .put_bytes("fleet/robot-7/runner/chunks/x.mcap", b"other")
        .expect("other recording");

    let report = reconcile_recording(&store, "run", &bucket, &keys(), NOW + 1).expect("reconcile");
    assert!(report.converged(), "{report:#?}");
    let orphans: Vec<(OrphanSide, &str, u64)> = report
        .orphans
        .iter()
        .map(|o| (o.side, o.name.as_str(), o.size))
        .collect();
    assert_eq!(
        orphans,
        [
            (OrphanSide::Local, "chunk-000009-0badf00d.mcap", 1),
            (OrphanSide::Local, "stray.bin", 5),
            (OrphanSide::Remote, remote_stray, 6),
        ]
    );
    assert_eq!(report.orphans_not_shown, 0);
    // Reported, never touched.
    assert!(chunks.join("stray.bin").is_file());
    assert!(bucket.head(remote_stray).expect("head").is_some());
    let again = reconcile_recording(&store, "run", &bucket, &keys(), NOW + 2).expect("again");
    assert_eq!(again.orphans, report.orphans);
}

#[test]
fn past_a_thousand_orphans_reconcile_counts_the_rest() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("many-orphans");
    let root = recorded("s3-many-orphans");
    let store = Store::new(&root);
    upload_recording(&store, "run", &bucket, &keys(), NOW).expect("upload");
    let chunks = root.join("run").join(CHUNKS_DIR);
    for i in 0..MAX_ORPHANS_SHOWN + 3 {
        fs::write(chunks.join(format!("stray-{i:05}")), b"x").expect("stray file");
    }
    for i in 0..2 {
        let key = format!("fleet/robot-7/run/chunks/stray-{i}");
        bucket.put_bytes(&key, b"y").expect("stray object");
    }
    let report = reconcile_recording(&store, "run", &bucket, &keys(), NOW + 1).expect("reconcile");
    assert_eq!(report.orphans.len(), MAX_ORPHANS_SHOWN);
    assert_eq!(report.orphans_not_shown, 5);
    // Local ones come first, in name order.
    assert!(report.orphans.iter().all(|o| o.side == OrphanSide::Local));
    assert_eq!(report.orphans[0].name, "stray-00000");
}

#[test]
fn a_chunk_lost_on_both_sides_is_flagged_and_the_manifest_withheld() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("lost");
    let root = recorded("s3-lost");
    let store = Store::new(&root);
    let manifest = Manifest::read(&root.join("run")).expect("manifest");
    fs::remove_file(
        root.join("run")
            .join(CHUNKS_DIR)
            .join(&manifest.chunks[0].file),
    )
    .expect("remove");
    let report = reconcile_recording(&store, "run", &bucket, &keys(), NOW).expect("reconcile");
    assert_eq!(report.chunks[0].action, ReconcileAction::Lost);
    assert_eq!(report.chunks[1].action, ReconcileAction::Uploaded);
    assert_eq!(report.manifest, ManifestAction::Withheld);
    assert!(!report.converged());
}

#[test]
fn a_recording_is_restored_on_an_empty_machine_from_the_bucket_alone() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let bucket = server.bucket("restore");
    let robot = recorded("s3-robot");
    upload_recording(&Store::new(&robot), "run", &bucket, &keys(), NOW).expect("upload");

    let elsewhere = Scratch::new("s3-elsewhere");
    let store = Store::new(&elsewhere);
    let report = restore_recording(&store, "run", &bucket, &keys()).expect("restore");
    assert_eq!(report.chunks.len(), 3);
    let report = verify_folder(&elsewhere.join("run"), "run").expect("verify");
    assert!(report.ok, "{report:?}");
    let replay = |root: &Path| -> Vec<SdsMessage> {
        ReplayReader::open(&root.join("run"), ReplayOptions::default())
            .expect("open")
            .map(|m| m.expect("message").message)
            .collect()
    };
    assert_eq!(replay(&elsewhere), replay(&robot));
    assert_eq!(replay(&elsewhere).len(), 30);
    // A second restore refuses to overwrite.
    assert!(restore_recording(&store, "run", &bucket, &keys()).is_err());
}

/// Uploads "run" to bucket `name` and returns the bucket and the manifest's JSON there.
fn uploaded(server: &Seaweed, name: &str) -> (S3Bucket, serde_json::Value) {
    let bucket = server.bucket(name);
    let robot = recorded(&format!("s3-{name}"));
    upload_recording(&Store::new(&robot), "run", &bucket, &keys(), NOW).expect("upload");
    let manifest = fs::read(robot.join("run").join(MANIFEST_FILE)).expect("manifest");
    (
        bucket,
        serde_json::from_slice(&manifest).expect("manifest JSON"),
    )
}

/// A restore from `bucket` onto an empty root fails with a message containing `needle`,
/// leaving the root as empty as it was.
fn assert_restore_refused(bucket: &S3Bucket, needle: &str) {
    let elsewhere = Scratch::new("s3-hostile-restore");
    let root = elsewhere.join("root");
    fs::create_dir_all(&root).expect("root");
    let err = restore_recording(&Store::new(&root), "run", bucket, &keys()).expect_err("refused");
    assert!(err.to_string().contains(needle), "{err}");
    let left: Vec<_> = fs::read_dir(&elsewhere)
        .expect("read")
        .chain(fs::read_dir(&root).expect("read"))
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, ["root"], "left behind: {left:?}");
}

#[test]
fn a_bucket_manifest_naming_files_outside_the_recording_is_refused() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let (bucket, manifest) = uploaded(server, "hostile-paths");
    for file in [
        "../../escape.mcap",
        "/tmp/escape.mcap",
        "chunk-000001-00000000.mcap",
    ] {
        let mut hostile = manifest.clone();
        hostile["chunks"][0]["file"] = file.into();
        let bytes = serde_json::to_vec(&hostile).expect("JSON");
        bucket
            .put_bytes(&keys().manifest("run"), &bytes)
            .expect("put");
        assert_restore_refused(&bucket, "cannot be restored");
    }
    let mut twice = manifest.clone();
    twice["chunks"][1] = twice["chunks"][0].clone();
    let bytes = serde_json::to_vec(&twice).expect("JSON");
    bucket
        .put_bytes(&keys().manifest("run"), &bytes)
        .expect("put");
    assert_restore_refused(&bucket, "twice");
}

#[test]
fn a_bucket_object_longer_than_its_entry_is_not_downloaded_whole() {
    let _serial = exclusive();
    let Some(server) = Seaweed::shared() else {
        return;
    };
    let (bucket, manifest) = uploaded(server, "hostile-size");
    let chunks = manifest["chunks"].as_array().expect("chunks");
    let entry: storage::recording::ChunkEntry =
        serde_json::from_value(chunks[1].clone()).expect("entry");
    // The object under chunk 1's key grows to ten times its entry's size.
    let huge = noise(7, entry.size as usize * 10);
    bucket
        .put_bytes(&keys().chunk("run", &entry).expect("key"), &huge)
        .expect("put");
    assert_restore_refused(&bucket, "longer than");
}
