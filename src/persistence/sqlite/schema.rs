//! Opening a SQLite store safely: refuse what is not ours or is newer than this build, and
//! bring older schemas up to date with ordered migrations.
//!
//! The schema version lives in `PRAGMA user_version`; the file is marked as ours with
//! `PRAGMA application_id`. Nothing is written to a file before it is known to be a
//! libstorage database of a version this build understands, so a garbage file, a foreign
//! database or a newer store is left exactly as it was.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::Synchronous;
use crate::persistence::contract::PersistenceError;

/// `PRAGMA application_id` of libstorage databases ("LSTG").
pub(crate) const APPLICATION_ID: i32 = 0x4C53_5447;

/// Each entry migrates the schema from version `index` to `index + 1`; the schema version
/// this build writes is their count.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: channel meta, history in append order, retrieval hints.
    "CREATE TABLE channel_meta (
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
     ) WITHOUT ROWID;",
];

/// The schema version this build writes.
pub fn current_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// An error that names the file and what is wrong with it.
pub(crate) fn file_error(path: &Path, problem: impl std::fmt::Display) -> PersistenceError {
    PersistenceError::new(format!("sqlite database `{}`: {problem}", path.display()))
}

/// Opens (creating if missing) the database at `path`, checks it, migrates it to
/// [`current_version`], and sets WAL mode and the durability level.
pub fn open(path: &Path, synchronous: Synchronous) -> Result<Connection, PersistenceError> {
    let fail = |problem: &dyn std::fmt::Display| file_error(path, problem);
    if path.is_dir() {
        return Err(fail(&"is a directory, not a database file"));
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| fail(&e))?;
    // SQLite silently opens a write-protected file read-only; every later save would fail.
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(|e| fail(&e))? {
        return Err(fail(&"is not writable"));
    }
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| fail(&e))?;
    // The first read: a file that is not a database fails here ("file is not a database"),
    // before anything is written.
    let (version, application_id, tables) = identify(&conn).map_err(|e| fail(&e))?;
    if tables > 0 && version == 0 && application_id != APPLICATION_ID {
        return Err(fail(
            &"is a SQLite database of another application (no libstorage schema)",
        ));
    }
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(fail(&format!(
            "is a SQLite database of another application (application_id {application_id:#x})"
        )));
    }
    // A damaged page fails here, at start, rather than on some later load. Quick check
    // reads every page once; stores are small (bounded history per channel).
    let check: String = conn
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .map_err(|e| fail(&e))?;
    if check != "ok" {
        return Err(fail(&format!("is corrupt ({check})")));
    }
    if version > current_version() {
        return Err(fail(&format!(
            "has schema version {version}, newer than this build understands (up to {}); \
             refusing to use it",
            current_version()
        )));
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| fail(&e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(fail(&format!(
            "cannot switch to WAL mode (journal mode {mode})"
        )));
    }
    let synchronous = match synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.execute_batch(&format!("PRAGMA synchronous = {synchronous};"))
        .map_err(|e| fail(&e))?;
    migrate(&conn, version).map_err(|e| fail(&format!("migration failed: {e}")))?;
    Ok(conn)
}

/// Schema version, application id and number of tables of the open database.
fn identify(conn: &Connection) -> rusqlite::Result<(u32, i32, i64)> {
    let tables = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |row| row.get(0),
    )?;
    let version = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let application_id = conn.query_row("PRAGMA application_id", [], |row| row.get(0))?;
    Ok((version, application_id, tables))
}

/// Applies the migrations after `from`, all in one transaction with the version bump.
fn migrate(conn: &Connection, from: u32) -> rusqlite::Result<()> {
    if from == current_version() {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        for step in &MIGRATIONS[from as usize..] {
            conn.execute_batch(step)?;
        }
        conn.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {};",
            current_version()
        ))
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
