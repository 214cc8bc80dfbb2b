//! The embedded SQLite backend (`"persistence": {"kind": "sqlite"}`): WAL mode, a
//! versioned schema (module `schema`), one transaction per operation's meta + history
//! pair, and group commit of consecutive operations.
//!
//! Tables: `channel_meta` (one header per channel: the snapshot-codec meta without its
//! buffers), one table per buffer (`outgoing`, `incoming`, `outgoing_repair`,
//! `incoming_repair`, `met_id`: one row per entry keyed by message id, see module
//! `rows`), so that an operation writes only the rows it changes plus the header, `history` (stored
//! messages without bloom, `seq` autoincrement keeps append order; a re-append moves the
//! row to the end, as `INSERT OR REPLACE` gives it a new `seq`) and `retrieval_hint`.
//! Loading joins header and rows back into the complete meta the contract hands out.
//! Every row carries a checksum (module `checksum`); loading a channel checks each of its rows
//! and refuses the whole channel if one fails: a row skipped would be state lost without
//! a word (a skipped history message could even be delivered again when a peer resends
//! it), while a refused load loses nothing and lets the operator act.
//!
//! [`inspect`] reads a database for operators (`storagectl state inspect`) without
//! changing it: read-only, never created or migrated, damaged rows reported, not fatal.

mod checksum;
mod inspection;
mod rows;
pub(crate) mod schema;

pub use inspection::{
    inspect, ChannelState, DamagedRowState, IncomingState, OutgoingState, RepairState, StateCounts,
    StateSummary,
};

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use self::checksum::{check_row, row_checksum, DamagedRow, StoredRow};
use self::rows::BadRow;
use super::codec::{decode_channel_meta, encode_channel_meta};
use super::contract::{
    HistoryBatch, MetaRows, Persistence, PersistenceError, SaveOutcome, StoredChannel,
};
use crate::protocol::journal::BufferKind;

/// Table names, as the statements spell them; each is part of its rows' checksums.
const META_TABLE: &str = "channel_meta";
const HISTORY_TABLE: &str = "history";
const HINT_TABLE: &str = "retrieval_hint";

/// Why reading a channel failed.
enum ReadError {
    Sql(rusqlite::Error),
    Damaged(DamagedRow),
    /// A sound row whose value is not what its table holds.
    Bad(BadRow),
}

impl From<rusqlite::Error> for ReadError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<DamagedRow> for ReadError {
    fn from(damage: DamagedRow) -> Self {
        Self::Damaged(damage)
    }
}

/// How hard each commit is pushed to disk (`PRAGMA synchronous`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit is on stable storage before it returns: survives power loss.
    #[default]
    Full,
    /// WAL commits are synced at checkpoints only: survives a crash of the process, but
    /// the last commits can be lost on power loss or an OS crash.
    Normal,
}

/// A SQLite database holding every channel of one context.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// A group transaction is open: each op runs in a savepoint inside it.
    in_group: bool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("in_group", &self.in_group)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`. Fails, naming the file, if it
    /// is not a libstorage database, is newer than this build, or cannot be written;
    /// such a file is left untouched.
    pub fn open(
        path: impl AsRef<Path>,
        synchronous: Synchronous,
    ) -> Result<Self, PersistenceError> {
        let path = path.as_ref().to_path_buf();
        let conn = schema::open(&path, synchronous)?;
        Ok(Self {
            conn,
            path,
            in_group: false,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: rusqlite::Error) -> PersistenceError {
        schema::file_error(&self.path, e)
    }

    /// Runs `write_meta` and applies `history` atomically, reporting the one outcome
    /// for both halves of the op.
    fn save_with_history(
        &mut self,
        channel_id: &str,
        history: Option<&HistoryBatch>,
        write_meta: impl FnOnce(&Connection) -> rusqlite::Result<()>,
    ) -> SaveOutcome {
        let result = self.atomically(|conn| {
            write_meta(conn)?;
            match history {
                Some(batch) => write_history(conn, channel_id, batch),
                None => Ok(()),
            }
        });
        SaveOutcome {
            meta: result.clone(),
            history: result,
        }
    }

    /// Runs `body` atomically: in its own transaction, or in a savepoint of the open
    /// group transaction, so a failing op leaves nothing half-written either way.
    fn atomically<T>(
        &mut self,
        body: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, PersistenceError> {
        let (begin, commit, rollback) = if self.in_group {
            ("SAVEPOINT op", "RELEASE op", "ROLLBACK TO op; RELEASE op")
        } else {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        };
        self.conn.execute_batch(begin).map_err(|e| self.error(e))?;
        match body(&self.conn).and_then(|value| self.conn.execute_batch(commit).map(|()| value)) {
            Ok(value) => Ok(value),
            Err(e) => {
                // The transaction may already be gone (a failed COMMIT rolls back itself).
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch(rollback);
                }
                Err(self.error(e))
            }
        }
    }
}

/// Reads every stored row of the channel, checking each against its checksum, and
/// joins the meta's header and buffer rows into the complete meta.
fn read_channel(conn: &Connection, channel_id: &str) -> Result<StoredChannel, ReadError> {
    // One row at most: the channel is the table's key.
    let header = read_rows(
        conn,
        "SELECT channel_id, meta, crc32 FROM channel_meta WHERE channel_id = ?1",
        META_TABLE,
        channel_id,
    )?
    .pop();
    let mut entries = Vec::new();
    for kind in BufferKind::all() {
        let table = rows::table_of(kind);
        let values = read_rows(
            conn,
            &format!(
                "SELECT channel_id, entry, crc32, message_id FROM {table}
                 WHERE channel_id = ?1 ORDER BY seq"
            ),
            table,
            channel_id,
        )?;
        entries.extend(values.into_iter().map(|value| (kind, value)));
    }
    let history = read_history(conn, channel_id)?;
    let meta = match header.as_deref().map(decode_channel_meta) {
        None if entries.is_empty() => None,
        // A blob saved whole through the snapshot contract that is no meta: handed back
        // as it was, for the caller to judge.
        Some(Err(_)) if entries.is_empty() => header,
        Some(Err(e)) => {
            return Err(ReadError::Bad(BadRow {
                table: META_TABLE,
                problem: e.to_string(),
            }))
        }
        decoded => {
            let mut meta = decoded.and_then(Result::ok).unwrap_or_default();
            for (kind, value) in entries {
                rows::join(&mut meta, kind, &value).map_err(ReadError::Bad)?;
            }
            Some(encode_channel_meta(&meta))
        }
    };
    Ok(StoredChannel { meta, history })
}

/// The channel's history rows in append order, checked; and its retrieval hints, checked
/// only (they are not part of the loaded state, but a damaged one is still damage).
fn read_history(conn: &Connection, channel_id: &str) -> Result<Vec<Vec<u8>>, ReadError> {
    let history = read_rows(
        conn,
        "SELECT channel_id, message, crc32, message_id FROM history
         WHERE channel_id = ?1 ORDER BY seq",
        HISTORY_TABLE,
        channel_id,
    )?;
    read_rows(
        conn,
        "SELECT channel_id, hint, crc32, message_id FROM retrieval_hint WHERE channel_id = ?1",
        HINT_TABLE,
        channel_id,
    )?;
    Ok(history)
}

/// The checked values of the rows `sql` selects for `channel_id`, in its order. `sql`
/// selects the channel id, the value, the checksum and, for a table with a key within
/// the channel, that key.
fn read_rows(
    conn: &Connection,
    sql: &str,
    table: &'static str,
    channel_id: &str,
) -> Result<Vec<Vec<u8>>, ReadError> {
    let mut statement = conn.prepare_cached(sql)?;
    let keyed = statement.column_count() == 4;
    let mut rows = statement.query(params![channel_id])?;
    let mut values = Vec::new();
    while let Some(row) = rows.next()? {
        let stored = StoredRow {
            channel_id: row.get_ref(0)?,
            value: row.get_ref(1)?,
            checksum: row.get_ref(2)?,
            key: if keyed { Some(row.get_ref(3)?) } else { None },
        };
        values.push(check_row(table, channel_id, stored)?.to_vec());
    }
    Ok(values)
}

fn write_history(
    conn: &Connection,
    channel_id: &str,
    batch: &HistoryBatch,
) -> rusqlite::Result<()> {
    if !batch.append.is_empty() {
        let mut append = conn.prepare_cached(
            "INSERT OR REPLACE INTO history (channel_id, message_id, message, crc32)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for row in &batch.append {
            let crc = row_checksum(
                HISTORY_TABLE,
                channel_id.as_bytes(),
                row.message_id.as_bytes(),
                &row.bytes,
            );
            append.execute(params![channel_id, row.message_id, row.bytes, crc])?;
        }
    }
    if !batch.evict.is_empty() {
        let mut evict =
            conn.prepare_cached("DELETE FROM history WHERE channel_id = ?1 AND message_id = ?2")?;
        let mut evict_hint = conn.prepare_cached(
            "DELETE FROM retrieval_hint WHERE channel_id = ?1 AND message_id = ?2",
        )?;
        for id in &batch.evict {
            evict.execute(params![channel_id, id])?;
            evict_hint.execute(params![channel_id, id])?;
        }
    }
    Ok(())
}

impl Persistence for SqliteStore {
    /// The snapshot contract's save: the complete meta replaces every stored row of it.
    fn save_channel_meta(&mut self, channel_id: &str, meta: &[u8]) -> Result<(), PersistenceError> {
        self.atomically(|conn| rows::replace(conn, channel_id, meta))
    }

    fn update_history(
        &mut self,
        channel_id: &str,
        batch: &HistoryBatch,
    ) -> Result<(), PersistenceError> {
        self.atomically(|conn| write_history(conn, channel_id, batch))
    }

    fn load_channel(
        &mut self,
        channel_id: &str,
    ) -> Result<Option<StoredChannel>, PersistenceError> {
        // Reads need no transaction of their own: the worker is the only writer, so the
        // statements see the same state.
        let stored = read_channel(&self.conn, channel_id).map_err(|e| match e {
            ReadError::Sql(e) => self.error(e),
            ReadError::Damaged(damage) => schema::file_error(
                &self.path,
                format!(
                    "{damage}: the row was damaged or altered; the channel is not loaded, \
                     and the database is left as it is"
                ),
            ),
            ReadError::Bad(BadRow { table, problem }) => schema::file_error(
                &self.path,
                format!(
                    "a `{table}` row of channel `{}` does not decode ({problem}); the \
                     channel is not loaded, and the database is left as it is",
                    crate::shorten::shorten_message(channel_id)
                ),
            ),
        })?;
        Ok((stored.meta.is_some() || !stored.history.is_empty()).then_some(stored))
    }

    fn drop_channel(&mut self, channel_id: &str) -> Result<(), PersistenceError> {
        self.atomically(|conn| {
            for table in ["channel_meta", "history", "retrieval_hint"] {
                conn.prepare_cached(&format!("DELETE FROM {table} WHERE channel_id = ?1"))?
                    .execute(params![channel_id])?;
            }
            rows::delete_all(conn, channel_id)
        })
    }

    fn set_retrieval_hint(
        &mut self,
        channel_id: &str,
        message_id: &str,
        hint: &[u8],
    ) -> Result<(), PersistenceError> {
        self.atomically(|conn| {
            let crc = row_checksum(
                HINT_TABLE,
                channel_id.as_bytes(),
                message_id.as_bytes(),
                hint,
            );
            conn.prepare_cached(
                "INSERT OR REPLACE INTO retrieval_hint (channel_id, message_id, hint, crc32)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![channel_id, message_id, hint, crc])?;
            Ok(())
        })
    }

    /// The complete meta (replacing its rows) and history of the op in one transaction
    /// (or savepoint): both land or neither does, and a failure is reported for both
    /// halves.
    fn save_op(
        &mut self,
        channel_id: &str,
        meta: Option<&[u8]>,
        history: Option<&HistoryBatch>,
    ) -> SaveOutcome {
        self.save_with_history(channel_id, history, |conn| match meta {
            Some(meta) => rows::replace(conn, channel_id, meta),
            None => Ok(()),
        })
    }

    fn stores_meta_rows(&self) -> bool {
        true
    }

    /// The header, the changed buffer rows and the history of the op in one transaction
    /// (or savepoint): all land or none does.
    fn save_op_rows(
        &mut self,
        channel_id: &str,
        meta: Option<&MetaRows>,
        history: Option<&HistoryBatch>,
    ) -> SaveOutcome {
        self.save_with_history(channel_id, history, |conn| match meta {
            Some(meta) => rows::write(conn, channel_id, meta),
            None => Ok(()),
        })
    }

    fn groups_commits(&self) -> bool {
        true
    }

    fn begin_group(&mut self) -> Result<(), PersistenceError> {
        if self.in_group {
            return Ok(());
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.error(e))?;
        self.in_group = true;
        Ok(())
    }

    fn abandon(&mut self) {
        self.in_group = false;
        if !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                log::warn!("rolling back after a panic failed: {e}");
            }
        }
    }

    fn commit_group(&mut self) -> Result<(), PersistenceError> {
        if !self.in_group {
            return Ok(());
        }
        self.in_group = false;
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            return Err(self.error(e));
        }
        Ok(())
    }
}
