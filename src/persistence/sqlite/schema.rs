//! Opening a SQLite store safely: refuse what is not ours, is damaged or is newer than
//! this build, create a missing one whole, and bring older schemas up to date with
//! ordered migrations.
//!
//! The schema version lives in `PRAGMA user_version`; the file is marked as ours with
//! `PRAGMA application_id`. Nothing is written to a file before it is known to be a
//! libstorage database of a version this build understands, so a garbage file, a foreign
//! database or a newer store is left exactly as it was.
//!
//! What is on disk at the configured path is one of:
//! - nothing: a new database is created, and it never appears there unfinished. It is
//!   built beside the path (`{path}.creating-{pid}`) with its schema and WAL mode,
//!   synced, and linked into place without replacing anything; a crash meanwhile leaves
//!   only that side file, which the next creation by a process of the same id replaces.
//!   A non-empty write-ahead log or rollback journal of the missing file is refused
//!   instead: it is what is left of a database deleted or moved without it.
//! - an empty file: refused. A database this library made is never empty (SQLite writes
//!   its first page to the main file before any commit goes to the write-ahead log), so
//!   an empty file is a truncated one; SQLite would take it for a new database and delete
//!   its write-ahead log.
//! - anything else: opened, identified and checked as below.

use std::ffi::OsString;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags};

use super::{checksum, rows, Synchronous};
use crate::persistence::contract::PersistenceError;

/// `PRAGMA application_id` of libstorage databases ("LSTG").
pub(crate) const APPLICATION_ID: i32 = 0x4C53_5447;

/// One step of the schema: statements, or code for what SQL alone cannot do.
enum Migration {
    Sql(&'static str),
    Code(fn(&Connection) -> rusqlite::Result<()>),
}

/// Each entry migrates the schema from version `index` to `index + 1`; the schema version
/// this build writes is their count.
const MIGRATIONS: &[Migration] = &[
    // 0 -> 1: channel meta, history in append order, retrieval hints.
    Migration::Sql(
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
    ),
    // 1 -> 2: a checksum per row (see `checksum`), computed for the rows already stored.
    Migration::Sql(
        "ALTER TABLE channel_meta ADD COLUMN crc32 INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE history ADD COLUMN crc32 INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE retrieval_hint ADD COLUMN crc32 INTEGER NOT NULL DEFAULT 0;
     UPDATE channel_meta
         SET crc32 = libstorage_row_crc32('channel_meta', channel_id, '', meta);
     UPDATE history
         SET crc32 = libstorage_row_crc32('history', channel_id, message_id, message);
     UPDATE retrieval_hint
         SET crc32 = libstorage_row_crc32('retrieval_hint', channel_id, message_id, hint);",
    ),
    // 2 -> 3: buffer entries as rows (see `rows`); each stored meta is split into its
    // header and rows.
    Migration::Code(split_stored_metas),
];

/// Creates the buffer tables and splits every sound stored meta into header and rows. A
/// meta row that fails its checksum or does not decode is left as it is: loading its
/// channel then refuses it, as it did before the migration.
fn split_stored_metas(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(&rows::create_tables_sql())?;
    let mut sound = Vec::new();
    {
        let mut statement = conn.prepare("SELECT channel_id, meta, crc32 FROM channel_meta")?;
        let mut stored = statement.query([])?;
        while let Some(row) = stored.next()? {
            let Ok(channel_id) = row.get::<_, String>(0) else {
                continue;
            };
            let row = checksum::StoredRow {
                channel_id: row.get_ref(0)?,
                value: row.get_ref(1)?,
                checksum: row.get_ref(2)?,
                key: None,
            };
            if let Ok(meta) = checksum::check_row("channel_meta", &channel_id, row) {
                sound.push((channel_id, meta.to_vec()));
            }
        }
    }
    for (channel_id, meta) in sound {
        if crate::persistence::codec::decode_channel_meta(&meta).is_ok() {
            rows::replace(conn, &channel_id, &meta)?;
        }
    }
    Ok(())
}

/// The schema version this build writes.
pub fn current_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// An error that names the file and what is wrong with it.
pub(crate) fn file_error(path: &Path, problem: impl std::fmt::Display) -> PersistenceError {
    let path = crate::shorten::shorten_path(path);
    let problem = crate::shorten::shorten_message(&problem.to_string()).into_owned();
    PersistenceError::new(format!("sqlite database `{path}`: {problem}"))
}

/// Opens (creating if missing, see the module docs) the database at `path`, checks it,
/// migrates it to [`current_version`], and sets WAL mode and the durability level.
pub(crate) fn open(path: &Path, synchronous: Synchronous) -> Result<Connection, PersistenceError> {
    let fail = |problem: &dyn std::fmt::Display| file_error(path, problem);
    if fs::metadata(path).is_err_and(|e| e.kind() == ErrorKind::NotFound) {
        create(path).map_err(|e| fail(&e))?;
    }
    let metadata = fs::metadata(path).map_err(|e| fail(&e))?;
    if metadata.is_dir() {
        return Err(fail(&"is a directory, not a database file"));
    }
    if metadata.len() == 0 {
        return Err(fail(&empty_file(path)));
    }
    // No SQLITE_OPEN_CREATE: only `create` makes a database, whole. No URIs either: the
    // path is a file path, the one checked above.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
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
    switch_to_wal(&conn).map_err(|e| fail(&e))?;
    let synchronous = match synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.execute_batch(&format!("PRAGMA synchronous = {synchronous};"))
        .map_err(|e| fail(&e))?;
    migrate(&conn, version).map_err(|e| fail(&format!("migration failed: {e}")))?;
    Ok(conn)
}

/// Puts the database in WAL mode, or says why it cannot.
fn switch_to_wal(conn: &Connection) -> Result<(), String> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(format!("cannot switch to WAL mode (journal mode {mode})"))
    }
}

/// Creations in this process take turns: they share one staging file name.
static CREATING: Mutex<()> = Mutex::new(());

/// Creates a new database at `path` (see the module docs). Returns why it cannot.
fn create(path: &Path) -> Result<(), String> {
    let _one_at_a_time = CREATING.lock().unwrap_or_else(PoisonError::into_inner);
    if fs::symlink_metadata(path).is_ok() {
        // Created meanwhile, by another context or process: that one is opened.
        return Ok(());
    }
    if let Some((log, side, len)) = logs_left(path).into_iter().next() {
        return Err(format!(
            "does not exist, but its {log} `{}` ({len} bytes) does: the database was deleted \
             or moved without it; refusing to create a new database beside it (move the \
             {log} away to start afresh)",
            side.display()
        ));
    }
    let staging = side_file(path, &format!(".creating-{}", std::process::id()));
    // Left by a crashed creation of an earlier process with the same id, if any.
    remove_with_side_files(&staging);
    let result = build(&staging).and_then(|()| place(&staging, path));
    remove_with_side_files(&staging);
    result
}

/// Builds a complete, synced, empty database of the current schema in WAL mode.
fn build(staging: &Path) -> Result<(), String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot be created: {e}");
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(staging, flags).map_err(|e| cannot(&e))?;
    conn.execute_batch("PRAGMA synchronous = FULL;")
        .map_err(|e| cannot(&e))?;
    migrate(&conn, 0).map_err(|e| cannot(&e))?;
    switch_to_wal(&conn).map_err(|e| cannot(&e))?;
    // Closing the only connection checkpoints everything into the main file.
    conn.close().map_err(|(_, e)| cannot(&e))?;
    fs::File::open(staging)
        .and_then(|file| file.sync_all())
        .map_err(|e| cannot(&e))
}

/// Gives the built database its name without replacing a file that appeared meanwhile.
fn place(staging: &Path, path: &Path) -> Result<(), String> {
    match fs::hard_link(staging, path) {
        // AlreadyExists: another process created the database meanwhile; it is opened.
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        // A file system without hard links: a rename, which could only replace a
        // database created by another process in this very instant.
        Err(_) => fs::rename(staging, path).map_err(|e| format!("cannot be created: {e}"))?,
    }
    let folder = path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::File::open(folder)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| format!("created, but its folder cannot be synced: {e}"))
}

/// `path` with `suffix` appended to its file name (where SQLite keeps its side files).
fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes a database file and SQLite's side files of it, whichever exist.
fn remove_with_side_files(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = fs::remove_file(side_file(path, suffix));
    }
}

/// SQLite's logs of `path` that exist and are not empty: what each is, its path, its size.
fn logs_left(path: &Path) -> Vec<(&'static str, PathBuf, u64)> {
    [
        ("-wal", "write-ahead log"),
        ("-journal", "rollback journal"),
    ]
    .into_iter()
    .filter_map(|(suffix, log)| {
        let side = side_file(path, suffix);
        let len = fs::metadata(&side).ok()?.len();
        (len > 0).then_some((log, side, len))
    })
    .collect()
}

/// Why an empty file at `path` is refused, and what else is left untouched with it.
fn empty_file(path: &Path) -> String {
    let mut problem = "is empty (0 bytes): a libstorage database never is, so the file was \
                       truncated or damaged; refusing to use it (move it away to start a new \
                       database)"
        .to_owned();
    for (log, side, len) in logs_left(path) {
        problem.push_str(&format!(
            "; its {log} `{}` ({len} bytes) is left untouched too",
            side.display()
        ));
    }
    problem
}

/// Schema version, application id and number of tables of the open database.
pub(super) fn identify(conn: &Connection) -> rusqlite::Result<(u32, i32, i64)> {
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
    checksum::register_sql_function(conn)?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        for step in &MIGRATIONS[from as usize..] {
            match step {
                Migration::Sql(sql) => conn.execute_batch(sql)?,
                Migration::Code(run) => run(conn)?,
            }
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
