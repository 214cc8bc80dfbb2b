//! Schema 2 → 3: a database written by the release before buffer rows
//! (`sqlite-fixtures/v2.db`, written by commit e88f5f0's code: bob on `chan` with
//! outgoing, buffered, both repair directions and a met id; five outgoing on `other`)
//! opens, migrates in one transaction (each meta split into a header and one row per
//! buffer entry) and resumes with identical state; a migration that fails leaves the
//! file at version 2, as it was.

#[path = "common/managers.rs"]
mod managers;
#[path = "common/scratch.rs"]
mod scratch;

use std::path::{Path, PathBuf};

use managers::manager;
use scratch::Scratch;
use storage::persistence::{
    decode_channel_meta, sqlite_schema_version, PersistentManager, SqliteStore, Synchronous,
};
use storage::protocol::ChannelMeta;

const CHANNELS: [&str; 2] = ["chan", "other"];
/// Later than every time the fixture was written at.
const NOW: u64 = 1_700_000_200_000;

/// A copy of the fixture in a scratch folder.
fn fixture_copy(dir: &Scratch) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sqlite-fixtures/v2.db");
    let path = dir.file("state.db");
    std::fs::copy(fixture, &path).expect("fixture copied");
    path
}

fn user_version(conn: &rusqlite::Connection) -> u32 {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// What the version 2 file holds for `channel_id`: its meta and its history ids.
fn v2_state(conn: &rusqlite::Connection, channel_id: &str) -> (ChannelMeta, Vec<String>) {
    let meta: Vec<u8> = conn
        .query_row(
            "SELECT meta FROM channel_meta WHERE channel_id = ?1",
            [channel_id],
            |r| r.get(0),
        )
        .unwrap();
    let mut select = conn
        .prepare("SELECT message_id FROM history WHERE channel_id = ?1 ORDER BY seq")
        .unwrap();
    let history = select
        .query_map([channel_id], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap();
    (decode_channel_meta(&meta).unwrap(), history)
}

fn bob(path: &Path) -> PersistentManager {
    let store = SqliteStore::open(path, Synchronous::Full).expect("opens and migrates");
    PersistentManager::new(manager("bob"), Box::new(store))
}

#[test]
fn a_version_2_database_migrates_to_rows_and_resumes_with_identical_state() {
    let dir = Scratch::new("migrate-v2");
    let path = fixture_copy(&dir);
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(user_version(&conn), 2);
    let before: Vec<_> = CHANNELS.iter().map(|c| v2_state(&conn, c)).collect();
    drop(conn);
    let (meta, _) = &before[0];
    assert!(!meta.outgoing.is_empty() && !meta.incoming.is_empty());
    assert!(!meta.outgoing_repair.is_empty() && !meta.incoming_repair.is_empty());
    assert!(!meta.met_ids.is_empty());

    let mut bob = bob(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(user_version(&conn), sqlite_schema_version());
    assert_eq!(sqlite_schema_version(), 3);
    // The headers hold no buffers any more: the entries are rows.
    let (header, _) = v2_state(&conn, "chan");
    assert_eq!(header.lamport_timestamp, before[0].0.lamport_timestamp);
    assert!(header.outgoing.is_empty() && header.incoming.is_empty() && header.met_ids.is_empty());
    for (table, expected) in [
        ("outgoing", meta.outgoing.len() + before[1].0.outgoing.len()),
        ("incoming", meta.incoming.len()),
        ("outgoing_repair", meta.outgoing_repair.len()),
        ("incoming_repair", meta.incoming_repair.len()),
        ("met_id", meta.met_ids.len()),
    ] {
        let rows: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows as usize, expected, "{table} rows");
    }
    drop(conn);

    for (channel_id, (meta, history)) in CHANNELS.iter().zip(&before) {
        bob.ensure_channel(NOW, channel_id).unwrap();
        assert_eq!(bob.manager().channel_meta(channel_id).as_ref(), Some(meta));
        assert_eq!(&bob.manager().history_ids(channel_id), history);
    }
    // It resumes: a new op on the migrated rows, and a restart sees all of it.
    bob.wrap(NOW, "chan", "after-migration", b"x").unwrap();
    let resumed = bob.manager().channel_meta("chan").unwrap();
    assert_eq!(resumed.outgoing.len(), meta.outgoing.len() + 1);
    drop(bob);
    let mut bob = self::bob(&path);
    bob.ensure_channel(NOW, "chan").unwrap();
    assert_eq!(bob.manager().channel_meta("chan").unwrap(), resumed);
}

#[test]
fn a_failed_migration_leaves_the_version_2_database_as_it_was() {
    let dir = Scratch::new("migrate-v2-fails");
    let path = fixture_copy(&dir);
    let conn = rusqlite::Connection::open(&path).unwrap();
    // A table in the way of the migration's own: its CREATE TABLE fails midway.
    conn.execute_batch("CREATE TABLE met_id (x)").unwrap();
    let before: Vec<_> = CHANNELS.iter().map(|c| v2_state(&conn, c)).collect();
    drop(conn);

    let err = SqliteStore::open(&path, Synchronous::Full).unwrap_err();
    assert!(err.to_string().contains("migration failed"), "{err}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(user_version(&conn), 2);
    let after: Vec<_> = CHANNELS.iter().map(|c| v2_state(&conn, c)).collect();
    assert_eq!(after, before, "every meta still whole");
    let created: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('outgoing', 'incoming')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        created, 0,
        "the tables made before the failure were rolled back"
    );
}
