//! Row checksums of the SQLite store: every row carries the CRC-32 of what it holds and
//! where it belongs, so a changed byte, or a row moved to another key, channel or table,
//! is caught when the row is read back instead of being loaded as state.
//!
//! The checksum is CRC-32 (IEEE, as zlib's `crc32`) of four fields, each written as its
//! length in bytes (u64, little-endian) followed by its bytes: the table name, the channel
//! id, the row's key within the channel (the message id; empty for the channel's meta)
//! and the stored value. It is kept in the row's `crc32` INTEGER column. It guards against
//! damage, not against someone who rewrites a row and its checksum together; damage to
//! the file's structure (pages, indexes) is SQLite's `quick_check` at start.
//!
//! Every row type uses the same helpers: [`row_checksum`] when writing, [`check_row`]
//! when reading, and the SQL function [`register_sql_function`] adds for migrations.

use std::fmt;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// The SQL name of [`row_checksum`]: `libstorage_row_crc32(table, channel_id, key, value)`.
pub(crate) const SQL_FUNCTION: &str = "libstorage_row_crc32";

/// Longest key or channel id quoted in full in an error; longer ones are cut.
const SHOWN_BYTES: usize = 128;

/// The checksum of a row of `table` (see the module docs).
pub(crate) fn row_checksum(table: &str, channel_id: &[u8], key: &[u8], value: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for field in [table.as_bytes(), channel_id, key, value] {
        hasher.update(&(field.len() as u64).to_le_bytes());
        hasher.update(field);
    }
    hasher.finalize()
}

/// The columns of a stored row as read back. Each is taken as SQLite returns it, of any
/// type, since damage can change a column's type as well as its bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StoredRow<'a> {
    /// The `channel_id` column.
    pub channel_id: ValueRef<'a>,
    /// The key column (`message_id`), or `None` for a table keyed by channel alone.
    pub key: Option<ValueRef<'a>>,
    /// The stored value.
    pub value: ValueRef<'a>,
    /// The `crc32` column.
    pub checksum: ValueRef<'a>,
}

/// A stored row that fails its check: which row, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DamagedRow {
    /// Its table.
    pub table: &'static str,
    /// The channel being read.
    pub channel_id: String,
    /// Its key as stored, shown lossily; `None` for a row keyed by channel alone.
    pub key: Option<String>,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for DamagedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            table,
            channel_id,
            key,
            problem,
        } = self;
        match key {
            Some(key) => write!(
                f,
                "the `{table}` row of message `{key}` in channel `{channel_id}` {problem}"
            ),
            None => write!(f, "the `{table}` row of channel `{channel_id}` {problem}"),
        }
    }
}

/// The bytes of a text or blob column; `None` for any other type.
fn bytes(value: ValueRef<'_>) -> Option<&[u8]> {
    match value {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Some(bytes),
        ValueRef::Null | ValueRef::Integer(_) | ValueRef::Real(_) => None,
    }
}

/// `bytes` as text for an error message, cut after [`SHOWN_BYTES`].
fn shown(bytes: &[u8]) -> String {
    match bytes.get(..SHOWN_BYTES) {
        Some(start) if bytes.len() > SHOWN_BYTES => {
            format!("{}…", String::from_utf8_lossy(start))
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Checks a row of `table` read for `channel_id` against its checksum, and returns the
/// bytes of its value.
pub(crate) fn check_row<'a>(
    table: &'static str,
    channel_id: &str,
    row: StoredRow<'a>,
) -> Result<&'a [u8], DamagedRow> {
    let key = row.key.map(bytes);
    let damaged = |problem: String| DamagedRow {
        table,
        channel_id: shown(channel_id.as_bytes()),
        key: key.map(|key| key.map_or_else(|| "?".to_owned(), shown)),
        problem,
    };
    let column = |name: &str| damaged(format!("has a damaged `{name}` column (not text or bytes)"));
    let stored_channel = bytes(row.channel_id).ok_or_else(|| column("channel_id"))?;
    let key = match key {
        Some(key) => key.ok_or_else(|| column("message_id"))?,
        None => &[],
    };
    let value = bytes(row.value).ok_or_else(|| column("value"))?;
    let computed = row_checksum(table, stored_channel, key, value);
    match row.checksum {
        ValueRef::Integer(stored) if stored == i64::from(computed) => Ok(value),
        ValueRef::Integer(stored) => Err(damaged(format!(
            "fails its checksum (stored {stored:#010x}, computed {computed:#010x})"
        ))),
        _ => Err(column("crc32")),
    }
}

/// Adds [`SQL_FUNCTION`] to `conn`, so that a migration can compute the checksums of
/// rows already stored. A column that is not text or bytes counts as empty: the row then
/// fails [`check_row`] when it is read, rather than the whole migration failing.
pub(crate) fn register_sql_function(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function(SQL_FUNCTION, 4, flags, |ctx| {
        let field = |i| bytes(ctx.get_raw(i)).unwrap_or_default();
        let table = String::from_utf8_lossy(field(0));
        Ok(i64::from(row_checksum(
            &table,
            field(1),
            field(2),
            field(3),
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row<'a>(channel: &'a [u8], key: &'a [u8], value: &'a [u8], crc: u32) -> StoredRow<'a> {
        StoredRow {
            channel_id: ValueRef::Text(channel),
            key: Some(ValueRef::Text(key)),
            value: ValueRef::Blob(value),
            checksum: ValueRef::Integer(i64::from(crc)),
        }
    }

    #[test]
    fn the_checksum_is_crc32_of_length_prefixed_fields() {
        // Computed independently: zlib.crc32 of b"".join(struct.pack("<Q", len(f)) + f).
        assert_eq!(
            row_checksum("history", b"chan", b"m1", b"hello"),
            0x683d_1c13
        );
        assert_eq!(
            row_checksum("channel_meta", b"chan", b"", b"meta"),
            0x9002_35e4
        );
    }

    #[test]
    fn a_sound_row_gives_its_value() {
        let crc = row_checksum("history", b"chan", b"m1", b"hello");
        let value = check_row("history", "chan", row(b"chan", b"m1", b"hello", crc)).unwrap();
        assert_eq!(value, b"hello");
    }

    #[test]
    fn a_damaged_row_is_named() {
        let crc = row_checksum("history", b"chan", b"m1", b"hello");
        let err = check_row("history", "chan", row(b"chan", b"m1", b"hellO", crc)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "the `history` row of message `m1` in channel `chan` fails its checksum"
            ),
            "{text}"
        );
        let meta = StoredRow {
            key: None,
            ..row(b"chan", b"", b"meta", 0)
        };
        let err = check_row("channel_meta", "chan", meta).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the `channel_meta` row of channel `chan` fails"),
            "{err}"
        );
    }

    #[test]
    fn a_column_of_the_wrong_type_is_damage() {
        let crc = row_checksum("history", b"chan", b"m1", b"hello");
        for (broken, column) in [
            (
                StoredRow {
                    value: ValueRef::Null,
                    ..row(b"chan", b"m1", b"hello", crc)
                },
                "value",
            ),
            (
                StoredRow {
                    checksum: ValueRef::Real(1.5),
                    ..row(b"chan", b"m1", b"hello", crc)
                },
                "crc32",
            ),
            (
                StoredRow {
                    key: Some(ValueRef::Integer(7)),
                    ..row(b"chan", b"m1", b"hello", crc)
                },
                "message_id",
            ),
        ] {
            let err = check_row("history", "chan", broken).unwrap_err();
            assert!(err.problem.contains(&format!("`{column}` column")), "{err}");
        }
    }

    #[test]
    fn long_keys_are_cut_in_errors() {
        let key = vec![b'k'; 10_000];
        let err = check_row("history", "chan", row(b"chan", &key, b"v", 0)).unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
    }

    proptest! {
        /// Every single changed byte, in any field, is caught (CRC-32 catches every error
        /// burst of up to 32 bits).
        #[test]
        fn any_changed_byte_is_caught(
            channel in proptest::collection::vec(any::<u8>(), 0..40),
            key in proptest::collection::vec(any::<u8>(), 0..40),
            value in proptest::collection::vec(any::<u8>(), 0..600),
            field in 0usize..3,
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let crc = row_checksum("history", &channel, &key, &value);
            prop_assert!(check_row("history", "c", row(&channel, &key, &value, crc)).is_ok());
            let mut fields = [channel.clone(), key.clone(), value.clone()];
            prop_assume!(!fields[field].is_empty());
            let i = at.index(fields[field].len());
            fields[field][i] ^= flip;
            let [channel, key, value] = &fields;
            prop_assert!(check_row("history", "c", row(channel, key, value, crc)).is_err());
        }

        /// A row's value under another key, channel or table fails there.
        #[test]
        fn a_value_moved_elsewhere_is_caught(
            key in "[a-z0-9]{1,12}",
            other_key in "[a-z0-9]{1,12}",
            value in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            prop_assume!(key != other_key);
            let crc = row_checksum("history", b"chan", key.as_bytes(), &value);
            let moved = row(b"chan", other_key.as_bytes(), &value, crc);
            prop_assert!(check_row("history", "chan", moved).is_err());
            let moved = row(b"chan2", key.as_bytes(), &value, crc);
            prop_assert!(check_row("history", "chan2", moved).is_err());
            let moved = row(b"chan", key.as_bytes(), &value, crc);
            prop_assert!(check_row("retrieval_hint", "chan", moved).is_err());
        }

        /// Keys and values are length-prefixed: bytes shifted from one field to the next
        /// change the checksum.
        #[test]
        fn field_boundaries_count(
            key in proptest::collection::vec(any::<u8>(), 1..20),
            value in proptest::collection::vec(any::<u8>(), 0..20),
        ) {
            let mut shifted_value = key[key.len() - 1..].to_vec();
            shifted_value.extend_from_slice(&value);
            prop_assert_ne!(
                row_checksum("history", b"chan", &key, &value),
                row_checksum("history", b"chan", &key[..key.len() - 1], &shifted_value)
            );
        }
    }
}
