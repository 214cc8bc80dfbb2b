//! A read-only look into a state database, for operators (`storagectl state inspect`):
//! what each channel holds (Lamport clock, history, buffers, repairs, met ids) and which
//! rows are damaged, without a context and without changing the file.
//!
//! The file is opened read-only and never created, migrated or switched to WAL mode.
//! A database with no write-ahead log beside it is closed (a connection in WAL mode keeps
//! its log while open), so it is read as immutable: SQLite then creates no side files
//! either. One with a log is read through it, as SQLite needs, so that commits not yet
//! checkpointed are seen; its side files exist already.
//!
//! Every row is checked against its checksum and decoded with the snapshot codec, as a
//! load does; a row that fails is reported in its channel's `damaged` list instead of
//! failing the whole inspection, so one bad row still lets the operator see the rest.
//! Schema versions 2 (whole metas, with checksums) and 3 (buffer rows) are read.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::checksum::{check_row, StoredRow};
use super::rows::{join, table_of};
use super::schema::{self, file_error, APPLICATION_ID};
use super::{HINT_TABLE, HISTORY_TABLE, META_TABLE};
use crate::persistence::codec::decode_channel_meta;
use crate::persistence::contract::PersistenceError;
use crate::protocol::journal::BufferKind;
use crate::protocol::snapshot::ChannelMeta;

/// The oldest schema version [`inspect`] reads: the first with row checksums.
const OLDEST_READ: u32 = 2;
/// The first schema version keeping buffer entries as rows of their own tables.
const BUFFER_ROWS: u32 = 3;

/// What a state database holds, as [`inspect`] found it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSummary {
    /// The database file, as given.
    pub path: String,
    /// Its schema version (`PRAGMA user_version`).
    pub schema_version: u32,
    /// SQLite's `quick_check` of the file's structure: `ok`, or what is wrong.
    pub integrity: String,
    /// Every channel with a row in any table, by channel id.
    pub channels: Vec<ChannelState>,
    /// The channels' counts added up.
    pub totals: StateCounts,
}

impl StateSummary {
    /// Something is damaged: the file's structure, or a row of some channel.
    pub fn damaged(&self) -> bool {
        self.integrity != "ok" || self.totals.damaged_rows > 0
    }
}

/// How much of each kind a channel (or the whole database) holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateCounts {
    /// Messages in the history (delivered or sent, kept for repair and dedup).
    pub history_messages: u64,
    /// Their stored bytes (wire encodings without bloom filters).
    pub history_bytes: u64,
    /// Outgoing messages not yet acknowledged.
    pub outgoing: u64,
    /// Received messages buffered until their dependencies arrive.
    pub incoming: u64,
    /// SDS-R repair requests this node is due to send.
    pub outgoing_repair: u64,
    /// SDS-R repairs this node is due to answer (rebroadcasts).
    pub incoming_repair: u64,
    /// Ids the host declared present.
    pub met_ids: u64,
    /// Retrieval hints stored for history messages.
    pub retrieval_hints: u64,
    /// Rows that fail their checksum or do not decode (not counted above).
    pub damaged_rows: u64,
}

impl StateCounts {
    fn add(&mut self, other: &StateCounts) {
        self.history_messages += other.history_messages;
        self.history_bytes += other.history_bytes;
        self.outgoing += other.outgoing;
        self.incoming += other.incoming;
        self.outgoing_repair += other.outgoing_repair;
        self.incoming_repair += other.incoming_repair;
        self.met_ids += other.met_ids;
        self.retrieval_hints += other.retrieval_hints;
        self.damaged_rows += other.damaged_rows;
    }
}

/// One channel's stored state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelState {
    /// The channel id (lossily decoded if it is not UTF-8).
    pub channel_id: String,
    /// The Lamport clock of its header row; `None` when there is no sound header.
    pub lamport_clock: Option<i64>,
    /// How much it holds.
    pub counts: StateCounts,
    /// Unacknowledged outgoing messages, in buffer order.
    pub outgoing: Vec<OutgoingState>,
    /// Buffered incoming messages, in buffer order.
    pub incoming: Vec<IncomingState>,
    /// Repair requests due to be sent.
    pub outgoing_repair: Vec<RepairState>,
    /// Repairs due to be answered.
    pub incoming_repair: Vec<RepairState>,
    /// Ids the host declared present.
    pub met_ids: Vec<String>,
    /// Rows of the channel that were not read.
    pub damaged: Vec<DamagedRowState>,
}

/// An unacknowledged outgoing message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutgoingState {
    /// Its id.
    pub message_id: String,
    /// Its Lamport timestamp.
    pub lamport_timestamp: i64,
    /// Its content's size.
    pub content_bytes: u64,
    /// When it was last sent (Unix ms).
    pub send_time_ms: u64,
    /// How many times it was resent.
    pub resend_attempts: u32,
    /// How many received bloom filters held it (possible acknowledgements).
    pub bloom_hits: u32,
}

/// A received message waiting for its dependencies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingState {
    /// Its id.
    pub message_id: String,
    /// Who sent it.
    pub sender_id: String,
    /// Its Lamport timestamp.
    pub lamport_timestamp: i64,
    /// Its content's size.
    pub content_bytes: u64,
    /// The ids it waits for.
    pub missing_deps: Vec<String>,
    /// When it arrived (Unix ms; 0 when not stored).
    pub received_at_ms: u64,
}

/// An SDS-R repair entry, either direction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepairState {
    /// The id of the message to repair.
    pub message_id: String,
    /// Its original sender, when known.
    pub sender_id: String,
    /// When the request or answer is due (Unix ms).
    pub due_ms: u64,
    /// The size of the message kept to answer with (incoming repairs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_bytes: Option<u64>,
}

/// A row that was not read: which, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DamagedRowState {
    /// Its table.
    pub table: String,
    /// Its message id, for a table keyed by message within the channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// What is wrong with it.
    pub problem: String,
}

/// Reads the state database at `path` without changing it (see the module docs).
///
/// Fails, naming the file, when it is missing, is not a libstorage state database, has
/// a schema version this build does not read, or cannot be read; damaged rows are not
/// failures but part of the summary ([`StateSummary::damaged`]).
pub fn inspect(path: impl AsRef<Path>) -> Result<StateSummary, PersistenceError> {
    let path = path.as_ref();
    let fail = |problem: &dyn std::fmt::Display| file_error(path, problem);
    check_file(path).map_err(|problem| fail(&problem))?;
    if has_log(path) {
        return read(path, false);
    }
    let immutable = read(path, true);
    // A log that appeared during the immutable read (which may then have failed on pages
    // changing under it) means a context opened the file meanwhile: read again, through
    // the log.
    if has_log(path) {
        return read(path, false);
    }
    immutable
}

/// Opens and reads the database, immutable or through its log.
fn read(path: &Path, immutable: bool) -> Result<StateSummary, PersistenceError> {
    let fail = |problem: &dyn std::fmt::Display| file_error(path, problem);
    let conn = open_read_only(path, immutable).map_err(|e| fail(&e))?;
    let schema_version = identify(&conn).map_err(|problem| fail(&problem))?;
    let integrity: String = conn
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .map_err(|e| fail(&e))?;
    let channels = read_channels(&conn, schema_version).map_err(|e| fail(&e))?;
    let mut totals = StateCounts::default();
    for channel in &channels {
        totals.add(&channel.counts);
    }
    let summary = StateSummary {
        path: path.display().to_string(),
        schema_version,
        integrity,
        channels,
        totals,
    };
    Ok(summary)
}

/// Refuses what cannot be a database before SQLite sees it.
fn check_file(path: &Path) -> Result<(), String> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err("does not exist".to_owned()),
        Err(e) => return Err(e.to_string()),
    };
    if metadata.is_dir() {
        return Err("is a directory, not a database file".to_owned());
    }
    if metadata.len() == 0 {
        return Err("is empty (0 bytes): not a libstorage state database".to_owned());
    }
    Ok(())
}

/// A write-ahead log of `path` exists (a connection has the database open, or left it).
fn has_log(path: &Path) -> bool {
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    fs::symlink_metadata(Path::new(&log)).is_ok()
}

/// A read-only connection that never creates the file. Immutable goes through a URI,
/// so the path is percent-encoded byte by byte (SQLite decodes it back to the same bytes).
fn open_read_only(path: &Path, immutable: bool) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if immutable {
        let uri = format!("file:{}?immutable=1", uri_path(path));
        Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)?
    } else {
        Connection::open_with_flags(path, flags)?
    };
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch("PRAGMA query_only = 1;")?;
    Ok(conn)
}

/// `path` as the rest of a `file:` URI: unreserved bytes and `/` as they are, every
/// other byte as `%XX`; an absolute path after an empty authority (`//`), so that a path
/// starting with `//` is not read as one.
fn uri_path(path: &Path) -> String {
    let bytes = path.as_os_str().as_encoded_bytes();
    let mut out = String::with_capacity(bytes.len() + 2);
    if bytes.first() == Some(&b'/') {
        out.push_str("//");
    }
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The schema version of a libstorage database this build reads, or why not.
fn identify(conn: &Connection) -> Result<u32, String> {
    let (version, application_id, _) = schema::identify(conn).map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            "is not a SQLite database, so not a libstorage state database".to_owned()
        }
        e => e.to_string(),
    })?;
    if application_id != APPLICATION_ID || version == 0 {
        return Err(format!(
            "is not a libstorage state database (SQLite application_id {application_id:#x}, \
             schema version {version})"
        ));
    }
    if version > schema::current_version() {
        return Err(format!(
            "has schema version {version}, newer than this build reads (up to {})",
            schema::current_version()
        ));
    }
    if version < OLDEST_READ {
        return Err(format!(
            "has schema version {version}, from before row checksums, which this command \
             does not read; the library migrates it when a context opens it"
        ));
    }
    Ok(version)
}

/// A channel's rows as read, before its meta is joined.
#[derive(Default)]
struct Rows {
    header: Option<Vec<u8>>,
    entries: Vec<(BufferKind, String, Vec<u8>)>,
    state: ChannelState,
}

/// Reads every row of every table, grouped by channel.
fn read_channels(conn: &Connection, version: u32) -> rusqlite::Result<Vec<ChannelState>> {
    let mut channels: BTreeMap<String, Rows> = BTreeMap::new();
    each_row(
        conn,
        "SELECT channel_id, meta, crc32 FROM channel_meta",
        META_TABLE,
        &mut channels,
        |rows, _, value| rows.header = Some(value.to_vec()),
    )?;
    if version >= BUFFER_ROWS {
        for kind in BufferKind::all() {
            let table = table_of(kind);
            let sql =
                format!("SELECT channel_id, entry, crc32, message_id FROM {table} ORDER BY seq");
            each_row(conn, &sql, table, &mut channels, |rows, key, value| {
                rows.entries.push((kind, key.to_owned(), value.to_vec()));
            })?;
        }
    }
    each_row(
        conn,
        "SELECT channel_id, message, crc32, message_id FROM history ORDER BY seq",
        HISTORY_TABLE,
        &mut channels,
        |rows, _, value| {
            rows.state.counts.history_messages += 1;
            rows.state.counts.history_bytes += value.len() as u64;
        },
    )?;
    each_row(
        conn,
        "SELECT channel_id, hint, crc32, message_id FROM retrieval_hint",
        HINT_TABLE,
        &mut channels,
        |rows, _, _| rows.state.counts.retrieval_hints += 1,
    )?;
    Ok(channels
        .into_iter()
        .map(|(channel_id, rows)| joined(channel_id, rows))
        .collect())
}

/// Runs `sound` on each row `sql` selects (channel id, value, checksum and, for a table
/// keyed within the channel, the message id) that passes its checksum, with the row's
/// channel and key; records the others as damaged.
fn each_row(
    conn: &Connection,
    sql: &str,
    table: &'static str,
    channels: &mut BTreeMap<String, Rows>,
    mut sound: impl FnMut(&mut Rows, &str, &[u8]),
) -> rusqlite::Result<()> {
    let mut statement = conn.prepare(sql)?;
    let keyed = statement.column_count() == 4;
    let mut selected = statement.query([])?;
    while let Some(row) = selected.next()? {
        let stored = StoredRow {
            channel_id: row.get_ref(0)?,
            value: row.get_ref(1)?,
            checksum: row.get_ref(2)?,
            key: if keyed { Some(row.get_ref(3)?) } else { None },
        };
        let channel_id = text(stored.channel_id);
        let key = stored.key.map(text).unwrap_or_default();
        let rows = channels.entry(channel_id.clone()).or_default();
        match check_row(table, &channel_id, stored) {
            Ok(value) => sound(rows, &key, value),
            Err(damage) => rows.state.damaged.push(DamagedRowState {
                table: table.to_owned(),
                message_id: damage.key,
                problem: damage.problem,
            }),
        }
    }
    Ok(())
}

/// A column as text: lossily for bytes, `?` for any other type (damage: the row fails
/// its check).
fn text(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_) => "?".to_owned(),
    }
}

/// Joins a channel's header and buffer rows into its meta, as a load does, and
/// describes it; rows that do not decode are damaged.
fn joined(channel_id: String, rows: Rows) -> ChannelState {
    let Rows {
        header,
        entries,
        mut state,
    } = rows;
    state.channel_id = channel_id;
    let mut meta = ChannelMeta::default();
    if let Some(header) = header {
        // Version 2 keeps the whole meta here, buffers included: they count the same.
        match decode_channel_meta(&header) {
            Ok(decoded) => {
                state.lamport_clock = Some(decoded.lamport_timestamp);
                meta = decoded;
            }
            Err(e) => state.damaged.push(DamagedRowState {
                table: META_TABLE.to_owned(),
                message_id: None,
                problem: format!("does not decode as a channel meta ({e})"),
            }),
        }
    }
    for (kind, key, value) in entries {
        if let Err(bad) = join(&mut meta, kind, &value) {
            state.damaged.push(DamagedRowState {
                table: bad.table.to_owned(),
                message_id: Some(key),
                problem: format!("does not decode ({})", bad.problem),
            });
        }
    }
    describe(&mut state, meta);
    state
}

/// Fills `state`'s lists and counts from the joined `meta`.
fn describe(state: &mut ChannelState, meta: ChannelMeta) {
    state.outgoing = meta
        .outgoing
        .into_iter()
        .map(|o| OutgoingState {
            message_id: o.message.message_id,
            lamport_timestamp: o.message.lamport_timestamp,
            content_bytes: o.message.content.len() as u64,
            send_time_ms: o.send_time_ms,
            resend_attempts: o.resend_attempts,
            bloom_hits: o.bloom_hits,
        })
        .collect();
    state.incoming = meta
        .incoming
        .into_iter()
        .map(|i| IncomingState {
            message_id: i.message.message_id,
            sender_id: i.message.sender_id,
            lamport_timestamp: i.message.lamport_timestamp,
            content_bytes: i.message.content.len() as u64,
            missing_deps: i.missing_deps,
            received_at_ms: i.received_at_ms,
        })
        .collect();
    state.outgoing_repair = meta
        .outgoing_repair
        .into_iter()
        .map(|r| RepairState {
            message_id: r.entry.message_id,
            sender_id: r.entry.sender_id,
            due_ms: r.min_time_ms,
            cached_bytes: None,
        })
        .collect();
    state.incoming_repair = meta
        .incoming_repair
        .into_iter()
        .map(|r| RepairState {
            message_id: r.entry.message_id,
            sender_id: r.entry.sender_id,
            due_ms: r.min_time_ms,
            cached_bytes: Some(r.cached_message.len() as u64),
        })
        .collect();
    state.met_ids = meta.met_ids;
    let counts = &mut state.counts;
    counts.outgoing = state.outgoing.len() as u64;
    counts.incoming = state.incoming.len() as u64;
    counts.outgoing_repair = state.outgoing_repair.len() as u64;
    counts.incoming_repair = state.incoming_repair.len() as u64;
    counts.met_ids = state.met_ids.len() as u64;
    counts.damaged_rows = state.damaged.len() as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths_escape_what_a_uri_reads_specially() {
        assert_eq!(
            uri_path(Path::new("/tmp/a b/state?.db#1%")),
            "///tmp/a%20b/state%3F.db%231%25"
        );
        assert_eq!(uri_path(Path::new("//x")), "////x");
        assert_eq!(uri_path(Path::new("rel/ä")), "rel/%C3%A4");
    }
}
