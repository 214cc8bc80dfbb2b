//! Tamper evidence: the hash chain of a recording's chunks and the audit log of
//! supersessions and erasures. Every kind of tampering is detected; crashes are not
//! mistaken for it, and recovery repairs a torn tail without rewriting history.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

#[path = "common/messages.rs"]
mod messages;
#[path = "common/scratch.rs"]
mod scratch;

use messages::{noise, sds_message};
use scratch::Scratch;
use storage::recording::{
    audit_query, recover_store, verify_anchored, verify_folder, AuditQuery, Frame, Manifest, Now,
    OnSealed, Recorder, RecordingError, RecordingOptions, SealedChunk, Store, AUDIT_FILE,
    CHUNKS_DIR,
};

/// Records 10 messages 300 ms apart with 1 s chunk files: chunks of 4, 4 and 2.
fn record(root: &Path, name: &str) -> Manifest {
    record_announcing(root, name, None)
}

/// [`record`], telling `on_sealed` of each chunk sealed.
fn record_announcing(root: &Path, name: &str, on_sealed: Option<OnSealed>) -> Manifest {
    let t = Arc::new(AtomicU64::new(1_700_000_000_000_000_000));
    let read = t.clone();
    let now: Now = Arc::new(move || read.load(Ordering::SeqCst));
    let options = RecordingOptions::default()
        .with_json(r#"{"chunk_max_age_ms": 1000}"#)
        .expect("options");
    let recorder =
        Recorder::start_announcing(&Store::new(root), name, "alice", options, now, on_sealed)
            .expect("start");
    for i in 0..10u64 {
        let at = t.fetch_add(300_000_000, Ordering::SeqCst);
        let m = sds_message("c", &format!("{name}-{i}"), i as i64 + 1, &noise(i, 64));
        recorder.record(Frame::new(&m, at, at));
    }
    let (tx, rx) = mpsc::channel();
    if let Some(thread) = recorder.stop(Box::new(move |r| {
        let _ = tx.send(r);
    })) {
        thread.join().expect("join");
    }
    let summary = rx.recv().expect("answer").expect("stop");
    let manifest = summary.manifest.expect("manifest");
    assert_eq!(manifest.chunks.len(), 3);
    manifest
}

fn chunk(root: &Path, name: &str, file: &str) -> std::path::PathBuf {
    root.join(name).join(CHUNKS_DIR).join(file)
}

/// Renames a chunk file to the sealed name of `index` and updates its entry.
fn renumber(root: &Path, name: &str, entry: &mut storage::recording::ChunkEntry, index: u64) {
    let file = format!("chunk-{index:06}-{}.mcap", &entry.sha256[..8]);
    fs::rename(chunk(root, name, &entry.file), chunk(root, name, &file)).expect("rename");
    entry.index = index;
    entry.file = file;
}

#[test]
fn an_untouched_recording_verifies_and_its_head_is_reported() {
    let root = Scratch::new("tamper-ok");
    let manifest = record(&root, "r");
    let head = manifest.head.clone().expect("a head");
    assert_eq!(
        manifest.chunks[0].prev_hash.as_deref(),
        Some(&*"0".repeat(64))
    );
    let report = verify_anchored(&root.join("r"), "r", Some(&head), &[]).expect("v");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.chain.status, "ok");
    assert_eq!(report.chain.head.as_deref(), Some(head.as_str()));
    assert_eq!(report.chain.anchor, Some("head"));
    // An anchor the chain does not contain: history was rewritten.
    let report = verify_anchored(&root.join("r"), "r", Some(&"ab".repeat(32)), &[]).expect("v");
    assert!(!report.ok);
    assert_eq!(report.chain.anchor, Some("mismatch"));
}

#[test]
fn a_removed_chunk_breaks_the_chain_not_the_files() {
    let root = Scratch::new("tamper-remove");
    let mut manifest = record(&root, "r");
    let gone = manifest.chunks.remove(1);
    fs::remove_file(chunk(&root, "r", &gone.file)).expect("rm");
    manifest.write(&root.join("r")).expect("write");
    let report = verify_folder(&root.join("r"), "r").expect("v");
    assert!(!report.ok);
    assert!(report.chunks.iter().all(|c| c.status == "ok"), "{report:?}");
    assert_eq!(report.chain.status, "broken");
    assert_eq!(report.chain.broken_at, Some(2));
}

#[test]
fn an_inserted_chunk_breaks_the_chain() {
    let root = Scratch::new("tamper-insert");
    let mut manifest = record(&root, "r");
    let other = record(&root, "other");
    // The last chunk moves to index 3; the other recording's chunk 2 goes before it.
    let mut last = manifest.chunks.pop().expect("last");
    renumber(&root, "r", &mut last, 3);
    let foreign = other.chunks[2].clone();
    fs::copy(
        chunk(&root, "other", &foreign.file),
        chunk(&root, "r", &foreign.file),
    )
    .expect("cp");
    manifest.chunks.push(foreign);
    manifest.chunks.push(last);
    manifest.write(&root.join("r")).expect("write");
    let report = verify_folder(&root.join("r"), "r").expect("v");
    assert!(report.chunks.iter().all(|c| c.status == "ok"), "{report:?}");
    assert_eq!(report.chain.status, "broken");
    assert_eq!(report.chain.broken_at, Some(2));
    assert!(!report.ok);
}

#[test]
fn two_swapped_chunks_break_the_chain() {
    let root = Scratch::new("tamper-swap");
    let mut manifest = record(&root, "r");
    let (mut a, mut b) = (manifest.chunks[0].clone(), manifest.chunks[1].clone());
    renumber(&root, "r", &mut a, 9);
    renumber(&root, "r", &mut b, 0);
    renumber(&root, "r", &mut a, 1);
    manifest.chunks[0] = b;
    manifest.chunks[1] = a;
    manifest.write(&root.join("r")).expect("write");
    let report = verify_folder(&root.join("r"), "r").expect("v");
    assert!(report.chunks.iter().all(|c| c.status == "ok"), "{report:?}");
    assert_eq!(report.chain.status, "broken");
    assert_eq!(report.chain.broken_at, Some(0));
}

#[test]
fn a_replaced_chunk_with_its_hash_rewritten_breaks_the_chain() {
    let root = Scratch::new("tamper-replace");
    let other = record(&root, "other");
    for (at, name) in [(1usize, "r1"), (2, "r2")] {
        let mut m = record(&root, name);
        let old = m.chunks[at].clone();
        let new = other.chunks[at].clone();
        fs::remove_file(chunk(&root, name, &old.file)).expect("rm");
        fs::copy(
            chunk(&root, "other", &new.file),
            chunk(&root, name, &new.file),
        )
        .expect("cp");
        // Every field of the entry rewritten to match the new file; only the chain is left.
        m.chunks[at] = storage::recording::ChunkEntry {
            prev_hash: old.prev_hash.clone(),
            ..new.clone()
        };
        m.write(&root.join(name)).expect("write");
        let report = verify_folder(&root.join(name), name).expect("v");
        assert!(report.chunks.iter().all(|c| c.status == "ok"), "{report:?}");
        assert_eq!(report.chain.status, "broken", "{report:?}");
        // The next entry's link breaks; for the last chunk, the head no longer matches.
        let expected = if at == 1 { Some(2) } else { None };
        assert_eq!(report.chain.broken_at, expected);
    }
}

#[test]
fn a_corrupt_file_is_corrupt_and_not_a_broken_chain() {
    let root = Scratch::new("tamper-corrupt");
    let manifest = record(&root, "r");
    let path = chunk(&root, "r", &manifest.chunks[1].file);
    let mut bytes = fs::read(&path).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&path, bytes).expect("write");
    let report = verify_folder(&root.join("r"), "r").expect("v");
    assert_eq!(report.chunks[1].status, "corrupt");
    assert_eq!(report.chain.status, "ok");
    assert!(!report.ok);
    // Retired by a supersession record: reported as superseded, the recording ok again.
    let store = Store::new(&*root);
    let record = store
        .supersede("r", Some(1), None, "inspector", "bit rot", 5)
        .expect("supersede chunk");
    assert_eq!(
        record.draft.target_hash.as_deref(),
        Some(manifest.chunks[1].sha256.as_str())
    );
    let records = store.audit().read(None).expect("audit").records;
    let report = verify_anchored(&root.join("r"), "r", None, &records).expect("v");
    assert_eq!(report.chunks[1].status, "superseded", "{report:?}");
    assert!(report.ok);
}

#[test]
fn legacy_manifests_verify_as_legacy_and_are_chained_when_recovered() {
    let root = Scratch::new("tamper-legacy");
    let mut manifest = record(&root, "r");
    let chained = manifest.clone();
    manifest.head = None;
    manifest.end_time_ns = None;
    for c in &mut manifest.chunks {
        c.prev_hash = None;
    }
    manifest.write(&root.join("r")).expect("write");
    let report = verify_folder(&root.join("r"), "r").expect("v");
    assert_eq!(report.chain.status, "legacy");
    assert!(report.ok);
    recover_store(&Store::new(&*root));
    let after = Manifest::read(&root.join("r")).expect("m");
    assert_eq!(after.head, chained.head);
    assert_eq!(
        verify_folder(&root.join("r"), "r").expect("v").chain.status,
        "ok"
    );
}

#[test]
fn supersede_erase_and_delete_leave_records_and_listing_shows_them() {
    let root = Scratch::new("audit-flow");
    let store = Store::new(&*root);
    let first = record(&root, "a");
    record(&root, "b");
    record(&root, "c");
    assert_eq!(
        store.erase("a", "op", "no", 1).map(|_| ()),
        Err(RecordingError::NotSuperseded("a".into()))
    );
    let s = store
        .supersede("a", None, Some("b"), "op-1", "re-recorded", 100)
        .expect("supersede");
    assert_eq!(s.draft.target_hash, first.head);
    assert_eq!(s.draft.replacement.as_deref(), Some("b"));
    assert!(matches!(
        store.supersede("a", None, None, "op-1", "again", 101),
        Err(RecordingError::AlreadySuperseded(_))
    ));
    assert!(root.join("a").is_dir(), "superseding keeps the files");
    let listed = store.list().expect("list");
    assert_eq!(listed[0].superseded.as_ref(), Some(&s));
    assert!(listed[1].superseded.is_none());
    let e = store.erase("a", "op-2", "retention", 200).expect("erase");
    assert!(!root.join("a").exists());
    let (ds, de) = store
        .delete("c", "robot", "storage_recording_delete", 300)
        .expect("del");
    assert!(ds.is_some() && !root.join("c").exists());
    let listed = store.list().expect("list");
    let names: Vec<&str> = listed.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(listed[0].erased.as_ref(), Some(&e));
    assert_eq!(listed[0].superseded.as_ref(), Some(&s));
    assert_eq!(listed[2].erased.as_ref(), Some(&de));
    // Queries by recording, by actor within a time range.
    let log = store.audit();
    let q = |json: &str| {
        audit_query(&log, &AuditQuery::from_json(json).expect("query"))
            .expect("q")
            .records
            .iter()
            .map(|r| r.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(q(""), [1, 2, 3, 4]);
    assert_eq!(q(r#"{"recording": "a"}"#), [1, 2]);
    assert_eq!(
        q(r#"{"actor": "robot", "since_ns": 250, "until_ns": 300}"#),
        [3, 4]
    );
    assert_eq!(
        q(r#"{"actor": "op-2", "until_ns": 199}"#),
        Vec::<u64>::new()
    );
    assert!(AuditQuery::from_json(r#"{"bogus": 1}"#).is_err());
    let reading = log.read(de.hash.as_str().into()).expect("read");
    assert_eq!(reading.verdict.status, "ok");
    assert_eq!(reading.verdict.anchor, Some("head"));
    let reading = log.read(Some(&s.hash)).expect("read");
    assert_eq!(reading.verdict.anchor, Some("prefix"));
}

fn audit_with_records(root: &Path) -> Store {
    let store = Store::new(root);
    for name in ["a", "b", "c"] {
        record(root, name);
        store
            .supersede(name, None, None, "op", "why", 10)
            .expect("supersede");
    }
    store
}

#[test]
fn an_edited_audit_record_is_detected() {
    let root = Scratch::new("audit-edit");
    let store = audit_with_records(&root);
    let path = root.join(AUDIT_FILE);
    let text = fs::read_to_string(&path).expect("read");
    fs::write(
        &path,
        text.replacen("\"actor\":\"op\"", "\"actor\":\"xx\"", 1),
    )
    .expect("write");
    let verdict = store.audit().read(None).expect("read").verdict;
    assert_eq!(verdict.status, "broken");
    assert_eq!(verdict.broken_at, Some(1));
    // Nothing is appended to a damaged log, and listing says why.
    assert!(matches!(
        store.supersede("a", Some(0), None, "op", "x", 11),
        Err(RecordingError::AuditBroken(_))
    ));
}

#[test]
fn a_truncated_audit_log_is_detected_at_a_boundary_and_mid_record() {
    let root = Scratch::new("audit-trunc");
    let store = audit_with_records(&root);
    let path = root.join(AUDIT_FILE);
    let full = fs::read(&path).expect("read");
    let ends: Vec<usize> = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    for cut in [ends[1], ends[1] + 10, ends[0] - 3] {
        fs::write(&path, &full[..cut]).expect("cut");
        let verdict = store.audit().read(None).expect("read").verdict;
        assert_eq!(verdict.status, "truncated", "cut at {cut}: {verdict:?}");
    }
}

#[test]
fn a_crash_during_an_audit_append_leaves_a_log_that_verifies() {
    let root = Scratch::new("audit-crash");
    let store = audit_with_records(&root);
    let path = root.join(AUDIT_FILE);
    let full = fs::read(&path).expect("read");
    // Half of a fourth record, without its newline, as a crash mid-append leaves it.
    let mut torn = full.clone();
    torn.extend_from_slice(br#"{"seq":4,"time_ns":11,"action":"supersede","reco"#);
    fs::write(&path, &torn).expect("write");
    let verdict = store.audit().read(None).expect("read").verdict;
    assert_eq!(verdict.status, "ok");
    assert!(verdict.torn_tail);
    assert_eq!(verdict.records, 3);
    let actions = recover_store(&store);
    assert!(
        actions.iter().any(|a| a.action == "repaired"),
        "{actions:?}"
    );
    assert_eq!(
        fs::read(&path).expect("read"),
        full,
        "complete records untouched"
    );
    record(&root, "d");
    let r = store
        .supersede("d", None, None, "op", "why", 12)
        .expect("append");
    assert_eq!(r.seq, 4);
    let verdict = store.audit().read(None).expect("read").verdict;
    assert_eq!(
        (verdict.status, verdict.records, verdict.torn_tail),
        ("ok", 4, false)
    );
}

#[test]
fn a_name_erased_and_recorded_again_can_be_deleted_again() {
    let root = Scratch::new("audit-reuse");
    let store = Store::new(&*root);
    for round in 0..2u64 {
        record(&root, "again");
        let (superseded, _) = store.delete("again", "op", "reuse", round).expect("delete");
        assert!(
            superseded.is_some(),
            "round {round}: a new recording is superseded anew"
        );
    }
    assert_eq!(store.audit().read(None).expect("read").verdict.records, 4);
}

/// The manifest as it stood before its last chunk was listed: what a crash during that
/// chunk's sealing leaves. Returns it and the head it had then.
fn before_last_seal(mut manifest: Manifest) -> (Manifest, String) {
    let last = manifest.chunks.pop().expect("a chunk");
    let head = last.prev_hash.clone().expect("chained");
    manifest.head = Some(head.clone());
    manifest.end_time_ns = None;
    (manifest, head)
}

#[test]
fn a_crash_during_sealing_leaves_a_chain_that_verifies_with_its_history_unchanged() {
    let root = Scratch::new("seal-crash");
    // Two crashes: before the sealed file was named (an active file is left), and after
    // it was named but before the manifest listed it (an unlisted sealed file is left).
    for (name, leave_active) in [("active", true), ("named", false)] {
        let full = record(&root, name);
        let last = full.chunks.last().expect("a chunk").clone();
        let (manifest, old_head) = before_last_seal(full);
        if leave_active {
            let active = format!(".chunk-{:06}.mcap.active", last.index);
            fs::rename(chunk(&root, name, &last.file), chunk(&root, name, &active))
                .expect("rename");
        }
        manifest.write(&root.join(name)).expect("write");
        let actions = recover_store(&Store::new(&*root));
        assert!(
            actions
                .iter()
                .any(|a| a.recording == name && (a.action == "recovered" || a.action == "listed")),
            "{name}: {actions:?}"
        );
        let report = verify_anchored(&root.join(name), name, Some(&old_head), &[]).expect("v");
        assert!(report.ok, "{name}: {report:?}");
        assert_eq!(report.chain.status, "ok", "{name}");
        // Recovery appended the chunk: the head before the crash is still in the chain.
        assert_eq!(report.chain.anchor, Some("prefix"), "{name}");
        let recovered = Manifest::read(&root.join(name)).expect("read");
        assert_eq!(recovered.chunks.len(), 3, "{name}");
        assert_eq!(
            recovered.chunks[..2],
            manifest.chunks[..],
            "{name}: history untouched"
        );
    }
}

#[test]
fn each_sealed_chunk_announces_the_head_it_made_and_each_head_anchors_the_chain() {
    let root = Scratch::new("tamper-announce");
    let (tx, rx) = mpsc::channel::<SealedChunk>();
    let tx = std::sync::Mutex::new(tx);
    let on_sealed: OnSealed = Arc::new(move |chunk| {
        let _ = tx.lock().unwrap().send(chunk);
    });
    let manifest = record_announcing(&root, "a", Some(on_sealed));
    let sealed: Vec<SealedChunk> = rx.try_iter().collect();
    let indexes: Vec<u64> = sealed.iter().map(|c| c.index).collect();
    assert_eq!(indexes, [0, 1, 2], "one announcement per chunk, in order");
    for (chunk, entry) in sealed.iter().zip(&manifest.chunks) {
        assert_eq!(chunk.sha256, entry.sha256);
        let anchored = verify_anchored(&root.join("a"), "a", Some(&chunk.head), &[]).expect("v");
        let wanted = if chunk.index == 2 { "head" } else { "prefix" };
        assert_eq!(anchored.chain.anchor, Some(wanted), "chunk {}", chunk.index);
    }
    assert_eq!(Some(&sealed[2].head), manifest.head.as_ref());
}
