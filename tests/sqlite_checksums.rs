//! Row checksums of the SQLite backend: a byte changed inside a stored row (meta header,
//! buffer entry, history, retrieval hint) or a row moved to another key or channel makes the channel's
//! load fail with a persistence error naming the table and the row, and leaves the
//! database as it was; other channels load. Version 1 databases (no checksums) migrate,
//! computing the checksums of their rows and splitting each meta into header and buffer
//! rows, and still load.

#[path = "common/managers.rs"]
mod managers;
#[path = "common/scratch.rs"]
mod scratch;

use std::path::Path;

use managers::{manager, T0};
use scratch::Scratch;
use storage::persistence::{
    sqlite_schema_version, MemoryStore, OpError, Persistence, PersistentManager, SqliteStore,
    Synchronous,
};
use storage::protocol::UnwrapStatus;

const CH: &str = "chan";
const OTHER: &str = "other";
/// Content of a message bob delivers: stored in a history row only.
const IN_HISTORY: &[u8] = b"delivered-marker-7f3a91";
/// Content of a message bob buffers (its dependency is missing): stored in its
/// `incoming` buffer row only.
const IN_META: &[u8] = b"buffered-marker-c02d5e";

fn bob(backend: Box<dyn Persistence>) -> PersistentManager {
    let mut bob = PersistentManager::new(manager("bob"), backend);
    bob.manager_mut()
        .set_retrieval_hint_provider(Some(Box::new(|_: &str, id: &str| {
            format!("hint-of-{id}").into_bytes()
        })));
    bob
}

/// Bob's state on CH: a delivered message `a1` (history), a buffered `a3` waiting for
/// `a2` (meta), his own `b1` (history and meta) whose causal history gave `a1` a
/// retrieval hint; and `o1` on OTHER.
fn fill(bob: &mut PersistentManager) {
    let mut alice = manager("alice");
    let a1 = alice.wrap(T0, CH, "a1", IN_HISTORY).unwrap();
    let _a2 = alice.wrap(T0, CH, "a2", b"never arrives").unwrap();
    let a3 = alice.wrap(T0, CH, "a3", IN_META).unwrap();
    assert_eq!(bob.unwrap(T0, &a1).unwrap().status, UnwrapStatus::Delivered);
    assert_eq!(bob.unwrap(T0, &a3).unwrap().status, UnwrapStatus::Buffered);
    bob.wrap(T0, CH, "b1", b"mine").unwrap();
    bob.wrap(T0, OTHER, "o1", b"elsewhere").unwrap();
}

/// A database holding [`fill`]'s state, closed (everything checkpointed into the file).
fn filled_database(dir: &Scratch) -> std::path::PathBuf {
    let path = dir.file("state.db");
    let mut bob = bob(Box::new(
        SqliteStore::open(&path, Synchronous::Full).unwrap(),
    ));
    fill(&mut bob);
    drop(bob);
    assert!(!dir.file("state.db-wal").exists(), "checkpointed on close");
    path
}

/// Flips one byte of the only occurrence of `marker` in the file.
fn flip_byte_of(path: &Path, marker: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let found: Vec<usize> = bytes
        .windows(marker.len())
        .enumerate()
        .filter(|(_, window)| *window == marker)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(found.len(), 1, "the marker is stored once");
    bytes[found[0] + 3] ^= 0x20;
    std::fs::write(path, &bytes).unwrap();
}

/// Runs `update` on the database, which must change exactly one row.
fn alter_one_row(path: &Path, update: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    assert_eq!(conn.execute(update, []).unwrap(), 1, "{update}");
}

/// Opens the database (which must pass SQLite's own checks), loads CH and returns the
/// persistence error; checks nothing was loaded, OTHER still loads and the file is as
/// it was.
fn refused_load(path: &Path) -> String {
    let before = std::fs::read(path).unwrap();
    let store = SqliteStore::open(path, Synchronous::Full).expect("the file itself is sound");
    let mut bob = bob(Box::new(store));
    let err = bob.ensure_channel(T0, CH).unwrap_err();
    assert!(matches!(err, OpError::Persistence(_)), "{err:?}");
    assert!(!bob.manager().has_channel(CH));
    assert_eq!(
        bob.ensure_channel(T0, CH).unwrap_err(),
        err,
        "refused again, not half loaded"
    );
    bob.ensure_channel(T0, OTHER).unwrap();
    assert_eq!(bob.manager().history_ids(OTHER), vec!["o1"]);
    drop(bob);
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "the file is left as it was"
    );
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    message
}

#[test]
fn a_changed_byte_in_a_history_row_fails_the_load_naming_the_row() {
    let dir = Scratch::new("crc-history");
    let path = filled_database(&dir);
    flip_byte_of(&path, IN_HISTORY);
    let err = refused_load(&path);
    assert!(
        err.contains("the `history` row of message `a1` in channel `chan` fails its checksum"),
        "{err}"
    );
}

#[test]
fn a_changed_byte_in_a_buffer_row_fails_the_load_naming_the_row() {
    let dir = Scratch::new("crc-buffer");
    let path = filled_database(&dir);
    flip_byte_of(&path, IN_META);
    let err = refused_load(&path);
    assert!(
        err.contains("the `incoming` row of message `a3` in channel `chan` fails its checksum"),
        "{err}"
    );
}

#[test]
fn a_changed_meta_header_fails_the_load_naming_the_row() {
    let dir = Scratch::new("crc-meta");
    let path = filled_database(&dir);
    alter_one_row(
        &path,
        "UPDATE channel_meta SET crc32 = (crc32 + 1) % 4294967296 WHERE channel_id = 'chan'",
    );
    let err = refused_load(&path);
    assert!(
        err.contains("the `channel_meta` row of channel `chan` fails its checksum"),
        "{err}"
    );
}

#[test]
fn a_buffer_row_moved_to_another_buffer_fails_the_load() {
    let dir = Scratch::new("crc-moved-buffer");
    let path = filled_database(&dir);
    alter_one_row(
        &path,
        "INSERT INTO outgoing (channel_id, message_id, entry, crc32)
         SELECT channel_id, message_id, entry, crc32 FROM incoming WHERE message_id = 'a3'",
    );
    let err = refused_load(&path);
    assert!(
        err.contains("the `outgoing` row of message `a3` in channel `chan` fails its checksum"),
        "{err}"
    );
}

#[test]
fn a_changed_retrieval_hint_fails_the_load_naming_the_row() {
    let dir = Scratch::new("crc-hint");
    let path = filled_database(&dir);
    // The hint's bytes are also in the messages that carry it: changed in its row only.
    alter_one_row(
        &path,
        "UPDATE retrieval_hint SET hint = CAST('hint-of-a2' AS BLOB)
         WHERE channel_id = 'chan' AND message_id = 'a1'",
    );
    let err = refused_load(&path);
    assert!(
        err.contains("the `retrieval_hint` row of message `a1` in channel `chan` fails"),
        "{err}"
    );
}

#[test]
fn a_row_moved_to_another_key_or_channel_fails_the_load() {
    let dir = Scratch::new("crc-moved");
    let path = filled_database(&dir);
    alter_one_row(
        &path,
        "UPDATE history SET message_id = 'a9' WHERE message_id = 'a1'",
    );
    let err = refused_load(&path);
    assert!(
        err.contains("the `history` row of message `a9` in channel `chan` fails"),
        "{err}"
    );

    let dir = Scratch::new("crc-moved-channel");
    let path = filled_database(&dir);
    alter_one_row(
        &path,
        "UPDATE history SET channel_id = 'chan' WHERE message_id = 'o1'",
    );
    let mut bob = bob(Box::new(
        SqliteStore::open(&path, Synchronous::Full).unwrap(),
    ));
    let err = bob.ensure_channel(T0, CH).unwrap_err().to_string();
    assert!(
        err.contains("the `history` row of message `o1` in channel `chan` fails"),
        "{err}"
    );
}

#[test]
fn sound_rows_load_as_they_were_saved() {
    let dir = Scratch::new("crc-sound");
    let path = dir.file("state.db");
    let mut before = bob(Box::new(
        SqliteStore::open(&path, Synchronous::Full).unwrap(),
    ));
    fill(&mut before);
    let mut after = bob(Box::new(
        SqliteStore::open(&path, Synchronous::Full).unwrap(),
    ));
    after.ensure_channel(T0, CH).unwrap();
    assert_eq!(
        after.manager().channel_meta(CH),
        before.manager().channel_meta(CH)
    );
    assert_eq!(
        after.manager().history_ids(CH),
        before.manager().history_ids(CH)
    );
}

/// The tables of schema version 1 exactly as that version created them.
const SCHEMA_V1: &str = "CREATE TABLE channel_meta (
         channel_id TEXT PRIMARY KEY NOT NULL,
         meta BLOB NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE history (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         channel_id TEXT NOT NULL,
         message_id TEXT NOT NULL,
         message BLOB NOT NULL,
         UNIQUE (channel_id, message_id)
     );
     CREATE TABLE retrieval_hint (
         channel_id TEXT NOT NULL,
         message_id TEXT NOT NULL,
         hint BLOB NOT NULL,
         PRIMARY KEY (channel_id, message_id)
     ) WITHOUT ROWID;";

/// The documented row checksum, computed here independently of the library.
fn expected_checksum(table: &str, channel_id: &str, key: &str, value: &[u8]) -> i64 {
    let mut hasher = crc32fast::Hasher::new();
    for field in [
        table.as_bytes(),
        channel_id.as_bytes(),
        key.as_bytes(),
        value,
    ] {
        hasher.update(&(field.len() as u64).to_le_bytes());
        hasher.update(field);
    }
    i64::from(hasher.finalize())
}

#[test]
fn a_version_1_database_migrates_computing_row_checksums_and_still_loads() {
    // The state, as a version 1 database held it: the same snapshot-codec rows.
    let memory = MemoryStore::new();
    let mut original = bob(Box::new(memory.clone()));
    fill(&mut original);
    let dir = Scratch::new("crc-migrate");
    let path = dir.file("state.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(SCHEMA_V1).unwrap();
    let mut reader = memory.clone();
    for channel_id in [CH, OTHER] {
        let stored = reader.load_channel(channel_id).unwrap().unwrap();
        conn.execute(
            "INSERT INTO channel_meta (channel_id, meta) VALUES (?1, ?2)",
            rusqlite::params![channel_id, stored.meta.unwrap()],
        )
        .unwrap();
        let ids = memory.history_ids(channel_id);
        for (id, message) in ids.iter().zip(&stored.history) {
            conn.execute(
                "INSERT INTO history (channel_id, message_id, message) VALUES (?1, ?2, ?3)",
                rusqlite::params![channel_id, id, message],
            )
            .unwrap();
            if let Some(hint) = memory.hint(channel_id, id) {
                conn.execute(
                    "INSERT INTO retrieval_hint (channel_id, message_id, hint) VALUES (?1, ?2, ?3)",
                    rusqlite::params![channel_id, id, hint],
                )
                .unwrap();
            }
        }
    }
    conn.execute_batch(
        "PRAGMA application_id = 1280529479; PRAGMA user_version = 1; PRAGMA journal_mode = WAL;",
    )
    .unwrap();
    drop(conn);

    let mut bob = bob(Box::new(
        SqliteStore::open(&path, Synchronous::Full).unwrap(),
    ));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, sqlite_schema_version());
    assert_eq!(version, 3);
    let mut rows = 0;
    for (table, key, value) in [
        ("channel_meta", "''", "meta"),
        ("outgoing", "message_id", "entry"),
        ("incoming", "message_id", "entry"),
        ("history", "message_id", "message"),
        ("retrieval_hint", "message_id", "hint"),
    ] {
        let mut select = conn
            .prepare(&format!(
                "SELECT channel_id, {key}, {value}, crc32 FROM {table}"
            ))
            .unwrap();
        let stored = select
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert!(!stored.is_empty(), "{table} has rows");
        for (channel_id, key, value, crc) in stored {
            assert_eq!(
                crc,
                expected_checksum(table, &channel_id, &key, &value),
                "{table} {channel_id} {key}"
            );
            rows += 1;
        }
    }
    assert!(rows >= 8, "{rows} rows checked");
    drop(conn);

    for channel_id in [CH, OTHER] {
        bob.ensure_channel(T0, channel_id).unwrap();
        assert_eq!(
            bob.manager().channel_meta(channel_id),
            original.manager().channel_meta(channel_id)
        );
        assert_eq!(
            bob.manager().history_ids(channel_id),
            original.manager().history_ids(channel_id)
        );
    }
    // And the migrated checksums guard the rows from now on.
    drop(bob);
    flip_byte_of(&path, IN_HISTORY);
    let err = refused_load(&path);
    assert!(err.contains("`history` row of message `a1`"), "{err}");
}
