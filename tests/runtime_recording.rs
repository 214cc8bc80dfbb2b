//! Recordings through the runtime: delivered (and sent) messages recorded without the
//! worker waiting, replayed as events paced by the injected clock, management requests,
//! a recording process killed with SIGKILL whose files are recovered on restart, what such
//! a kill loses bounded by the flush interval (and measured), recovery reported as events,
//! and the recording `recording.autostart` starts with the context.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::Duration;

#[path = "common/contexts.rs"]
mod contexts;
#[path = "common/scratch.rs"]
mod scratch;

use contexts::{ask, start_configured, ChannelSink, WAIT};
use scratch::Scratch;
use storage::protocol::Event;
use storage::recording::{
    ListedRecording, Manifest, RecorderSummary, RecordingError, VerifyReport, CHUNKS_DIR,
};
use storage::runtime::{
    Clock, Context, ContextConfig, ContextError, ManualClock, Reply, Request, RequestError,
    RuntimeEvent, SystemClock,
};

const T0: u64 = 1_700_000_000_000;
const CRASH_ENV: &str = "STORAGE_RECORDING_CRASH_CHILD";
const LOSS_WINDOW_ENV: &str = "STORAGE_RECORDING_LOSS_WINDOW_CHILD";

fn start(
    participant: &str,
    root: Option<&Path>,
    clock: &ManualClock,
) -> (Context, Receiver<RuntimeEvent>) {
    let recording = match root {
        Some(root) => format!(r#", "recording": {{"root": "{}"}}"#, root.display()),
        None => String::new(),
    };
    start_configured(
        &format!(r#"{{"participant_id": "{participant}"{recording}}}"#),
        clock,
    )
    .expect("context starts")
}

/// The document of a context `participant` recording under `root`, with
/// `recording.autostart` set to `autostart`.
fn autostart_config(participant: &str, root: &Path, autostart: &str) -> String {
    format!(
        r#"{{"participant_id": "{participant}",
            "recording": {{"root": "{}", "autostart": {autostart}}}}}"#,
        root.display()
    )
}

fn recording_start(ctx: &Context, name: &str, options: &str) -> Result<(), RequestError> {
    ask(ctx, |reply| Request::RecordingStart {
        name: name.into(),
        options_json: options.into(),
        reply,
    })
}

fn recording_stop(ctx: &Context, name: &str) -> Result<RecorderSummary, RequestError> {
    ask(ctx, |reply| Request::RecordingStop {
        name: name.into(),
        reply,
    })
}

fn verify(ctx: &Context, name: &str) -> Result<VerifyReport, RequestError> {
    ask(ctx, |reply| Request::RecordingVerify {
        name: name.into(),
        anchor: None,
        reply,
    })
}

fn wrap(ctx: &Context, channel_id: &str, id: &str, content: &[u8]) -> Vec<u8> {
    ask(ctx, |reply| Request::Wrap {
        channel_id: channel_id.into(),
        message_id: id.into(),
        content: content.to_vec(),
        reply,
    })
    .expect("wrap")
}

fn unwrap(ctx: &Context, bytes: &[u8]) {
    ask(ctx, |reply| Request::Unwrap {
        bytes: bytes.to_vec(),
        reply,
    })
    .expect("unwrap");
}

/// (channel, id, sender, lamport, content) of a delivered or replayed message.
type Seen = (String, String, String, i64, Vec<u8>);

fn delivered(rx: &Receiver<RuntimeEvent>) -> Vec<Seen> {
    rx.try_iter()
        .filter_map(|e| match e {
            RuntimeEvent::Protocol(Event::MessageReady {
                channel_id,
                message_id,
                sender_id,
                lamport_timestamp,
                content,
            }) => Some((
                channel_id,
                message_id,
                sender_id,
                lamport_timestamp,
                content,
            )),
            _ => None,
        })
        .collect()
}

/// Replay events until `replay_finished`: (messages, log times, cancelled).
fn replayed(rx: &Receiver<RuntimeEvent>) -> (Vec<Seen>, Vec<u64>, bool) {
    let mut seen = Vec::new();
    let mut times = Vec::new();
    loop {
        match rx.recv_timeout(WAIT).expect("replay event") {
            RuntimeEvent::ReplayMessage {
                channel_id,
                message,
                log_time_ns,
                ..
            } => {
                seen.push((
                    channel_id,
                    message.message_id,
                    message.sender_id,
                    message.lamport_timestamp,
                    message.content,
                ));
                times.push(log_time_ns);
            }
            RuntimeEvent::ReplayFinished {
                cancelled, error, ..
            } => {
                assert_eq!(error, None);
                return (seen, times, cancelled);
            }
            _ => {}
        }
    }
}

fn replay_start(ctx: &Context, name: &str, options: &str) -> Result<u64, RequestError> {
    ask(ctx, |reply| Request::ReplayStart {
        name: name.into(),
        options_json: options.into(),
        reply,
    })
}

#[test]
fn delivered_messages_are_recorded_verified_and_replayed_in_order() {
    let root = Scratch::new("rtrec-roundtrip");
    let clock = ManualClock::new(T0);
    let (alice, _alice_events) = start("alice", Some(&*root), &clock);
    let (bob, bob_events) = start("bob", Some(&*root), &clock);
    recording_start(&bob, "bob-log", r#"{"chunk_max_age_ms": 500}"#).expect("start");
    recording_start(
        &alice,
        "alice-sent",
        r#"{"record_sent": true, "channels": ["b"]}"#,
    )
    .expect("start");
    let mut wire = Vec::new();
    for i in 0..200u64 {
        let channel_id = if i % 4 == 0 { "a" } else { "b" };
        let content: Vec<u8> = (0..300).map(|b| (b * 7 + i * 13) as u8).collect();
        wire.push(wrap(&alice, channel_id, &format!("m{i}"), &content));
    }
    // Delivered out of order: the buffered ones come out when their dependency arrives.
    wire.swap(10, 11);
    for bytes in &wire {
        unwrap(&bob, bytes);
        clock.advance(10);
    }
    let delivered = delivered(&bob_events);
    assert_eq!(delivered.len(), 200);
    let summary = recording_stop(&bob, "bob-log").expect("stop");
    assert_eq!((summary.written, summary.dropped), (200, 0));
    let manifest = summary.manifest.expect("manifest");
    assert!(manifest.chunks.len() > 1);
    assert_eq!(manifest.participant, "bob");
    let report = verify(&bob, "bob-log").expect("verify");
    assert!(report.ok, "{report:?}");

    let id = replay_start(&bob, "bob-log", r#"{"rate": 0}"#).expect("replay");
    assert_eq!(id, 1);
    let (seen, times, cancelled) = replayed(&bob_events);
    assert!(!cancelled);
    assert_eq!(seen, delivered, "the replay equals what was delivered");
    assert!(times.windows(2).all(|w| w[0] <= w[1]));

    let sent = recording_stop(&alice, "alice-sent").expect("stop");
    assert_eq!(sent.written, 150, "only channel b's sent messages");
    let listed: Vec<ListedRecording> =
        ask(&bob, |reply| Request::RecordingsList { reply }).expect("list");
    let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["alice-sent", "bob-log"]);
    ask(&bob, |reply| Request::RecordingDelete {
        name: "alice-sent".into(),
        reply,
    })
    .expect("delete");
    assert!(!root.join("alice-sent").exists());
    drop((alice, bob));
}

#[test]
fn replay_is_paced_by_the_clock_filtered_remapped_and_stoppable() {
    let root = Scratch::new("rtrec-pacing");
    let clock = ManualClock::new(T0);
    let (alice, _a) = start("alice", None, &clock);
    let (bob, events) = start("bob", Some(&*root), &clock);
    recording_start(&bob, "paced", "").expect("start");
    for i in 0..4 {
        let channel_id = if i == 2 { "skip" } else { "c" };
        unwrap(&bob, &wrap(&alice, channel_id, &format!("p{i}"), b"x"));
        clock.advance(1000);
    }
    recording_stop(&bob, "paced").expect("stop");
    let _ = events.try_iter().count();

    // Twice the recorded pace: the second message is due 500 ms after the first.
    replay_start(
        &bob,
        "paced",
        r#"{"rate": 2, "exclude": ["skip"], "remap": {"c": "sim"}}"#,
    )
    .expect("replay");
    let next = |events: &Receiver<RuntimeEvent>, within: Duration| loop {
        match events.recv_timeout(within) {
            Ok(RuntimeEvent::ReplayMessage {
                channel_id,
                message,
                ..
            }) => break Some((channel_id, message.message_id)),
            Ok(RuntimeEvent::ReplayFinished { .. }) => break None,
            Ok(_) => {}
            Err(_) => break None,
        }
    };
    assert_eq!(next(&events, WAIT), Some(("sim".into(), "p0".into())));
    // The clock has not moved: nothing more is due.
    assert_eq!(next(&events, Duration::from_millis(100)), None);
    clock.advance(499);
    assert_eq!(next(&events, Duration::from_millis(100)), None);
    clock.advance(1);
    assert_eq!(next(&events, WAIT), Some(("sim".into(), "p1".into())));
    // p2 is excluded; p3 is due 1500 ms after p0.
    clock.advance(1000);
    assert_eq!(next(&events, WAIT), Some(("sim".into(), "p3".into())));
    match events.recv_timeout(WAIT).expect("finished") {
        RuntimeEvent::ReplayFinished {
            messages,
            cancelled,
            ..
        } => {
            assert_eq!((messages, cancelled), (3, false));
        }
        other => panic!("{other:?}"),
    }

    // A looping replay runs until stopped; stop cancels it at once, mid-wait.
    let id = replay_start(&bob, "paced", r#"{"loop": true}"#).expect("replay");
    assert_eq!(next(&events, WAIT), Some(("c".into(), "p0".into())));
    ask(&bob, |reply| Request::ReplayStop {
        replay_id: id,
        reply,
    })
    .expect("stop");
    let cancelled = loop {
        if let RuntimeEvent::ReplayFinished { cancelled, .. } =
            events.recv_timeout(WAIT).expect("e")
        {
            break cancelled;
        }
    };
    assert!(cancelled);
    let err = ask(&bob, |reply| Request::ReplayStop {
        replay_id: id,
        reply,
    });
    assert_eq!(
        err,
        Err(RequestError::Recording(RecordingError::NoSuchReplay(id)))
    );
    drop((alice, bob));
}

#[test]
fn recording_requests_refuse_clearly() {
    let clock = ManualClock::new(T0);
    let (off, _e) = start("x", None, &clock);
    assert_eq!(
        recording_start(&off, "r", ""),
        Err(RequestError::Recording(RecordingError::NotConfigured))
    );
    let root = Scratch::new("rtrec-refuse");
    let (ctx, _e) = start("x", Some(&*root), &clock);
    for name in ["../up", "", ".."] {
        let err = recording_start(&ctx, name, "").expect_err("bad name");
        assert!(
            err.to_string().starts_with("invalid recording name"),
            "{err}"
        );
    }
    let err = recording_start(&ctx, "r", r#"{"mode": "tape"}"#).expect_err("bad option");
    assert!(err.to_string().contains("`mode`"), "{err}");
    recording_start(&ctx, "r", "").expect("start");
    let err = recording_start(&ctx, "r", "").expect_err("twice");
    assert_eq!(
        err,
        RequestError::Recording(RecordingError::AlreadyActive("r".into()))
    );
    let err = ask(&ctx, |reply| Request::RecordingDelete {
        name: "r".into(),
        reply,
    });
    assert_eq!(
        err,
        Err(RequestError::Recording(RecordingError::AlreadyActive(
            "r".into()
        )))
    );
    let err = ask(&ctx, |reply| Request::RecordingSeal {
        name: "r".into(),
        out_name: None,
        reply,
    });
    assert_eq!(
        err,
        Err(RequestError::Recording(RecordingError::NotRing("r".into())))
    );
    assert!(matches!(
        verify(&ctx, "nope"),
        Err(RequestError::Recording(RecordingError::NotFound(_)))
    ));
    assert!(matches!(
        recording_stop(&ctx, "nope"),
        Err(RequestError::Recording(RecordingError::NotActive(_)))
    ));
    // Freeing the context finishes the recording: its manifest has an end time.
    drop(ctx);
    let manifest = Manifest::read(&root.join("r")).expect("manifest");
    assert!(manifest.end_time_ns.is_some());
}

#[test]
fn ring_recording_through_the_runtime() {
    let root = Scratch::new("rtrec-ring");
    let clock = ManualClock::new(T0);
    let (alice, _a) = start("alice", None, &clock);
    let (bob, _b) = start("bob", Some(&*root), &clock);
    recording_start(&bob, "ring", r#"{"mode": "ring", "window_secs": 2}"#).expect("start");
    for i in 0..10 {
        unwrap(&bob, &wrap(&alice, "c", &format!("r{i}"), b"payload"));
        clock.advance(500);
    }
    let manifest: Manifest = ask(&bob, |reply| Request::RecordingSeal {
        name: "ring".into(),
        out_name: Some("incident-1".into()),
        reply,
    })
    .expect("seal");
    // Delivered at 0, 500, ... 4500 ms: a 2 s window ending at 4500 keeps 2500..=4500.
    assert_eq!(manifest.message_count(), 5);
    assert!(verify(&bob, "incident-1").expect("verify").ok);
    drop((alice, bob));
}

/// Runs test `name` of this binary as a child process, which is meaningful only with
/// `env` set to `root`; returns it and its stdout.
fn spawn_child(name: &str, env: &str, root: &Path) -> (Child, ChildStdout) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(env, root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("stdout");
    (child, stdout)
}

/// Run as a child process by `a_killed_recorder_is_recovered_on_restart`: records as fast
/// as it can, says when two chunk files are sealed, and goes on until killed.
#[test]
fn crash_child() {
    let Ok(root) = std::env::var(CRASH_ENV) else {
        return; // Only meaningful as the child.
    };
    let root = PathBuf::from(root);
    let clock = ManualClock::new(T0);
    let (alice, _a) = start("alice", None, &clock);
    let (bob, _b) = start("bob", Some(&*root), &clock);
    recording_start(&bob, "crash", r#"{"chunk_max_bytes": 200000}"#).expect("start");
    let mut announced = false;
    for i in 0u64.. {
        let content: Vec<u8> = (0..1024u64)
            .map(|b| (b.wrapping_mul(i | 1) >> 3) as u8)
            .collect();
        unwrap(&bob, &wrap(&alice, "c", &format!("k{i}"), &content));
        clock.advance(1);
        if !announced && i % 100 == 0 {
            let sealed = Manifest::read(&root.join("crash")).map_or(0, |m| m.chunks.len());
            if sealed >= 2 {
                println!("SEALED");
                announced = true;
            }
        }
    }
}

#[test]
fn a_killed_recorder_is_recovered_on_restart() {
    let root = Scratch::new("rtrec-crash");
    let (mut child, stdout) = spawn_child("crash_child", CRASH_ENV, &root);
    let announced = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("SEALED"));
    assert!(announced, "the child never sealed two chunks");
    let chunks = root.join("crash").join(CHUNKS_DIR);
    let count_active = || {
        fs::read_dir(&chunks)
            .map(|dir| {
                dir.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".active"))
                    .count()
            })
            .unwrap_or(0)
    };
    // Kill while a file is being written, so recovery has one to act on; a kill that
    // still lands between a seal and the next file (a window of microseconds) leaves none.
    let deadline = std::time::Instant::now() + WAIT;
    while count_active() == 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    child.wait().expect("reaped");
    let killed_mid_file = count_active() > 0;
    let before = Manifest::read(&root.join("crash")).expect("manifest survives");
    assert!(
        before.end_time_ns.is_none(),
        "the child was killed mid-recording"
    );

    // Restarting a context on the same root recovers the recording.
    let clock = ManualClock::new(T0);
    let (ctx, events) = start("bob", Some(&*root), &clock);
    assert_eq!(count_active(), 0, "no active file is left behind");
    let report = verify(&ctx, "crash").expect("verify");
    assert!(report.ok, "{report:?}");
    // Emitted before the worker ran any request, so already here.
    let recovered: Vec<_> = events
        .try_iter()
        .filter_map(|e| match e {
            RuntimeEvent::RecordingRecovered(action) => Some(action),
            _ => None,
        })
        .collect();
    // Whether the cut-short file held a complete MCAP chunk depends on when it was killed.
    assert!(
        !killed_mid_file
            || recovered.iter().any(|a| a.recording == "crash"
                && a.file.ends_with(".active")
                && matches!(a.action, "recovered" | "quarantined")),
        "{recovered:?}"
    );
    let after = Manifest::read(&root.join("crash")).expect("manifest");
    assert!(after.end_time_ns.is_some());
    assert!(after.chunks.len() >= before.chunks.len());
    assert_eq!(
        after.chunks[..before.chunks.len()],
        before.chunks[..],
        "sealed chunks kept"
    );
    // Every recorded message replays.
    let _ = replay_start(&ctx, "crash", r#"{"rate": 0}"#).expect("replay");
    drop(ctx);
}

/// The recording `loss_window_child` makes: its flush interval, and the pause between
/// two messages (a steady 200 messages/s of 100-byte content: a few seconds of it stay
/// far below one full 768 KiB MCAP chunk, so only flushes put messages in the file).
const LOSS_WINDOW_FLUSH_MS: u64 = 1000;
const LOSS_WINDOW_PAUSE: Duration = Duration::from_millis(5);

/// Run as a child process by `what_a_sigkill_loses_is_bounded_by_the_flush_interval`:
/// records at a steady rate on the wall clock, with the default flush interval, printing
/// `recorded <i> at <unix_ms>` once message `k<i>` was handed to the recorder, until
/// killed.
#[test]
fn loss_window_child() {
    let Ok(root) = std::env::var(LOSS_WINDOW_ENV) else {
        return; // Only meaningful as the child.
    };
    let context = |config: String| {
        let config = ContextConfig::from_json(&config).expect("config");
        let (tx, rx) = channel();
        let ctx = Context::start(config, Arc::new(SystemClock), Box::new(ChannelSink(tx)));
        (ctx.expect("context starts"), rx)
    };
    let (alice, _a) = context(r#"{"participant_id": "alice"}"#.into());
    // The default flush interval, spelled out so the parent's margin matches it.
    let (bob, _b) = context(format!(
        r#"{{"participant_id": "bob",
            "recording": {{"root": "{root}", "flush_interval_ms": {LOSS_WINDOW_FLUSH_MS}}}}}"#
    ));
    recording_start(&bob, "steady", "").expect("start");
    for i in 0u64.. {
        let content: Vec<u8> = (0..100u64).map(|b| (b * 7 + i) as u8).collect();
        // The recorder has the message once the unwrap is answered (it is queued on
        // delivery, before the answer).
        unwrap(&bob, &wrap(&alice, "c", &format!("k{i}"), &content));
        println!("recorded {i} at {}", SystemClock.now_ms());
        std::thread::sleep(LOSS_WINDOW_PAUSE);
    }
}

#[test]
fn what_a_sigkill_loses_is_bounded_by_the_flush_interval() {
    // Generous, so a loaded machine cannot make it fail: everything recorded more than
    // the flush interval plus this before the kill must have survived.
    const MARGIN_MS: u64 = 4000;
    let root = Scratch::new("rtrec-loss-window");
    let (mut child, stdout) = spawn_child("loss_window_child", LOSS_WINDOW_ENV, &root);
    // (index, unix ms) of each message the child reported. Killed once it has recorded
    // for 2 s longer than the window that must survive, so there is something to check,
    // plus a part of a flush interval that varies from run to run: flushes follow the
    // first message's time, and a kill in step with them would always look lucky.
    let phase_ms = SystemClock.now_ms() % LOSS_WINDOW_FLUSH_MS;
    let run_for_ms = LOSS_WINDOW_FLUSH_MS + MARGIN_MS + 2000 + phase_ms;
    let mut recorded: Vec<(u64, u64)> = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        // libtest may print its `test ... ` prefix on the first line.
        let Some((i, at)) = line
            .split_once("recorded ")
            .and_then(|(_, rest)| rest.split_once(" at "))
            .and_then(|(i, at)| Some((i.parse().ok()?, at.trim().parse().ok()?)))
        else {
            continue;
        };
        recorded.push((i, at));
        if at.saturating_sub(recorded[0].1) >= run_for_ms {
            break;
        }
    }
    let killed_at = SystemClock.now_ms();
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix.
    child.wait().expect("reaped");
    assert!(
        recorded.len() > 100,
        "the child reported {} messages",
        recorded.len()
    );
    let before = Manifest::read(&root.join("steady")).expect("manifest");
    assert!(
        before.chunks.is_empty() && before.end_time_ns.is_none(),
        "the chunk file was still being written: only flushes can save its messages"
    );

    // A fresh context on the same root runs crash recovery; replay reads what it saved.
    let clock = ManualClock::new(T0);
    let (ctx, events) = start("bob", Some(&*root), &clock);
    assert!(verify(&ctx, "steady").expect("verify").ok);
    replay_start(&ctx, "steady", r#"{"rate": 0}"#).expect("replay");
    let (replayed, _, _) = replayed(&events);
    let ids: Vec<String> = replayed.into_iter().map(|(_, id, ..)| id).collect();
    // Flushed chunks are appended in order: what survives is a prefix.
    let expected: Vec<String> = (0..ids.len()).map(|i| format!("k{i}")).collect();
    assert_eq!(ids, expected);
    let survived = ids.len() as u64;
    let must_survive = recorded
        .iter()
        .filter(|(_, at)| *at + LOSS_WINDOW_FLUSH_MS + MARGIN_MS <= killed_at)
        .count() as u64;
    assert!(must_survive > 0, "{recorded:?}");
    assert!(
        survived >= must_survive,
        "{survived} messages survived; {must_survive} were recorded more than \
         {LOSS_WINDOW_FLUSH_MS} + {MARGIN_MS} ms before the kill"
    );
    // The loss window: how long before the kill the first lost message was recorded.
    match recorded.iter().find(|(i, _)| *i == survived) {
        Some((_, at)) => println!(
            "SIGKILL lost messages recorded in the last {} ms before the kill \
             ({} reported ones; flush interval {LOSS_WINDOW_FLUSH_MS} ms)",
            killed_at.saturating_sub(*at),
            recorded.iter().filter(|(i, _)| *i >= survived).count()
        ),
        None => println!(
            "SIGKILL lost only messages recorded less than {} ms before the kill",
            killed_at.saturating_sub(recorded.last().map_or(killed_at, |(_, at)| *at))
        ),
    }
    drop(ctx);
}

#[test]
fn a_writer_failure_stops_the_recording_with_an_event_and_keeps_what_was_sealed() {
    let root = Scratch::new("rtrec-failure");
    let clock = ManualClock::new(T0);
    let (alice, _a) = start("alice", None, &clock);
    let (bob, events) = start("bob", Some(&*root), &clock);
    recording_start(&bob, "f", r#"{"chunk_max_age_ms": 1000}"#).expect("start");
    for i in 0..3 {
        unwrap(&bob, &wrap(&alice, "c", &format!("ok{i}"), b"sealed"));
        clock.advance(600);
    }
    // The second message rolled the first file; the third is in the open one. Pull the
    // chunks folder away (as a lost mount would): the next file cannot be created.
    let chunks = root.join("f").join(CHUNKS_DIR);
    let deadline = std::time::Instant::now() + WAIT;
    let sealed = loop {
        // The recorder thread seals on its own time: wait for its manifest update.
        let chunks = Manifest::read(&root.join("f")).expect("manifest").chunks;
        if !chunks.is_empty() || std::time::Instant::now() > deadline {
            break chunks;
        }
        std::thread::yield_now();
    };
    assert_eq!(sealed.len(), 1);
    let kept = root.join("kept-chunks");
    fs::rename(&chunks, &kept).expect("move chunks away");
    let deadline = std::time::Instant::now() + WAIT;
    let message = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no recording_failed event"
        );
        clock.advance(1000);
        unwrap(&bob, &wrap(&alice, "c", "more", b"lost"));
        if let Some(message) = events.try_iter().find_map(|e| match e {
            RuntimeEvent::RecordingFailed { name, message } if name == "f" => Some(message),
            _ => None,
        }) {
            break message;
        }
    };
    assert!(message.contains("chunks"), "{message}");
    let err = recording_stop(&bob, "f").expect_err("the recorder failed");
    assert!(err.to_string().contains("chunks"), "{err}");
    // What was sealed before the failure is intact.
    fs::rename(&kept, &chunks).expect("put back");
    let manifest = Manifest::read(&root.join("f")).expect("manifest");
    assert_eq!(manifest.chunks[..1], sealed[..]);
    drop((alice, bob));
}

/// A recorder the worker is waiting on (block policy, full queue) must still be able to
/// hand its results back while the host floods the request queue: no deadlock.
#[test]
fn seals_complete_while_the_worker_waits_on_a_full_recorder_queue() {
    let root = Scratch::new("rtrec-flood");
    let clock = ManualClock::new(T0);
    let (alice, _a) = start("alice", None, &clock);
    let config = ContextConfig::from_json(&format!(
        r#"{{"participant_id": "bob", "request_queue_capacity": 1,
            "recording": {{"root": "{}", "queue_capacity": 1, "when_full": "block"}}}}"#,
        root.display()
    ))
    .expect("config");
    let (tx, _events) = channel();
    let bob =
        Context::start(config, Arc::new(clock.clone()), Box::new(ChannelSink(tx))).expect("bob");
    recording_start(&bob, "ring", r#"{"mode": "ring"}"#).expect("start");
    let wire: Vec<Vec<u8>> = (0..300)
        .map(|i| wrap(&alice, "c", &format!("f{i}"), &[7; 2000]))
        .collect();
    let (done_tx, done_rx) = channel();
    for round in 0..20 {
        // Seals (each writes the whole window) interleaved with a flood of deliveries.
        let done = done_tx.clone();
        bob.submit(Request::RecordingSeal {
            name: "ring".into(),
            out_name: Some(format!("copy-{round}")),
            reply: Reply::new(move |r: Result<Manifest, RequestError>| {
                let _ = done.send(r.is_ok());
            }),
        });
        for bytes in &wire[round * 15..round * 15 + 15] {
            bob.submit(Request::Unwrap {
                bytes: bytes.clone(),
                reply: Reply::new(|_| {}),
            });
        }
    }
    for _ in 0..20 {
        assert!(done_rx.recv_timeout(WAIT).expect("every seal answers"));
    }
    drop((alice, bob));
}

#[test]
fn recovery_actions_reach_the_host_as_events_before_the_autostart() {
    let root = Scratch::new("rtrec-recovered-events");
    let clock = ManualClock::new(T0);
    let (ctx, _e) = start("bob", Some(&*root), &clock);
    recording_start(&ctx, "crashed", "").expect("start");
    recording_stop(&ctx, "crashed").expect("stop");
    drop(ctx);
    // A writer killed before its first MCAP chunk was complete leaves such a file.
    let chunks = root.join("crashed").join(CHUNKS_DIR);
    fs::write(
        chunks.join(".chunk-000003.mcap.active"),
        b"\x89MCAP0\r\ngarbage",
    )
    .expect("w");

    let config = autostart_config("bob", &root, r#"{"name": "next"}"#);
    let (ctx, events) = start_configured(&config, &clock).expect("starts");
    let first = events.recv_timeout(WAIT).expect("recovery event");
    let RuntimeEvent::RecordingRecovered(action) = first else {
        panic!("expected recording_recovered first, got {first:?}");
    };
    assert_eq!(action.recording, "crashed");
    assert_eq!(action.file, ".chunk-000003.mcap.active");
    assert_eq!(action.action, "quarantined");
    assert_eq!(action.messages, 0);
    assert!(!action.detail.is_empty());
    assert!(root
        .join("crashed/quarantine/chunk-000003.mcap.active")
        .exists());
    assert_eq!(
        events.recv_timeout(WAIT).expect("started event"),
        RuntimeEvent::RecordingStarted {
            name: format!("next-{T0}")
        }
    );
    // Reported once: a restart finds nothing more to recover.
    drop(ctx);
    let (_ctx, events) = start("bob", Some(&*root), &clock);
    assert!(events.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn autostart_records_like_an_api_started_recording() {
    let root = Scratch::new("rtrec-autostart");
    let clock = ManualClock::new(T0);
    let (alice, _a) = start("alice", None, &clock);
    let config = autostart_config(
        "bob",
        &root,
        r#"{"name": "bob-run", "channels": ["b"], "chunk_max_age_ms": 500}"#,
    );
    let (bob, events) = start_configured(&config, &clock).expect("bob starts");
    let name = format!("bob-run-{T0}");
    assert_eq!(
        events.recv_timeout(WAIT).expect("started"),
        RuntimeEvent::RecordingStarted { name: name.clone() }
    );
    for i in 0..30u64 {
        let channel_id = if i % 3 == 0 { "a" } else { "b" };
        unwrap(
            &bob,
            &wrap(&alice, channel_id, &format!("m{i}"), b"payload"),
        );
        clock.advance(100);
    }
    let listed: Vec<ListedRecording> =
        ask(&bob, |reply| Request::RecordingsList { reply }).expect("list");
    assert!(
        listed.iter().any(|r| r.name == name && r.active),
        "{listed:?}"
    );
    assert_eq!(
        recording_start(&bob, &name, ""),
        Err(RequestError::Recording(RecordingError::AlreadyActive(
            name.clone()
        )))
    );
    let summary = recording_stop(&bob, &name).expect("stopped by its generated name");
    assert_eq!(
        (summary.written, summary.dropped),
        (20, 0),
        "channel b only"
    );
    assert!(verify(&bob, &name).expect("verify").ok);
    drop(bob);

    // A restart later records into a new recording, next to the first.
    clock.advance(5_000);
    let (bob, events) = start_configured(&config, &clock).expect("bob restarts");
    let second = format!("bob-run-{}", clock.now_ms());
    assert_eq!(
        events.recv_timeout(WAIT).expect("started"),
        RuntimeEvent::RecordingStarted {
            name: second.clone()
        }
    );
    let listed: Vec<ListedRecording> =
        ask(&bob, |reply| Request::RecordingsList { reply }).expect("list");
    let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, [name.as_str(), second.as_str()]);
    drop((alice, bob));
}

#[test]
fn an_autostart_that_cannot_start_fails_the_context_naming_the_recording() {
    let clock = ManualClock::new(T0);
    let root = Scratch::new("rtrec-autostart-taken");
    // The name the autostart generates is already taken.
    fs::create_dir(root.join(format!("lost-{T0}"))).expect("taken");
    let config = autostart_config("bob", &root, r#"{"name": "lost"}"#);
    let err = start_configured(&config, &clock).expect_err("refused");
    assert!(
        matches!(&err, ContextError::Autostart { name, error: RecordingError::AlreadyExists(_) }
            if *name == format!("lost-{T0}")),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&format!("`lost-{T0}`")), "{message}");
    assert!(message.contains("recording.autostart"), "{message}");
    assert!(message.contains("already exists"), "{message}");
}

#[test]
fn a_recordings_root_that_is_not_an_existing_folder_is_refused_at_creation() {
    let clock = ManualClock::new(T0);
    let scratch = Scratch::new("rtrec-root-refused");
    let missing = scratch.join("not-made");
    let config = |root: &Path| {
        format!(
            r#"{{"participant_id": "x", "recording": {{"root": "{}"}}}}"#,
            root.display()
        )
    };
    let err = start_configured(&config(&missing), &clock).expect_err("missing root");
    assert!(
        matches!(
            &err,
            ContextError::RecordingRoot(RecordingError::RootMissing(_))
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.starts_with("recording.root: "), "{message}");
    assert!(message.contains("does not exist"), "{message}");
    assert!(
        !missing.exists(),
        "the root is not made on the host's behalf"
    );

    let file = scratch.join("a-file");
    fs::write(&file, b"not a folder").expect("file");
    let err = start_configured(&config(&file), &clock).expect_err("file root");
    assert!(
        matches!(
            &err,
            ContextError::RecordingRoot(RecordingError::RootNotDirectory(_))
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("is not a directory"), "{err}");
}
