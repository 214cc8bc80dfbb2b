//! The recording layer on its own: record → seal → verify → replay, the files read by
//! the `mcap` crate, corruption found by verify, bad names and folders refused, ring
//! buffers, and hostile files never panicking verify, list or recovery.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[path = "common/messages.rs"]
mod messages;
#[path = "common/recordings.rs"]
mod recordings;
#[path = "common/scratch.rs"]
mod scratch;

use messages::{noise, sds_message, without_bloom};
use proptest::prelude::*;
use recordings::{manual_now, options, record, stop};
use scratch::Scratch;
use storage::protocol::{HistoryEntry, SdsMessage};
use storage::recording::{
    active_file_name, recover_store, verify_folder, ChunkWriter, CompressorPool, Frame, FullPolicy,
    Manifest, McapScan, Now, Recorder, RecordingError, RecordingOptions, RecordingWriter,
    ReplayOptions, ReplayReader, ScanMode, Store, CHUNKS_DIR, MANIFEST_FILE,
};

fn message(channel: &str, i: u64, size: usize) -> SdsMessage {
    let parent = format!("{channel}-{}", i.saturating_sub(1));
    SdsMessage {
        causal_history: vec![HistoryEntry::new(parent)],
        bloom_filter: vec![0xff; 32],
        sender_id: "bob".into(),
        ..sds_message(
            channel,
            &format!("{channel}-{i}"),
            i as i64 + 1,
            &noise(i, size),
        )
    }
}

fn replay_all(folder: &Path, options: ReplayOptions) -> Vec<SdsMessage> {
    ReplayReader::open(folder, options)
        .expect("open")
        .map(|m| m.expect("replayed").message)
        .collect()
}

#[test]
fn record_seal_verify_replay_round_trip() {
    let root = Scratch::new("rec-roundtrip");
    let sent: Vec<SdsMessage> = (0..3000)
        .map(|i| message(if i % 3 == 0 { "a" } else { "b" }, i, 1024))
        .collect();
    // 1 MiB chunk files: several files, each with several 768 KiB MCAP chunks.
    let summary = record(&root, "trip", &sent, r#"{"chunk_max_bytes": 1048576}"#);
    assert_eq!((summary.written, summary.dropped), (3000, 0));
    let manifest = summary.manifest.expect("manifest");
    assert!(
        manifest.chunks.len() >= 2,
        "{} chunk files",
        manifest.chunks.len()
    );
    assert_eq!(manifest.message_count(), 3000);
    assert_eq!(manifest.channels, ["a", "b"]);
    assert!(manifest.end_time_ns.is_some());
    let folder = root.join("trip");
    assert_eq!(Manifest::read(&folder).expect("read"), manifest);

    let report = verify_folder(&folder, "trip").expect("verify");
    assert!(report.ok, "{report:?}");
    assert!(report.chunks.iter().all(|c| c.status == "ok"));

    let replayed = replay_all(&folder, ReplayOptions::default());
    let expected: Vec<SdsMessage> = sent.iter().map(without_bloom).collect();
    assert_eq!(replayed, expected);

    // Filters, trims and remaps.
    let only_a = ReplayOptions::from_json(r#"{"include":["a"],"remap":{"a":"z"}}"#).expect("o");
    let got: Vec<_> = ReplayReader::open(&folder, only_a)
        .expect("open")
        .map(|m| m.expect("m"))
        .collect();
    assert_eq!(got.len(), 1000);
    assert!(got
        .iter()
        .all(|m| m.channel_id == "z" && m.message.channel_id == "a"));
    let first = manifest.chunks[0].first_log_time_ns;
    let trimmed = format!(
        r#"{{"exclude":["a"],"start_time_ns":{},"end_time_ns":{}}}"#,
        first + 10_000_000,
        first + 19_000_000
    );
    let got = replay_all(&folder, ReplayOptions::from_json(&trimmed).expect("o"));
    let ids: Vec<&str> = got.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(
        ids,
        ["b-10", "b-11", "b-13", "b-14", "b-16", "b-17", "b-19"]
    );
}

#[test]
fn chunk_files_open_with_the_mcap_reader_and_carry_the_schema() {
    let root = Scratch::new("rec-mcapread");
    let sent: Vec<SdsMessage> = (0..50).map(|i| message("robot/odom", i, 100)).collect();
    let summary = record(&root, "m", &sent, "");
    let entry = &summary.manifest.expect("manifest").chunks[0];
    assert!(entry.file.starts_with("chunk-000000-") && entry.file.ends_with(".mcap"));
    assert_eq!(&entry.file[13..21], &entry.sha256[..8]);
    let bytes = fs::read(root.join("m").join(CHUNKS_DIR).join(&entry.file)).expect("read");
    let summary = mcap::Summary::read(&bytes)
        .expect("summary")
        .expect("has summary");
    assert_eq!(summary.stats.expect("stats").message_count, 50);
    let messages: Vec<_> = mcap::MessageStream::new(&bytes)
        .expect("stream")
        .map(|m| m.expect("message"))
        .collect();
    assert_eq!(messages.len(), 50);
    let channel = &messages[0].channel;
    assert_eq!(channel.topic, "robot/odom");
    assert_eq!(channel.message_encoding, "protobuf");
    assert_eq!(channel.metadata["sds_channel"], "robot/odom");
    assert_eq!(channel.metadata["participant"], "alice");
    let schema = channel.schema.as_ref().expect("schema");
    assert_eq!(
        (schema.name.as_str(), schema.encoding.as_str()),
        ("sds.SdsMessage", "protobuf")
    );
    let decoded = storage::protocol::decode_stored_message(&messages[7].data).expect("d");
    assert_eq!(decoded, without_bloom(&sent[7]));
    assert!(messages[1].log_time > messages[0].log_time);
}

#[test]
fn chunk_files_are_the_same_bytes_however_fast_compression_runs() {
    // MCAP chunks are compressed on several threads; where a file rolls at its size
    // limit, where a flush closes an MCAP chunk early, and so every byte of every file,
    // must not depend on their timing. Flushes follow the messages' log times (1 ms
    // apart: a flush every 100 messages); the recorder's own clock stays at the start,
    // so an idle moment of the recorder thread never flushes (that one follows the
    // clock, which is not part of the input).
    let root = Scratch::new("rec-determinism");
    let sent: Vec<SdsMessage> = (0..3000).map(|i| message("c", i, 512)).collect();
    let json = r#"{"chunk_max_bytes": 1000000, "flush_interval_ms": 100}"#;
    let start = 1_700_000_000_000_000_000u64;
    let files = |name: &str| -> Vec<(String, usize)> {
        let frozen: Now = Arc::new(move || start);
        let recorder = Recorder::start(&Store::new(&root), name, "alice", options(json), frozen)
            .expect("start");
        for (i, m) in sent.iter().enumerate() {
            let at = start + i as u64 * 1_000_000;
            recorder.record(Frame::new(m, at, at));
        }
        let manifest = stop(recorder).expect("stop").manifest.expect("manifest");
        let chunks = root.join(name).join(CHUNKS_DIR);
        let mcap_chunks = |file: &str| {
            let bytes = fs::read(chunks.join(file)).expect("chunk file");
            let summary = mcap::Summary::read(&bytes).expect("summary").expect("one");
            summary.chunk_indexes.len()
        };
        (manifest.chunks.iter())
            .map(|c| (c.sha256.clone(), mcap_chunks(&c.file)))
            .collect()
    };
    let first = files("one");
    assert!(first.len() >= 2, "{first:?}");
    // 3 s of log time flushed every 100 ms: about 30 MCAP chunks where size alone
    // makes 3.
    let mcap_chunks: usize = first.iter().map(|(_, n)| n).sum();
    assert!(mcap_chunks >= 29, "{first:?}");
    for name in ["two", "three"] {
        assert_eq!(files(name), first);
    }
}

/// The ids of the messages crash recovery would get back from `active` now: those in
/// its complete, CRC-valid MCAP chunks.
fn recoverable(active: &Path) -> Vec<String> {
    let Ok(file) = fs::File::open(active) else {
        return Vec::new();
    };
    McapScan::new(std::io::BufReader::new(file), active, ScanMode::Salvage)
        .map_while(Result::ok)
        .map(|m| {
            storage::protocol::decode_stored_message(&m.data)
                .expect("a recorded message")
                .message_id
        })
        .collect()
}

#[test]
fn a_partly_filled_chunk_is_flushed_once_its_oldest_message_is_flush_interval_old() {
    let root = Scratch::new("rec-flush-rule");
    let limits = options(r#"{"flush_interval_ms": 1000}"#).chunk_limits;
    let mut writer = RecordingWriter::create(&Store::new(&root), "f", "p", "continuous", 0, limits)
        .expect("create");
    let active = root.join("f").join(CHUNKS_DIR).join(active_file_name(0));
    const MS: u64 = 1_000_000;
    let t0 = 1_700_000_000_000 * MS;
    let mut write = |i: u64, at_ms: u64| {
        let at = t0 + at_ms * MS;
        writer
            .write(&Frame::new(&message("c", i, 64), at, at), at)
            .expect("write");
    };
    for (i, at_ms) in [(0, 0), (1, 400), (2, 999)] {
        write(i, at_ms);
    }
    assert!(recoverable(&active).is_empty(), "flushed too early");
    // A message 1 s after the oldest unflushed one: the three before it are flushed
    // (one small MCAP chunk) before it is written.
    write(3, 1000);
    assert_eq!(recoverable(&active), ["c-0", "c-1", "c-2"]);
    // No further message: the recorder's idle check flushes at the deadline it is given.
    assert_eq!(writer.next_deadline_ns(), Some(t0 + 2000 * MS));
    writer.roll_if_due(t0 + 1999 * MS).expect("not due yet");
    assert_eq!(recoverable(&active).len(), 3);
    writer.roll_if_due(t0 + 2000 * MS).expect("due");
    assert_eq!(recoverable(&active), ["c-0", "c-1", "c-2", "c-3"]);
    // Nothing is left to flush: what is next is the file's age limit.
    assert_eq!(writer.next_deadline_ns(), Some(t0 + 60_000 * MS));
    let manifest = writer.finish(t0 + 3000 * MS).expect("finish");
    assert_eq!(manifest.message_count(), 4);
    let bytes = fs::read(
        root.join("f")
            .join(CHUNKS_DIR)
            .join(&manifest.chunks[0].file),
    )
    .expect("sealed");
    let summary = mcap::Summary::read(&bytes).expect("summary").expect("one");
    assert_eq!(summary.chunk_indexes.len(), 2, "one MCAP chunk per flush");
    assert!(verify_folder(&root.join("f"), "f").expect("verify").ok);
}

#[test]
fn an_idle_recorder_flushes_by_its_clock_without_another_message() {
    let root = Scratch::new("rec-idle-flush");
    let (t, now) = manual_now();
    let recorder = Recorder::start(
        &Store::new(&root),
        "idle",
        "p",
        options(r#"{"flush_interval_ms": 1000}"#),
        now,
    )
    .expect("start");
    for i in 0..5 {
        let at = t.load(Ordering::SeqCst);
        recorder.record(Frame::new(&message("c", i, 64), at, at));
    }
    let active = root.join("idle").join(CHUNKS_DIR).join(active_file_name(0));
    let deadline = Instant::now() + Duration::from_secs(60);
    while recorder.stats().written.load(Ordering::SeqCst) < 5 {
        assert!(Instant::now() < deadline, "the recorder never wrote");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Written, but the clock has not moved: nothing is due.
    assert!(recoverable(&active).is_empty(), "flushed too early");
    t.fetch_add(1_000_000_000, Ordering::SeqCst);
    // No message comes; the recorder thread wakes up by itself and flushes.
    while recoverable(&active).len() < 5 {
        assert!(Instant::now() < deadline, "the idle recorder never flushed");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(recoverable(&active), ["c-0", "c-1", "c-2", "c-3", "c-4"]);
    assert_eq!(stop(recorder).expect("stop").written, 5);
}

#[test]
fn a_flipped_bit_is_reported_by_verify() {
    let root = Scratch::new("rec-bitflip");
    let sent: Vec<SdsMessage> = (0..2000).map(|i| message("c", i, 512)).collect();
    let summary = record(&root, "f", &sent, r#"{"chunk_max_bytes": 400000}"#);
    let manifest = summary.manifest.expect("manifest");
    assert!(manifest.chunks.len() >= 2);
    let folder = root.join("f");
    let victim = folder.join(CHUNKS_DIR).join(&manifest.chunks[1].file);
    let mut bytes = fs::read(&victim).expect("read");
    // Every byte position matters: try one in the middle and one near the end.
    for at in [bytes.len() / 2, bytes.len() - 30] {
        bytes[at] ^= 0x10;
        fs::write(&victim, &bytes).expect("write");
        let report = verify_folder(&folder, "f").expect("verify");
        assert!(!report.ok);
        assert_eq!(report.chunks[0].status, "ok");
        assert_eq!(report.chunks[1].status, "corrupt", "{report:?}");
        bytes[at] ^= 0x10;
    }
    fs::write(&victim, &bytes).expect("restore");
    assert!(verify_folder(&folder, "f").expect("verify").ok);
    fs::remove_file(&victim).expect("remove");
    let report = verify_folder(&folder, "f").expect("verify");
    assert_eq!(report.chunks[1].status, "missing");
}

#[test]
fn bad_names_missing_root_and_unwritable_folders_give_clear_errors() {
    let root = Scratch::new("rec-errors");
    let store = Store::new(&root);
    let (_, now) = manual_now();
    for name in ["../escape", "a/b", "..", ".", "", "x y"] {
        let err = Recorder::start(&store, name, "p", RecordingOptions::default(), now.clone())
            .err()
            .expect("refused");
        assert!(
            matches!(err, RecordingError::InvalidName { .. }),
            "{name}: {err}"
        );
    }
    assert!(!root.parent().expect("parent").join("escape").exists());

    let missing = Store::new(root.join("nope"));
    let err = Recorder::start(&missing, "r", "p", RecordingOptions::default(), now.clone())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(matches!(
        missing.list(),
        Err(RecordingError::RootMissing(_))
    ));
    // A root that is a file is said to be one, not to be missing.
    let file = root.parent().expect("parent").join("a-file");
    std::fs::write(&file, b"not a folder").expect("file written");
    let err = Store::new(&file).list().expect_err("refused");
    assert!(matches!(err, RecordingError::RootNotDirectory(_)), "{err}");
    assert!(err.to_string().contains("is not a directory"), "{err}");

    // A name in use is refused, and the existing recording is untouched.
    record(&root, "kept", &[message("c", 0, 10)], "");
    let err = Recorder::start(
        &store,
        "kept",
        "p",
        RecordingOptions::default(),
        now.clone(),
    )
    .err()
    .expect("refused");
    assert_eq!(err, RecordingError::AlreadyExists("kept".into()));
    assert!(verify_folder(&root.join("kept"), "kept").expect("v").ok);

    // An unwritable root (a full disk behaves the same for creation): a clear I/O error.
    // Root ignores permission bits, so then a folder the kernel refuses (sysfs) stands in.
    let locked = root.join("locked");
    fs::create_dir(&locked).expect("mkdir");
    set_mode(&locked, 0o500);
    let unwritable = if fs::write(locked.join("probe"), b"x").is_err() {
        locked.clone()
    } else {
        PathBuf::from("/sys")
    };
    if unwritable.is_dir() {
        let err = Recorder::start(
            &Store::new(&unwritable),
            "r",
            "p",
            RecordingOptions::default(),
            now,
        )
        .err()
        .expect("refused");
        assert!(err.to_string().starts_with("cannot create folder"), "{err}");
    }
    set_mode(&locked, 0o700);
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn drop_policy_counts_what_a_full_queue_refuses() {
    let root = Scratch::new("rec-drop");
    let (_, now) = manual_now();
    let store = Store::new(&root);
    let recorder = Recorder::start(
        &store,
        "d",
        "p",
        options(r#"{"queue_capacity": 1, "when_full": "drop"}"#),
        now,
    )
    .expect("start");
    for i in 0..20_000 {
        recorder.record(Frame::new(&message("c", i, 64), i, i));
    }
    let stats = recorder.stats().clone();
    let summary = stop(recorder).expect("stop");
    assert_eq!(summary.written + summary.dropped, 20_000);
    assert!(summary.dropped > 0, "nothing dropped with a queue of 1");
    assert_eq!(stats.dropped.load(Ordering::Relaxed), summary.dropped);
    assert_eq!(
        summary.manifest.expect("m").message_count(),
        summary.written
    );
}

#[test]
fn ring_buffer_seals_its_window_without_clearing_it() {
    let root = Scratch::new("rec-ring");
    let (t, now) = manual_now();
    let store = Store::new(&root);
    let recorder = Recorder::start(
        &store,
        "ring",
        "p",
        options(r#"{"mode": "ring", "window_secs": 1}"#),
        now,
    )
    .expect("start");
    assert!(
        !root.join("ring").exists(),
        "a ring writes nothing until sealed"
    );
    let base = t.load(Ordering::SeqCst);
    for i in 0..30u64 {
        // One message every 100 ms: a 1 s window keeps the last 11.
        recorder.record(Frame::new(&message("c", i, 16), base + i * 100_000_000, 0));
    }
    let seal = |name: &str| {
        let (tx, rx) = mpsc::channel();
        recorder.seal(
            name.to_owned(),
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().expect("sealed")
    };
    let first = seal("window-1").expect("seal");
    assert_eq!(first.mode, "ring");
    assert_eq!(first.message_count(), 11);
    let second = seal("window-2").expect("seal again");
    assert_eq!(
        second.message_count(),
        11,
        "sealing does not clear the window"
    );
    assert_eq!(
        seal("window-1"),
        Err(RecordingError::AlreadyExists("window-1".into()))
    );
    let ids: Vec<String> = replay_all(&root.join("window-1"), ReplayOptions::default())
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(ids.first().map(String::as_str), Some("c-19"));
    assert_eq!(ids.last().map(String::as_str), Some("c-29"));
    assert!(
        verify_folder(&root.join("window-2"), "window-2")
            .expect("v")
            .ok
    );
    let summary = stop(recorder).expect("stop");
    assert!(summary.manifest.is_none());
}

#[test]
fn a_sealed_window_starts_at_its_oldest_message_and_ends_at_its_newest() {
    let root = Scratch::new("rec-ring-times");
    let (t, now) = manual_now();
    let store = Store::new(&root);
    let window = r#"{"mode": "ring", "window_secs": 1}"#;
    let recorder = Recorder::start(&store, "ring", "p", options(window), now).expect("start");
    let base = t.load(Ordering::SeqCst);
    for i in 0..5u64 {
        recorder.record(Frame::new(&message("c", i, 16), base + i * 100_000_000, 0));
    }
    // The seal comes a minute after the newest message.
    t.store(base + 60_000_000_000, Ordering::SeqCst);
    let (tx, rx) = mpsc::channel();
    recorder.seal(
        "window".into(),
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    let sealed = rx.recv().expect("sealed").expect("seal");
    let on_disk = Manifest::read(&root.join("window")).expect("manifest");
    for manifest in [&sealed, &on_disk] {
        assert_eq!(manifest.start_time_ns, base);
        assert_eq!(manifest.end_time_ns, Some(base + 400_000_000));
    }
    stop(recorder).expect("stop");
}

#[test]
fn chunk_files_roll_at_the_age_limit() {
    let root = Scratch::new("rec-age");
    let (t, now) = manual_now();
    let store = Store::new(&root);
    let recorder = Recorder::start(
        &store,
        "age",
        "p",
        options(r#"{"chunk_max_age_ms": 1000}"#),
        now,
    )
    .expect("start");
    for i in 0..10u64 {
        // The recorder's clock moves 300 ms per message: a new file every 4 messages.
        let at = t.fetch_add(300_000_000, Ordering::SeqCst);
        recorder.record(Frame::new(&message("c", i, 16), at, at));
    }
    let manifest = stop(recorder).expect("stop").manifest.expect("m");
    let counts: Vec<u64> = manifest.chunks.iter().map(|c| c.message_count).collect();
    assert_eq!(counts, [4, 4, 2]);
}

#[test]
fn a_compressed_chunk_reaches_the_file_without_waiting_for_more_messages() {
    let root = Scratch::new("rec-ready");
    let pool = CompressorPool::new(1).expect("pool");
    let mut writer = ChunkWriter::create(&root, 0, "p", 0, &pool).expect("create");
    // Just over one MCAP chunk of incompressible messages: one chunk is handed over.
    for i in 0..1500u64 {
        writer
            .write(&Frame::new(&message("c", i, 512), i, i))
            .expect("write");
    }
    let active = root.join(active_file_name(0));
    // What the recorder does when idle; the chunk is in the file once compressed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while fs::metadata(&active).expect("active").len() < 700_000 {
        assert!(
            Instant::now() < deadline,
            "the chunk never reached the file"
        );
        writer.append_ready().expect("append");
        std::thread::yield_now();
    }
    writer.seal().expect("seal");
}

#[test]
fn a_chunk_file_refuses_more_channels_than_mcap_can_number() {
    let root = Scratch::new("rec-channels");
    let pool = CompressorPool::new(1).expect("pool");
    let mut writer = ChunkWriter::create(&root, 0, "p", 0, &pool).expect("create");
    let frame = |channel: String| Frame::from_stored(&channel, b"x", 1, 1);
    for c in 0..u64::from(u16::MAX) {
        writer
            .write(&frame(format!("c{c}")))
            .expect("a channel id is left");
    }
    let error = writer
        .write(&frame("one-too-many".into()))
        .expect_err("no channel id is left");
    assert!(error.to_string().contains("65535 MCAP channels"), "{error}");
    // Channels it already has still take messages.
    writer.write(&frame("c7".into())).expect("known channel");
}

#[test]
fn recovery_reseals_complete_chunks_and_quarantines_garbage() {
    let root = Scratch::new("rec-recover");
    let store = Store::new(&root);
    record(
        &root,
        "r",
        &(0..10).map(|i| message("c", i, 100)).collect::<Vec<_>>(),
        "",
    );
    let chunks = root.join("r").join(CHUNKS_DIR);
    // A writer that died with several MCAP chunks written, one still being compressed
    // and part of the next one gathered.
    let pool = CompressorPool::new(1).expect("pool");
    let mut writer = ChunkWriter::create(&chunks, 1, "p", 0, &pool).expect("create");
    for i in 0..12_000u64 {
        writer
            .write(&Frame::new(&message("c", 100 + i, 512), 10_000 + i, 0))
            .expect("w");
    }
    std::mem::forget(writer); // no finish: the file ends mid-chunk, as after SIGKILL
    let active = chunks.join(active_file_name(1));
    let len = fs::metadata(&active).expect("active").len();
    assert!(len > 786_432, "{len}");
    // And an active file with nothing usable.
    fs::write(chunks.join(active_file_name(7)), b"\x89MCAP0\r\ngarbage").expect("w");

    let actions = recover_store(&store);
    let recovered: Vec<_> = actions.iter().filter(|a| a.action == "recovered").collect();
    assert_eq!(recovered.len(), 1, "{actions:?}");
    assert!(
        recovered[0].messages > 1000 && recovered[0].messages < 12_000,
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a.action == "quarantined"),
        "{actions:?}"
    );
    assert!(root.join("r/quarantine/chunk-000007.mcap.active").exists());
    let report = verify_folder(&root.join("r"), "r").expect("verify");
    assert!(report.ok, "{report:?}");
    assert_eq!(report.chunks.len(), 2);
    let manifest = Manifest::read(&root.join("r")).expect("m");
    assert_eq!(manifest.message_count(), 10 + recovered[0].messages);
    // Replay reads the recovered messages in order after the sealed ones.
    let ids = replay_all(&root.join("r"), ReplayOptions::default());
    assert_eq!(ids[10].message_id, "c-100");
    // A second run finds nothing to do.
    assert!(recover_store(&store).is_empty());
}

#[test]
fn an_unlisted_sealed_chunk_is_listed_by_recovery() {
    let root = Scratch::new("rec-unlisted");
    let summary = record(
        &root,
        "u",
        &(0..5).map(|i| message("c", i, 10)).collect::<Vec<_>>(),
        "",
    );
    let folder = root.join("u");
    let full = summary.manifest.expect("m");
    // As if the process died between the chunk's rename and the manifest write.
    let mut stale = full.clone();
    stale.chunks.clear();
    stale.head = None;
    stale.end_time_ns = None;
    stale.write(&folder).expect("write");
    assert_eq!(
        verify_folder(&folder, "u").expect("v").chunks[0].status,
        "unlisted"
    );
    let actions = recover_store(&Store::new(&root));
    assert_eq!(actions[0].action, "listed", "{actions:?}");
    let after = Manifest::read(&folder).expect("m");
    assert_eq!(after.chunks, full.chunks);
    assert_eq!(after.head, full.head);
    let report = verify_folder(&folder, "u").expect("v");
    assert!(report.ok && report.chain.status == "ok", "{report:?}");
}

#[test]
fn list_and_delete() {
    let root = Scratch::new("rec-list");
    let store = Store::new(&root);
    record(&root, "one", &[message("c", 0, 1)], "");
    record(&root, "two", &[message("c", 0, 1)], "");
    fs::create_dir(root.join("broken")).expect("mkdir");
    fs::write(root.join("broken").join(MANIFEST_FILE), "{").expect("w");
    let listed = store.list().expect("list");
    let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["broken", "one", "two"]);
    assert!(listed[0].error.is_some() && listed[0].manifest.is_none());
    assert_eq!(listed[1].manifest.as_ref().expect("m").message_count(), 1);
    store.delete("one", "op", "test", 1).expect("delete");
    assert!(!root.join("one").exists());
    assert_eq!(
        store.delete("one", "op", "test", 1).map(|_| ()),
        Err(RecordingError::NotFound("one".into()))
    );
    assert!(matches!(
        store.delete("../list", "op", "test", 1),
        Err(RecordingError::InvalidName { .. })
    ));
    // An active recording cannot be deleted.
    let (_, now) = manual_now();
    let active = Recorder::start(&store, "live", "p", RecordingOptions::default(), now).expect("s");
    assert_eq!(
        store.delete("live", "op", "test", 1).map(|_| ()),
        Err(RecordingError::AlreadyActive("live".into()))
    );
    assert!(store
        .list()
        .expect("list")
        .iter()
        .any(|r| r.name == "live" && r.active));
    stop(active).expect("stop");
    store
        .delete("live", "op", "test", 1)
        .expect("delete after stop");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever bytes sit in a manifest or a chunk file, verify, list, replay and recovery
    /// answer without panicking.
    #[test]
    fn hostile_files_never_panic(
        manifest in prop::collection::vec(any::<u8>(), 0..300),
        chunk in prop::collection::vec(any::<u8>(), 0..3000),
        prefix_magic in any::<bool>(),
        as_json in any::<bool>(),
        index in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
    ) {
        let root = Scratch::new("rec-fuzz");
        let folder = root.join("x");
        fs::create_dir_all(folder.join(CHUNKS_DIR)).expect("mkdir");
        let mut chunk_bytes = if prefix_magic { b"\x89MCAP0\r\n".to_vec() } else { Vec::new() };
        chunk_bytes.extend_from_slice(&chunk);
        let file = "chunk-000000-00000000.mcap";
        fs::write(folder.join(CHUNKS_DIR).join(file), &chunk_bytes).expect("w");
        fs::write(folder.join(CHUNKS_DIR).join(active_file_name(1)), &chunk_bytes).expect("w");
        let manifest_bytes = if as_json {
            format!(
                r#"{{"format":1,"name":"x","participant":"","mode":"continuous","channels":[],
                "start_time_ns":0,"end_time_ns":null,"chunks":[{{"index":{index},"file":"{file}",
                "sha256":"00","size":{},"message_count":{},"first_log_time_ns":0,
                "last_log_time_ns":0}}]}}"#,
                chunk_bytes.len(), manifest.len()
            ).into_bytes()
        } else {
            manifest
        };
        fs::write(folder.join(MANIFEST_FILE), &manifest_bytes).expect("w");
        if let Ok(report) = verify_folder(&folder, "x") {
            prop_assert!(!report.ok);
        }
        let _ = Store::new(&root).list();
        if let Ok(reader) = ReplayReader::open(&folder, ReplayOptions::default()) {
            for _ in reader {}
        }
        let _ = recover_store(&Store::new(&root));
        }
}

#[test]
fn block_policy_loses_nothing() {
    let root = Scratch::new("rec-block");
    let (_, now) = manual_now();
    let store = Store::new(&root);
    let recorder = Recorder::start(
        &store,
        "b",
        "p",
        options(r#"{"queue_capacity": 2, "when_full": "block"}"#),
        now,
    )
    .expect("start");
    assert_eq!(recorder.options().when_full, FullPolicy::Block);
    for i in 0..2000 {
        recorder.record(Frame::new(&message("c", i, 64), i, i));
    }
    let summary = stop(recorder).expect("stop");
    assert_eq!((summary.written, summary.dropped), (2000, 0));
}
