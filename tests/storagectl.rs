//! `storagectl`, the operator's tool, run as a process on recordings the library wrote:
//! listing, verifying (exit status 1 on damage, with an anchored head too), showing,
//! printing and replaying messages with filters, the audit log, and the exit statuses
//! scripts rely on (0 well, 1 damaged, 2 usage, 3 unreadable).

#[path = "common/messages.rs"]
mod messages;
#[path = "common/recordings.rs"]
mod recordings;
#[path = "common/scratch.rs"]
mod scratch;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use messages::sds_message;
use recordings::{exclusive, record};
use scratch::Scratch;
use serde_json::Value;
use storage::protocol::SdsMessage;
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
