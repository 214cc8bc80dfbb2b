//! The channel meta as the SQLite store keeps it (schema 3): a header row in
//! `channel_meta` (the meta without its buffers: the Lamport clock) and one row per
//! buffer entry in the buffer's table, each row's value the snapshot codec's encoding of
//! a meta holding that one entry. Rows keep the buffer's order by their `seq`.
//!
//! This module splits a complete meta into that form (for the snapshot contract's
//! `save_channel_meta` and the migration from schema 2) and joins it back on load.

use rusqlite::{params, Connection};

use crate::persistence::codec::{decode_channel_meta, encode_channel_meta, SnapshotError};
use crate::persistence::contract::{MetaRow, MetaRows, RowWrite};
use crate::protocol::journal::BufferKind;
use crate::protocol::snapshot::ChannelMeta;

use super::checksum::row_checksum;

/// The table holding the rows of `kind`; part of its rows' checksums.
pub(crate) fn table_of(kind: BufferKind) -> &'static str {
    match kind {
        BufferKind::Outgoing => "outgoing",
        BufferKind::Incoming => "incoming",
        BufferKind::OutgoingRepair => "outgoing_repair",
        BufferKind::IncomingRepair => "incoming_repair",
        BufferKind::MetIds => "met_id",
    }
}

/// Schema 3's buffer tables: `seq` orders a buffer's rows (a new row takes the largest
/// `seq` plus one, so it sorts last); the key is (channel, message id).
pub(crate) fn create_tables_sql() -> String {
    BufferKind::all()
        .iter()
        .map(|kind| {
            format!(
                "CREATE TABLE {} (
                     seq INTEGER PRIMARY KEY,
                     channel_id TEXT NOT NULL,
                     message_id TEXT NOT NULL,
                     entry BLOB NOT NULL,
                     crc32 INTEGER NOT NULL,
                     UNIQUE (channel_id, message_id)
                 );",
                table_of(*kind)
            )
        })
        .collect()
}

/// Splits a complete meta into its header and the rows of every buffer entry, in
/// buffer order.
pub(crate) fn split(mut meta: ChannelMeta) -> MetaRows {
    let mut rows = Vec::new();
    // A row of `buffer` holding the entry `fill` puts in an otherwise empty meta.
    let mut push = |buffer, message_id: String, fill: &dyn Fn(&mut ChannelMeta)| {
        let mut one = ChannelMeta::default();
        fill(&mut one);
        rows.push(MetaRow {
            buffer,
            message_id,
            write: RowWrite::AtEnd(encode_channel_meta(&one)),
        });
    };
    for entry in std::mem::take(&mut meta.outgoing) {
        let id = entry.message.message_id.clone();
        push(BufferKind::Outgoing, id, &|m| {
            m.outgoing.push(entry.clone())
        });
    }
    for entry in std::mem::take(&mut meta.incoming) {
        let id = entry.message.message_id.clone();
        push(BufferKind::Incoming, id, &|m| {
            m.incoming.push(entry.clone())
        });
    }
    for entry in std::mem::take(&mut meta.outgoing_repair) {
        let id = entry.entry.message_id.clone();
        push(BufferKind::OutgoingRepair, id, &|m| {
            m.outgoing_repair.push(entry.clone())
        });
    }
    for entry in std::mem::take(&mut meta.incoming_repair) {
        let id = entry.entry.message_id.clone();
        push(BufferKind::IncomingRepair, id, &|m| {
            m.incoming_repair.push(entry.clone())
        });
    }
    for id in std::mem::take(&mut meta.met_ids) {
        push(BufferKind::MetIds, id.clone(), &|m| {
            m.met_ids.push(id.clone())
        });
    }
    MetaRows {
        header: encode_channel_meta(&meta),
        rows,
    }
}

/// Why a stored row does not join its channel's meta.
#[derive(Debug)]
pub(crate) struct BadRow {
    /// The row's table.
    pub table: &'static str,
    /// What is wrong.
    pub problem: String,
}

/// Adds the entry of a row of `kind` (its stored value) to `meta`.
pub(crate) fn join(meta: &mut ChannelMeta, kind: BufferKind, value: &[u8]) -> Result<(), BadRow> {
    let bad = |problem: String| BadRow {
        table: table_of(kind),
        problem,
    };
    let one = decode_channel_meta(value).map_err(|e: SnapshotError| bad(e.to_string()))?;
    let counts = [
        one.outgoing.len(),
        one.incoming.len(),
        one.outgoing_repair.len(),
        one.incoming_repair.len(),
        one.met_ids.len(),
    ];
    let at = BufferKind::all()
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default();
    if counts.iter().sum::<usize>() != 1 || counts[at] != 1 {
        return Err(bad(format!(
            "holds {counts:?} entries (outgoing, incoming, repairs, met ids), not one of its buffer"
        )));
    }
    meta.outgoing.extend(one.outgoing);
    meta.incoming.extend(one.incoming);
    meta.outgoing_repair.extend(one.outgoing_repair);
    meta.incoming_repair.extend(one.incoming_repair);
    meta.met_ids.extend(one.met_ids);
    Ok(())
}

/// Writes the header row of `channel_id`.
pub(crate) fn write_header(
    conn: &Connection,
    channel_id: &str,
    header: &[u8],
) -> rusqlite::Result<()> {
    let crc = row_checksum("channel_meta", channel_id.as_bytes(), b"", header);
    conn.prepare_cached(
        "INSERT INTO channel_meta (channel_id, meta, crc32) VALUES (?1, ?2, ?3)
         ON CONFLICT (channel_id) DO UPDATE SET meta = excluded.meta, crc32 = excluded.crc32",
    )?
    .execute(params![channel_id, header, crc])?;
    Ok(())
}

/// Applies the header and the row changes of `meta`, in order.
pub(crate) fn write(conn: &Connection, channel_id: &str, meta: &MetaRows) -> rusqlite::Result<()> {
    write_header(conn, channel_id, &meta.header)?;
    for row in &meta.rows {
        let table = table_of(row.buffer);
        let (sql, value) = match &row.write {
            RowWrite::Delete => {
                conn.prepare_cached(&format!(
                    "DELETE FROM {table} WHERE channel_id = ?1 AND message_id = ?2"
                ))?
                .execute(params![channel_id, row.message_id])?;
                continue;
            }
            // A conflicting row is deleted and the new one takes the next `seq`: last.
            RowWrite::AtEnd(value) => (
                format!(
                    "INSERT OR REPLACE INTO {table} (channel_id, message_id, entry, crc32)
                     VALUES (?1, ?2, ?3, ?4)"
                ),
                value,
            ),
            // An existing row keeps its `seq`: its place.
            RowWrite::InPlace(value) => (
                format!(
                    "INSERT INTO {table} (channel_id, message_id, entry, crc32)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (channel_id, message_id)
                     DO UPDATE SET entry = excluded.entry, crc32 = excluded.crc32"
                ),
                value,
            ),
        };
        let crc = row_checksum(
            table,
            channel_id.as_bytes(),
            row.message_id.as_bytes(),
            value,
        );
        conn.prepare_cached(&sql)?
            .execute(params![channel_id, row.message_id, value, crc])?;
    }
    Ok(())
}

/// Deletes every buffer row of `channel_id`.
pub(crate) fn delete_all(conn: &Connection, channel_id: &str) -> rusqlite::Result<()> {
    for kind in BufferKind::all() {
        conn.prepare_cached(&format!(
            "DELETE FROM {} WHERE channel_id = ?1",
            table_of(kind)
        ))?
        .execute(params![channel_id])?;
    }
    Ok(())
}

/// Replaces everything stored of the channel's meta with the complete meta `bytes`
/// (the snapshot contract's save). Bytes that do not decode are kept whole as the
/// header, as the contract keeps any blob: loading hands them back as they are.
pub(crate) fn replace(conn: &Connection, channel_id: &str, bytes: &[u8]) -> rusqlite::Result<()> {
    delete_all(conn, channel_id)?;
    match decode_channel_meta(bytes) {
        Ok(meta) => write(conn, channel_id, &split(meta)),
        Err(_) => write_header(conn, channel_id, bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::{HistoryEntry, SdsMessage};
    use crate::protocol::snapshot::{IncomingEntry, IncomingRepair, OutgoingEntry, OutgoingRepair};

    fn message(id: &str) -> SdsMessage {
        SdsMessage {
            message_id: id.into(),
            sender_id: "s".into(),
            channel_id: "c".into(),
            content: b"x".to_vec(),
            ..SdsMessage::default()
        }
    }

    #[test]
    fn a_split_meta_joins_back_equal() {
        let meta = ChannelMeta {
            lamport_timestamp: 42,
            outgoing: vec![
                OutgoingEntry {
                    message: message("o1"),
                    send_time_ms: 5,
                    resend_attempts: 1,
                    bloom_hits: 2,
                },
                OutgoingEntry {
                    message: message("o0"),
                    ..OutgoingEntry::default()
                },
            ],
            incoming: vec![IncomingEntry {
                message: message("i1"),
                missing_deps: vec!["d".into()],
                received_at_ms: 9,
            }],
            outgoing_repair: vec![OutgoingRepair {
                entry: HistoryEntry::new("r1"),
                min_time_ms: 3,
            }],
            incoming_repair: vec![IncomingRepair {
                entry: HistoryEntry::new("r2"),
                cached_message: vec![1, 2],
                min_time_ms: 4,
            }],
            met_ids: vec!["m1".into(), "m0".into()],
        };
        let rows = split(meta.clone());
        let mut joined = decode_channel_meta(&rows.header).unwrap();
        assert_eq!(joined.lamport_timestamp, 42);
        assert!(joined.outgoing.is_empty() && joined.met_ids.is_empty());
        for row in &rows.rows {
            let RowWrite::AtEnd(value) = &row.write else {
                panic!("a split row is appended");
            };
            join(&mut joined, row.buffer, value).unwrap();
        }
        assert_eq!(joined, meta);
    }

    #[test]
    fn a_row_of_another_buffer_does_not_join() {
        let one = ChannelMeta {
            met_ids: vec!["m".into()],
            ..ChannelMeta::default()
        };
        let err = join(
            &mut ChannelMeta::default(),
            BufferKind::Outgoing,
            &encode_channel_meta(&one),
        )
        .unwrap_err();
        assert_eq!(err.table, "outgoing");
        assert!(
            err.problem.contains("not one of its buffer"),
            "{}",
            err.problem
        );
    }
}
