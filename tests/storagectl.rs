//! `storagectl`, the operator's tool, run as a process on recordings the library wrote:
//! listing, verifying (exit status 1 on damage, with an anchored head too), showing,
//! printing and replaying messages with filters, the audit log, and the exit statuses
//! scripts rely on (0 well, 1 damaged, 2 usage, 3 unreadable). And on state databases
//! the SQLite backend wrote: `state inspect` shows each channel's clock, history, buffers,
//! repairs and met ids, reports damaged rows (1), refuses what is missing or not a state
//! database (3), and never changes the file or creates one.

#[path = "common/managers.rs"]
mod managers;
#[path = "common/messages.rs"]
mod messages;
#[path = "common/recordings.rs"]
mod recordings;
#[path = "common/scratch.rs"]
mod scratch;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use managers::T0;
use messages::sds_message;
use recordings::{exclusive, record};
use scratch::Scratch;
use serde_json::Value;
use storage::persistence::{
    encode_channel_meta, Persistence, PersistentManager, SqliteStore, Synchronous,
};
use storage::protocol::{
    ChannelMeta, HistoryEntry, IncomingRepair, OutgoingRepair, SdsMessage, UnwrapStatus,
};
use storage::recording::{Manifest, Store, CHUNKS_DIR};

/// Runs `storagectl args...` on recordings root `root`.
fn storagectl(root: &Path, args: &[&str]) -> Output {
    let _spawning = exclusive();
    Command::new(env!("CARGO_BIN_EXE_storagectl"))
        .args(args)
        .env("STORAGE_RECORDINGS_ROOT", root)
        .output()
        .expect("storagectl runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// `count` messages, alternately on channels "a" and "b", 64 bytes of content each.
fn messages(count: u64) -> Vec<SdsMessage> {
    (0..count)
        .map(|i| {
            let channel = if i % 2 == 0 { "a" } else { "b" };
            sds_message(channel, &format!("m{i}"), i as i64 + 1, &[i as u8; 64])
        })
        .collect()
}

/// A root with recordings "one" (40 messages, several chunk files) and "two".
fn two_recordings(name: &str) -> Scratch {
    let root = Scratch::new(name);
    record(&root, "one", &messages(40), r#"{"chunk_max_age_ms": 10}"#);
    record(&root, "two", &messages(3), "{}");
    root
}

#[test]
fn list_shows_every_recording_in_text_and_in_json() {
    let root = two_recordings("ctl-list");
    let out = storagectl(&root, &["list"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("one") && text.contains("two") && text.contains("sealed"),
        "{text}"
    );

    let out = storagectl(&root, &["list", "--json"]);
    assert!(out.status.success());
    let doc = &json_lines(&out)[0];
    let names: Vec<&str> = doc["recordings"]
        .as_array()
        .expect("recordings")
        .iter()
        .map(|r| r["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["one", "two"]);
    assert_eq!(doc["recordings"][0]["manifest"]["participant"], "alice");
}

#[test]
fn verify_exits_1_on_a_corrupt_chunk_and_names_it() {
    let root = two_recordings("ctl-verify");
    let out = storagectl(&root, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let manifest = Manifest::read(&root.join("one")).expect("manifest");
    assert!(
        manifest.chunks.len() >= 2,
        "{} chunks",
        manifest.chunks.len()
    );
    let victim = root
        .join("one")
        .join(CHUNKS_DIR)
        .join(&manifest.chunks[1].file);
    let mut bytes = fs::read(&victim).expect("chunk");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    fs::write(&victim, bytes).expect("write");

    let out = storagectl(&root, &["verify"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        stdout(&out).contains(&manifest.chunks[1].file),
        "{}",
        stdout(&out)
    );
    // Only the damaged one fails; the other is still reported intact.
    let out = storagectl(&root, &["verify", "two"]);
    assert_eq!(out.status.code(), Some(0));

    let verdicts = json_lines(&storagectl(&root, &["verify", "--json"]));
    assert_eq!(verdicts.len(), 2);
    assert_eq!(verdicts[0]["ok"], false);
    assert_eq!(verdicts[0]["chunks"][1]["status"], "corrupt");
    assert_eq!(verdicts[1]["ok"], true);
}

#[test]
fn verify_checks_an_anchored_head() {
    let root = two_recordings("ctl-anchor");
    let head = Manifest::read(&root.join("one"))
        .expect("manifest")
        .head
        .expect("chained");
    let out = storagectl(&root, &["verify", "one", "--anchor", &head, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json_lines(&out)[0]["chain"]["anchor"], "head");

    let elsewhere = "ab".repeat(32);
    let out = storagectl(&root, &["verify", "one", "--anchor", &elsewhere, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out)[0]["chain"]["anchor"], "mismatch");

    // An anchor belongs to one recording.
    let out = storagectl(&root, &["verify", "--anchor", &head]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn messages_print_json_lines_filtered_trimmed_and_limited() {
    let root = two_recordings("ctl-messages");
    let all = json_lines(&storagectl(&root, &["messages", "one"]));
    assert_eq!(all.len(), 40);
    let ids: Vec<&str> = all
        .iter()
        .map(|m| m["messageId"].as_str().unwrap_or(""))
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(all[0]["channelId"], "a");
    assert_eq!(all[0]["lamportTimestamp"], 1);

    let only_b = json_lines(&storagectl(&root, &["messages", "one", "--channel", "b"]));
    assert_eq!(only_b.len(), 20);
    assert!(only_b.iter().all(|m| m["channelId"] == "b"));

    // Log times are 1 ms apart from the clock's start: trim to messages 10..=19.
    let since = all[10]["logTimeNs"].as_u64().expect("time").to_string();
    let until = all[19]["logTimeNs"].as_u64().expect("time").to_string();
    let window = json_lines(&storagectl(
        &root,
        &["messages", "one", "--since", &since, "--until", &until],
    ));
    assert_eq!(window.len(), 10);
    assert_eq!(window[0]["messageId"], "m10");

    let limited = json_lines(&storagectl(&root, &["messages", "one", "--limit", "3"]));
    assert_eq!(limited.len(), 3);

    // At rate 0 a replay paces nothing and prints what `messages` prints.
    let replayed = json_lines(&storagectl(&root, &["replay", "one", "--rate", "0"]));
    assert_eq!(replayed, all);
    // Paced (40 ms of log time at 100 times the pace), the same lines.
    let paced = json_lines(&storagectl(&root, &["replay", "one", "--rate", "100"]));
    assert_eq!(paced, all);
}

#[test]
fn show_counts_each_channel() {
    let root = two_recordings("ctl-show");
    let out = storagectl(&root, &["show", "one", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let doc = &json_lines(&out)[0];
    assert_eq!(doc["channels"]["a"]["messages"], 20);
    assert_eq!(doc["channels"]["b"]["contentBytes"], 20 * 64);
    assert_eq!(doc["manifest"]["name"], "one");
    assert!(stdout(&storagectl(&root, &["show", "one"])).contains("chain head:"));
}

#[test]
fn audit_lists_records_by_actor_and_detects_an_edited_log() {
    let locking = exclusive();
    let root = two_recordings("ctl-audit");
    let store = Store::new(&root);
    store
        .supersede(
            "two",
            None,
            Some("one"),
            "operator-7",
            "replaced",
            1_800_000_000_000_000_000,
        )
        .expect("supersede");
    store
        .supersede(
            "one",
            Some(0),
            None,
            "robot-1",
            "bad sector",
            1_800_000_001_000_000_000,
        )
        .expect("supersede chunk");
    drop(locking);

    let out = storagectl(&root, &["audit", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = &json_lines(&out)[0];
    assert_eq!(doc["records"].as_array().map(Vec::len), Some(2));
    assert_eq!(doc["verdict"]["status"], "ok");

    let mine = json_lines(&storagectl(
        &root,
        &["audit", "--actor", "operator-7", "--json"],
    ));
    assert_eq!(mine[0]["records"][0]["recording"], "two");
    assert_eq!(mine[0]["records"].as_array().map(Vec::len), Some(1));
    let later = json_lines(&storagectl(
        &root,
        &["audit", "--since", "2027-01-15T08:00:00.5Z", "--json"],
    ));
    assert_eq!(later[0]["records"][0]["reason"], "bad sector");

    // The listing says who retired "two".
    assert!(stdout(&storagectl(&root, &["list"])).contains("superseded by operator-7"));

    let log = root.join(storage::recording::AUDIT_FILE);
    let text = fs::read_to_string(&log).expect("audit log");
    fs::write(&log, text.replace("replaced", "misplaced")).expect("edit");
    let out = storagectl(&root, &["audit"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stdout(&out).contains("broken"), "{}", stdout(&out));
}

#[test]
fn exit_statuses_for_missing_files_and_bad_usage() {
    let root = two_recordings("ctl-status");
    let out = storagectl(&root, &["show", "nothing-here"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing-here"));
    let out = storagectl(&root.join("absent"), &["list"]);
    assert_eq!(out.status.code(), Some(3));
    let out = storagectl(&root, &["verify", "one", "nothing-here"]);
    assert_eq!(out.status.code(), Some(3));

    assert_eq!(storagectl(&root, &["frobnicate"]).status.code(), Some(2));
    assert_eq!(storagectl(&root, &["messages"]).status.code(), Some(2));
    assert_eq!(
        storagectl(&root, &["audit", "--since", "yesterday"])
            .status
            .code(),
        Some(2)
    );
    for rate in ["--rate=-1", "--rate=NaN", "--rate=inf"] {
        assert_eq!(
            storagectl(&root, &["replay", "one", rate]).status.code(),
            Some(2)
        );
    }
    let commands = [
        "list", "verify", "show", "messages", "replay", "audit", "upload",
    ];
    for command in commands.into_iter().chain(["reconcile", "restore"]) {
        let out = storagectl(&root, &[command, "--help"]);
        assert!(out.status.success(), "{command} --help: {out:?}");
        assert!(stdout(&out).contains("--root"), "{command}");
    }
}

/// Runs `storagectl state inspect --db db args...`.
fn inspect(db: &Path, args: &[&str]) -> Output {
    let db = db.to_str().expect("a UTF-8 scratch path");
    let mut all = vec!["state", "inspect", "--db", db];
    all.extend_from_slice(args);
    storagectl(Path::new("/nonexistent"), &all)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The names in `dir`, sorted: what a command must not add to.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Bob's state database after talking with alice on "chan": alice's `a1` delivered,
/// her `a3` buffered (it waits for `a2`, never received), his own `b1` and `b2` sent and
/// not acknowledged; `o1` on "other"; and on "repairs" a meta saved whole with one repair
/// of each direction and two met ids. Returns the database and bob's metas of "chan"
/// and "other", as the manager holds them.
fn bobs_database(dir: &Scratch) -> (std::path::PathBuf, ChannelMeta, ChannelMeta) {
    let path = dir.file("state.db");
    let store = SqliteStore::open(&path, Synchronous::Full).expect("store");
    let mut bob = PersistentManager::new(managers::manager("bob"), Box::new(store));
    let mut alice = managers::manager("alice");
    let a1 = alice.wrap(T0, "chan", "a1", b"hello bob").expect("a1");
    let _a2 = alice.wrap(T0, "chan", "a2", b"lost").expect("a2");
    let a3 = alice
        .wrap(T0, "chan", "a3", b"third, buffered")
        .expect("a3");
    assert_eq!(
        bob.unwrap(T0, &a1).expect("a1").status,
        UnwrapStatus::Delivered
    );
    assert_eq!(
        bob.unwrap(T0 + 1, &a3).expect("a3").status,
        UnwrapStatus::Buffered
    );
    bob.wrap(T0 + 2, "chan", "b1", b"twelve bytes").expect("b1");
    bob.wrap(T0 + 3, "chan", "b2", b"22 bytes of content...")
        .expect("b2");
    bob.wrap(T0 + 4, "other", "o1", b"elsewhere").expect("o1");
    let chan = bob.manager().channel_meta("chan").expect("chan");
    let other = bob.manager().channel_meta("other").expect("other");
    drop(bob);

    let repairs = ChannelMeta {
        lamport_timestamp: 77,
        outgoing_repair: vec![OutgoingRepair {
            entry: HistoryEntry {
                sender_id: "carol".into(),
                ..HistoryEntry::new("lost-1")
            },
            min_time_ms: T0 + 500,
        }],
        incoming_repair: vec![IncomingRepair {
            entry: HistoryEntry::new("asked-1"),
            cached_message: vec![7; 40],
            min_time_ms: T0 + 900,
        }],
        met_ids: vec!["met-1".into(), "met-2".into()],
        ..ChannelMeta::default()
    };
    let mut store = SqliteStore::open(&path, Synchronous::Full).expect("store");
    store
        .save_channel_meta("repairs", &encode_channel_meta(&repairs))
        .expect("saved");
    drop(store);
    (path, chan, other)
}

fn ids<T>(list: &Value, key: &str, expected: impl IntoIterator<Item = T>) -> bool
where
    T: AsRef<str>,
{
    let got: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e[key].as_str().expect("an id"))
        .collect();
    let expected: Vec<String> = expected
        .into_iter()
        .map(|e| e.as_ref().to_owned())
        .collect();
    got == expected
}

#[test]
fn state_inspect_shows_every_channel_without_changing_the_file() {
    let dir = Scratch::new("ctl-state");
    let (path, chan, other) = bobs_database(&dir);
    assert!(!chan.outgoing.is_empty() && !chan.incoming.is_empty());
    let before = (fs::read(&path).expect("db"), listing(&dir));

    let out = inspect(&path, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = &json_lines(&out)[0];
    // The binary prints what the library's inspection finds.
    let summary = storage::persistence::sqlite::inspect(&path).expect("inspect");
    assert_eq!(doc, &serde_json::to_value(&summary).expect("json"));
    assert_eq!(doc["schemaVersion"], 3);
    assert_eq!(doc["integrity"], "ok");
    let channels = &doc["channels"];
    assert!(ids(channels, "channelId", ["chan", "other", "repairs"]));

    let c = &channels[0];
    assert_eq!(c["lamportClock"], chan.lamport_timestamp);
    let outgoing: Vec<&str> = chan
        .outgoing
        .iter()
        .map(|o| o.message.message_id.as_str())
        .collect();
    assert_eq!(outgoing, ["b1", "b2"], "neither is acknowledged");
    assert!(ids(&c["outgoing"], "messageId", &outgoing));
    assert_eq!(c["outgoing"][0]["contentBytes"], 12);
    assert_eq!(c["outgoing"][1]["contentBytes"], 22);
    assert_eq!(c["outgoing"][0]["sendTimeMs"], T0 + 2);
    assert_eq!(c["outgoing"][0]["resendAttempts"], 0);
    assert!(ids(&c["incoming"], "messageId", ["a3"]));
    assert_eq!(c["incoming"][0]["missingDeps"], serde_json::json!(["a2"]));
    assert_eq!(c["incoming"][0]["senderId"], "alice");
    let counts = &c["counts"];
    assert_eq!(counts["historyMessages"], 3, "a1, b1, b2");
    assert!(counts["historyBytes"].as_u64().expect("bytes") > 12 + 22 + 9);
    assert_eq!(
        (counts["outgoing"].as_u64(), counts["incoming"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(counts["damagedRows"], 0);
    assert_eq!(channels[1]["lamportClock"], other.lamport_timestamp);
    assert!(ids(&channels[1]["outgoing"], "messageId", ["o1"]));

    let r = &channels[2];
    assert_eq!(r["lamportClock"], 77);
    assert_eq!(r["outgoingRepair"][0]["messageId"], "lost-1");
    assert_eq!(r["outgoingRepair"][0]["senderId"], "carol");
    assert_eq!(r["outgoingRepair"][0]["dueMs"], T0 + 500);
    assert_eq!(r["incomingRepair"][0]["cachedBytes"], 40);
    assert_eq!(r["metIds"], serde_json::json!(["met-1", "met-2"]));
    assert_eq!(r["counts"]["historyMessages"], 0);

    let totals = &doc["totals"];
    assert_eq!(totals["outgoing"], 3);
    assert_eq!(totals["historyMessages"], 4);
    // Bob asks for the repair of `a2`, which `a3` waits for.
    let repairs_of_chan: Vec<&str> = chan
        .outgoing_repair
        .iter()
        .map(|r| r.entry.message_id.as_str())
        .collect();
    assert_eq!(repairs_of_chan, ["a2"]);
    assert!(ids(&c["outgoingRepair"], "messageId", ["a2"]));
    assert_eq!(
        (
            totals["outgoingRepair"].as_u64(),
            totals["incomingRepair"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(totals["metIds"], 2);

    // Text: one line per channel and the totals.
    let out = inspect(&path, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("schema version 3, integrity ok"), "{text}");
    let line = |start: &str| -> Vec<String> {
        let line = text
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("a line for {start}: {text}"));
        line.split_whitespace().map(str::to_owned).collect()
    };
    let row = line("chan ");
    assert_eq!(row[1], chan.lamport_timestamp.to_string());
    assert_eq!(
        row[2..5],
        ["3", counts["historyBytes"].to_string().as_str(), "2"]
    );
    assert_eq!(row[5..], ["1", "1", "0", "0", "0"]);
    assert_eq!(
        line("repairs ")[1..],
        ["77", "0", "0", "0", "0", "1", "1", "2", "0"]
    );
    let bytes = totals["historyBytes"].to_string();
    assert_eq!(line("total (3 channels)")[3..6], ["-", "4", bytes.as_str()]);

    // One channel in detail.
    let out = inspect(&path, &["--channel", "chan"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("outgoing, unacknowledged: 2"), "{text}");
    assert!(text.contains("    b1  lamport "), "{text}");
    assert!(
        text.contains("12 bytes, sent 2023-11-14T22:13:20.002"),
        "{text}"
    );
    assert!(
        text.contains("    a3  from alice") && text.contains("missing a2"),
        "{text}"
    );
    assert!(!text.contains("o1"), "{text}");
    let out = inspect(&path, &["--channel", "repairs", "--json"]);
    assert!(ids(
        &json_lines(&out)[0]["channels"],
        "channelId",
        ["repairs"]
    ));
    let out = inspect(&path, &["--channel", "nowhere"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stderr(&out).contains("no channel `nowhere`"), "{out:?}");

    // Nothing was written, created or left beside the file.
    assert_eq!((fs::read(&path).expect("db"), listing(&dir)), before);
}

#[test]
fn state_inspect_reads_a_database_in_use_through_its_log() {
    let dir = Scratch::new("ctl-state-live");
    let path = dir.file("state.db");
    let store = SqliteStore::open(&path, Synchronous::Full).expect("store");
    let mut bob = PersistentManager::new(managers::manager("bob"), Box::new(store));
    bob.wrap(T0, "chan", "b1", b"in the log").expect("b1");
    assert!(
        dir.file("state.db-wal").exists(),
        "a context holds its log open"
    );

    let doc = &json_lines(&inspect(&path, &["--json"]))[0];
    assert!(ids(&doc["channels"][0]["outgoing"], "messageId", ["b1"]));
    // The context goes on, unhindered.
    bob.wrap(T0 + 1, "chan", "b2", b"later").expect("b2");
    drop(bob);
    let doc = &json_lines(&inspect(&path, &["--json"]))[0];
    assert!(ids(
        &doc["channels"][0]["outgoing"],
        "messageId",
        ["b1", "b2"]
    ));
}

#[test]
fn state_inspect_reports_a_damaged_row_and_goes_on_with_the_rest() {
    let dir = Scratch::new("ctl-state-damage");
    let (path, _, _) = bobs_database(&dir);
    let conn = rusqlite::Connection::open(&path).expect("open");
    let changed = conn
        .execute(
            "UPDATE outgoing SET crc32 = crc32 + 1 WHERE message_id = 'b1'",
            [],
        )
        .expect("update");
    assert_eq!(changed, 1);
    let changed = conn
        .execute(
            "UPDATE channel_meta SET crc32 = crc32 + 1 WHERE channel_id = 'other'",
            [],
        )
        .expect("update");
    assert_eq!(changed, 1);
    drop(conn);
    let before = fs::read(&path).expect("db");

    let out = inspect(&path, &["--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc = &json_lines(&out)[0];
    let chan = &doc["channels"][0];
    assert_eq!(chan["damaged"][0]["table"], "outgoing");
    assert_eq!(chan["damaged"][0]["messageId"], "b1");
    let problem = chan["damaged"][0]["problem"].as_str().expect("problem");
    assert!(problem.contains("fails its checksum"), "{problem}");
    assert!(
        ids(&chan["outgoing"], "messageId", ["b2"]),
        "the sound rows are read"
    );
    assert_eq!(doc["totals"]["damagedRows"], 2);
    // A damaged header: no clock, but the buffer rows are still read.
    let other = &doc["channels"][1];
    assert_eq!(other["lamportClock"], Value::Null);
    assert_eq!(other["damaged"][0]["table"], "channel_meta");
    assert!(ids(&other["outgoing"], "messageId", ["o1"]));

    let out = inspect(&path, &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(
            "damaged: channel `chan`, `outgoing` row of message `b1`: fails its checksum"
        ),
        "{text}"
    );
    assert!(
        text.contains("damaged: channel `other`, `channel_meta` row of the header: fails"),
        "{text}"
    );
    // Another channel alone is sound.
    assert_eq!(
        inspect(&path, &["--channel", "repairs"]).status.code(),
        Some(0)
    );
    assert_eq!(fs::read(&path).expect("db"), before);
}

#[test]
fn state_inspect_refuses_what_is_missing_or_not_a_state_database() {
    let dir = Scratch::new("ctl-state-refuse");
    let usage = storagectl(&dir, &["state", "inspect"]);
    assert_eq!(usage.status.code(), Some(2), "no --db: {usage:?}");
    let missing = dir.file("missing.db");
    let out = inspect(&missing, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stderr(&out).contains("does not exist"), "{out:?}");
    assert!(
        listing(&dir).is_empty(),
        "nothing created: {:?}",
        listing(&dir)
    );

    let garbage = dir.file("garbage.db");
    fs::write(
        &garbage,
        b"not a database at all, just text that is long enough",
    )
    .expect("write");
    let out = inspect(&garbage, &["--json"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stderr(&out).contains("is not a SQLite database"), "{out:?}");
    assert!(stdout(&out).is_empty());

    let empty = dir.file("empty.db");
    fs::write(&empty, b"").expect("write");
    assert_eq!(inspect(&empty, &[]).status.code(), Some(3));

    let foreign = dir.file("foreign.db");
    let conn = rusqlite::Connection::open(&foreign).expect("foreign");
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .expect("t");
    drop(conn);
    let out = inspect(&foreign, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        stderr(&out).contains("not a libstorage state database"),
        "{out:?}"
    );

    let newer_dir = Scratch::new("ctl-state-newer");
    let (newer, _, _) = bobs_database(&newer_dir);
    let conn = rusqlite::Connection::open(&newer).expect("newer");
    conn.execute_batch("PRAGMA user_version = 99;")
        .expect("bump");
    drop(conn);
    let out = inspect(&newer, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stderr(&out).contains("schema version 99, newer"), "{out:?}");
    // Version 1 had no row checksums: not read, and not migrated either.
    let conn = rusqlite::Connection::open(&newer).expect("older");
    conn.execute_batch("PRAGMA user_version = 1;")
        .expect("lower");
    drop(conn);
    let before = fs::read(&newer).expect("db");
    let out = inspect(&newer, &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        stderr(&out).contains("schema version 1, from before row checksums"),
        "{out:?}"
    );
    assert_eq!(fs::read(&newer).expect("db"), before);

    assert_eq!(
        listing(&dir),
        ["empty.db", "foreign.db", "garbage.db"],
        "nothing beside them"
    );
}

#[test]
fn state_inspect_reads_a_version_2_database_without_migrating_it() {
    let dir = Scratch::new("ctl-state-v2");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sqlite-fixtures/v2.db");
    let path = dir.file("state.db");
    fs::copy(fixture, &path).expect("copy");
    let before = fs::read(&path).expect("db");

    let out = inspect(&path, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = &json_lines(&out)[0];
    assert_eq!(doc["schemaVersion"], 2);
    assert!(ids(&doc["channels"], "channelId", ["chan", "other"]));
    let chan = &doc["channels"][0]["counts"];
    for kind in [
        "outgoing",
        "incoming",
        "outgoingRepair",
        "incomingRepair",
        "metIds",
    ] {
        assert!(chan[kind].as_u64().expect("count") > 0, "{kind}: {chan}");
    }
    assert_eq!(doc["channels"][1]["counts"]["outgoing"], 5);
    let text = stdout(&inspect(&path, &[]));
    assert!(
        text.contains("schema version 2") && text.contains("an older schema"),
        "{text}"
    );

    assert_eq!(fs::read(&path).expect("db"), before, "not migrated");
    assert_eq!(listing(&dir), ["state.db"], "no side files");
}
