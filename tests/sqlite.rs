//! The SQLite backend: files it must refuse (and leave untouched), the schema version,
//! and a context on `"kind": "sqlite"` whose replies come only after their commit.

#[path = "common/contexts.rs"]
mod contexts;
#[path = "common/scratch.rs"]
mod scratch;

use std::path::Path;
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};

use contexts::{ask, NoEvents, WAIT};
use scratch::Scratch;
use storage::persistence::{sqlite_schema_version, Persistence, SqliteStore, Synchronous};
use storage::protocol::ChannelStats;
use storage::runtime::{
    Context, ContextConfig, ContextError, EventSink, ManualClock, Reply, Request, RuntimeEvent,
};

const CH: &str = "chan";
const T0: u64 = 1_700_000_000_000;

fn config(path: &Path, extra: &str) -> ContextConfig {
    let path = serde_json::to_string(&path.to_string_lossy()).unwrap();
    ContextConfig::from_json(&format!(
        r#"{{"participant_id": "bob", "persistence": {{"kind": "sqlite", "path": {path}{extra}}}}}"#
    ))
    .expect("config")
}

fn start(path: &Path) -> Result<Context, ContextError> {
    Context::start(
        config(path, ""),
        Arc::new(ManualClock::new(T0)),
        Box::new(NoEvents),
    )
}

fn refused(path: &Path) -> String {
    let err = SqliteStore::open(path, Synchronous::Full)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&path.display().to_string()),
        "names the file: {err}"
    );
    // The context refuses to start with the same message.
    let ctx_err = start(path).unwrap_err();
    assert!(matches!(ctx_err, ContextError::Persistence(_)));
    assert!(ctx_err.to_string().contains(&err), "{ctx_err}");
    err
}

/// The channel's statistics, read through the context (`None`: unknown channel).
fn stats(ctx: &Context, channel_id: &str) -> Option<ChannelStats> {
    let channel_id = channel_id.into();
    ask(ctx, |reply| Request::ChannelStats { channel_id, reply }).expect("stats answered")
}

#[test]
fn a_garbage_file_is_refused_and_left_untouched() {
    let dir = Scratch::new("garbage");
    let path = dir.file("state.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = refused(&path);
    assert!(err.contains("not a database"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
    assert!(!dir.file("state.db-wal").exists());
}

#[test]
fn an_empty_file_is_refused_and_left_untouched() {
    let dir = Scratch::new("empty");
    let path = dir.file("state.db");
    std::fs::write(&path, b"").unwrap();
    let err = refused(&path);
    assert!(err.contains("is empty (0 bytes)"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    for side in ["state.db-wal", "state.db-shm", "state.db-journal"] {
        assert!(!dir.file(side).exists(), "{side} created");
    }
    // A rollback journal beside it is named and kept too (SQLite would delete it).
    let journal = vec![0x3Cu8; 1024];
    std::fs::write(dir.file("state.db-journal"), &journal).unwrap();
    let err = refused(&path);
    assert!(err.contains("state.db-journal` (1024 bytes)"), "{err}");
    assert_eq!(
        std::fs::read(dir.file("state.db-journal")).unwrap(),
        journal
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"");
}

/// A database truncated to nothing while its write-ahead log still holds commits (a
/// crash, then the main file emptied): SQLite would start afresh and delete the log.
#[test]
fn an_emptied_database_with_a_write_ahead_log_is_refused_and_both_are_left_untouched() {
    let dir = Scratch::new("emptied");
    let path = dir.file("state.db");
    let mut store = SqliteStore::open(&path, Synchronous::Full).unwrap();
    store.save_channel_meta(CH, b"meta").unwrap();
    let wal = std::fs::read(dir.file("state.db-wal")).unwrap();
    assert!(!wal.is_empty());
    drop(store);
    std::fs::write(&path, b"").unwrap();
    std::fs::write(dir.file("state.db-wal"), &wal).unwrap();
    let err = refused(&path);
    assert!(err.contains("is empty (0 bytes)"), "{err}");
    assert!(
        err.contains(&format!("state.db-wal` ({} bytes)", wal.len())),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    assert_eq!(std::fs::read(dir.file("state.db-wal")).unwrap(), wal);
}

#[test]
fn a_missing_database_whose_log_is_left_is_refused_and_the_log_kept() {
    for log in ["state.db-wal", "state.db-journal"] {
        let dir = Scratch::new("orphan-log");
        let path = dir.file("state.db");
        let bytes = vec![0x5Au8; 4096];
        std::fs::write(dir.file(log), &bytes).unwrap();
        let err = refused(&path);
        assert!(err.contains("does not exist, but its"), "{err}");
        assert!(err.contains(log), "{err}");
        assert!(!path.exists(), "no database created beside {log}");
        assert_eq!(std::fs::read(dir.file(log)).unwrap(), bytes);
    }
}

/// What a creation killed midway leaves (its staging file, half built) and empty side
/// files do not stop the next start, which creates the database whole.
#[test]
fn leftovers_of_a_crashed_creation_do_not_stop_the_next_one() {
    let dir = Scratch::new("staging");
    let path = dir.file("state.db");
    let staging = format!("state.db.creating-{}", std::process::id());
    std::fs::write(dir.file(&staging), b"half a database").unwrap();
    std::fs::write(dir.file(&format!("{staging}-journal")), [1u8; 512]).unwrap();
    std::fs::write(dir.file("state.db-wal"), b"").unwrap();
    let mut store = SqliteStore::open(&path, Synchronous::Full).unwrap();
    store.save_channel_meta(CH, b"meta").unwrap();
    assert!(!dir.file(&staging).exists());
    assert!(!dir.file(&format!("{staging}-journal")).exists());
    drop(store);
    let mut store = SqliteStore::open(&path, Synchronous::Full).unwrap();
    assert_eq!(
        store.load_channel(CH).unwrap().unwrap().meta,
        Some(b"meta".to_vec())
    );
}

#[test]
fn a_newer_schema_version_is_refused_and_left_untouched() {
    let dir = Scratch::new("newer");
    let path = dir.file("state.db");
    drop(SqliteStore::open(&path, Synchronous::Full).unwrap());
    let newer = sqlite_schema_version() + 1;
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA user_version = {newer}; PRAGMA wal_checkpoint(TRUNCATE);"
    ))
    .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let err = refused(&path);
    assert!(err.contains(&format!("schema version {newer}")), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn another_applications_database_is_refused() {
    let dir = Scratch::new("foreign");
    let path = dir.file("other.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY); INSERT INTO accounts VALUES (1);",
    )
    .unwrap();
    drop(conn);
    let err = refused(&path);
    assert!(err.contains("another application"), "{err}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 0, "no migration ran");
}

#[test]
fn a_directory_or_unreachable_path_is_refused() {
    let dir = Scratch::new("dir");
    let err = refused(&dir.file(""));
    assert!(err.contains("directory"), "{err}");
    let err = refused(&dir.file("missing/sub/state.db"));
    assert!(err.contains("unable to open"), "{err}");
}

#[test]
fn a_fresh_database_gets_the_current_schema_and_reopens() {
    let dir = Scratch::new("fresh");
    let path = dir.file("state.db");
    let mut store = SqliteStore::open(&path, Synchronous::Normal).unwrap();
    store.save_channel_meta(CH, b"meta").unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, sqlite_schema_version());
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(conn);
    let mut store = SqliteStore::open(&path, Synchronous::Full).unwrap();
    assert_eq!(
        store.load_channel(CH).unwrap().unwrap().meta,
        Some(b"meta".to_vec())
    );
}

#[test]
fn history_rows_come_back_in_append_order_and_a_re_append_moves_to_the_end() {
    use storage::persistence::{HistoryBatch, StoredMessage};
    let dir = Scratch::new("order");
    let mut store = SqliteStore::open(dir.file("state.db"), Synchronous::Full).unwrap();
    let row = |id: &str| StoredMessage {
        message_id: id.into(),
        bytes: id.as_bytes().to_vec(),
    };
    let batch = HistoryBatch {
        append: vec![row("c"), row("a"), row("b")],
        evict: vec![],
    };
    store.update_history(CH, &batch).unwrap();
    let batch = HistoryBatch {
        append: vec![row("c")],
        evict: vec!["a".into()],
    };
    store.update_history(CH, &batch).unwrap();
    store
        .update_history(
            "other",
            &HistoryBatch {
                append: vec![row("z")],
                evict: vec![],
            },
        )
        .unwrap();
    let history = store.load_channel(CH).unwrap().unwrap().history;
    assert_eq!(history, vec![b"b".to_vec(), b"c".to_vec()]);
    store.drop_channel(CH).unwrap();
    assert_eq!(store.load_channel(CH).unwrap(), None);
    assert!(store.load_channel("other").unwrap().is_some());
}

/// Many wraps queued at once: each reply finds its message committed (read through a
/// second connection), and a restarted context resumes the channel.
#[test]
fn context_replies_follow_their_commit_and_state_survives_a_restart() {
    let dir = Scratch::new("context");
    let path = dir.file("state.db");
    let ctx = start(&path).unwrap();
    let reader = Arc::new(Mutex::new(rusqlite::Connection::open(&path).unwrap()));
    let (tx, rx) = channel();
    const N: usize = 200;
    for i in 0..N {
        let (tx, reader) = (tx.clone(), reader.clone());
        let id = format!("m{i}");
        ctx.submit(Request::Wrap {
            channel_id: CH.into(),
            message_id: id.clone(),
            content: b"x".to_vec(),
            reply: Reply::new(move |result| {
                let committed: i64 = reader
                    .lock()
                    .unwrap()
                    .query_row(
                        "SELECT count(*) FROM history WHERE message_id = ?1",
                        [&id],
                        |r| r.get(0),
                    )
                    .unwrap();
                let _ = tx.send((result.is_ok(), committed));
            }),
        });
    }
    for _ in 0..N {
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), (true, 1));
    }
    let before = stats(&ctx, CH).unwrap();
    ctx.shutdown().unwrap();
    drop(ctx);

    let ctx = start(&path).unwrap();
    let channel_id = CH.into();
    ask(&ctx, |reply| Request::EnsureChannel { channel_id, reply }).unwrap();
    let after = stats(&ctx, CH).unwrap();
    assert_eq!(after.lamport_timestamp, before.lamport_timestamp);
    assert_eq!(after.outgoing_len, N);
    assert_eq!(after, before);
}

/// A restarted context answers a stats request for a stored channel by loading it, as
/// any request would, and for a channel stored nowhere with "unknown", without creating
/// it (with `max_channels` 1, creating it would leave no room for the stored one).
#[test]
fn context_stats_load_a_stored_channel_after_a_restart() {
    let dir = Scratch::new("context-stats");
    let path = dir.file("state.db");
    let ctx = start(&path).unwrap();
    ask(&ctx, |reply| Request::Wrap {
        channel_id: CH.into(),
        message_id: "m1".into(),
        content: b"x".to_vec(),
        reply,
    })
    .unwrap();
    ctx.shutdown().unwrap();
    drop(ctx);

    let json_path = serde_json::to_string(&path.to_string_lossy()).unwrap();
    let one_channel = ContextConfig::from_json(&format!(
        r#"{{"participant_id": "bob", "max_channels": 1,
            "persistence": {{"kind": "sqlite", "path": {json_path}}}}}"#
    ))
    .unwrap();
    let ctx = Context::start(
        one_channel,
        Arc::new(ManualClock::new(T0)),
        Box::new(NoEvents),
    )
    .unwrap();
    assert_eq!(stats(&ctx, "elsewhere"), None);
    let loaded = stats(&ctx, CH).expect("the stored channel is loaded");
    assert_eq!((loaded.outgoing_len, loaded.history_len), (1, 1));
    ctx.shutdown().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let elsewhere: i64 = conn
        .query_row(
            "SELECT count(*) FROM channel_meta WHERE channel_id = 'elsewhere'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(elsewhere, 0);
}

/// Under group commit, each unwrap's events still come before its reply, and requests
/// are answered in the order they were made.
#[test]
fn group_commit_keeps_events_before_each_reply_in_request_order() {
    use storage::protocol::Event;
    use storage::protocol::Manager;
    use storage::protocol::ProtocolConfig;

    struct Log(Arc<Mutex<Vec<String>>>);
    impl EventSink for Log {
        fn deliver(&mut self, event: RuntimeEvent) {
            if let RuntimeEvent::Protocol(Event::MessageReady { message_id, .. }) = event {
                self.0.lock().unwrap().push(format!("ready {message_id}"));
            }
        }
    }
    let dir = Scratch::new("order");
    let log = Arc::new(Mutex::new(Vec::new()));
    let ctx = Context::start(
        config(&dir.file("state.db"), ""),
        Arc::new(ManualClock::new(T0)),
        Box::new(Log(log.clone())),
    )
    .unwrap();
    let mut alice = Manager::new(ProtocolConfig {
        participant_id: "alice".into(),
        ..ProtocolConfig::default()
    })
    .unwrap();
    let (tx, rx) = channel();
    const N: usize = 50;
    for i in 0..N {
        let bytes = alice.wrap(T0, CH, &format!("a{i}"), b"x").unwrap();
        let (log, tx) = (log.clone(), tx.clone());
        ctx.submit(Request::Unwrap {
            bytes,
            reply: Reply::new(move |result| {
                let id = result
                    .map(|u: storage::protocol::Unwrapped| u.message_id)
                    .unwrap_or_default();
                log.lock().unwrap().push(format!("reply {id}"));
                let _ = tx.send(());
            }),
        });
    }
    for _ in 0..N {
        rx.recv_timeout(WAIT).unwrap();
    }
    let expected: Vec<String> = (0..N)
        .flat_map(|i| [format!("ready a{i}"), format!("reply a{i}")])
        .collect();
    assert_eq!(*log.lock().unwrap(), expected);
}

#[test]
fn a_damaged_page_is_refused_at_start_and_left_untouched() {
    let dir = Scratch::new("damaged");
    let path = dir.file("state.db");
    let mut store = SqliteStore::open(&path, Synchronous::Full).unwrap();
    use storage::persistence::{HistoryBatch, StoredMessage};
    let append = (0..200)
        .map(|i| StoredMessage {
            message_id: format!("m{i}"),
            bytes: vec![i as u8; 300],
        })
        .collect();
    store
        .update_history(
            CH,
            &HistoryBatch {
                append,
                evict: vec![],
            },
        )
        .unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    // Scribble over the middle of the third page (a b-tree page, not the header).
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 4 * 4096);
    for b in &mut bytes[2 * 4096 + 8..2 * 4096 + 600] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = refused(&path);
    assert!(
        err.contains("corrupt") || err.contains("malformed"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_huge_path_is_not_echoed_whole() {
    // 10 MB of path used to come back twice in a 20 MB message.
    let path = format!("/nonexistent/{}/state.db", "a".repeat(10 * 1024 * 1024));
    let message = start(Path::new(&path)).unwrap_err().to_string();
    assert!(message.len() < 1024, "{} bytes", message.len());
    assert!(
        message.contains("/state.db"),
        "the file name stays: {message}"
    );
}
