//! The snapshot persistence contract every backend implements (memory, SQLite, host
//! vtable). Everything crosses it as snapshot-codec bytes, so backends store opaque blobs.

use thiserror::Error;

use crate::protocol::journal::BufferKind;

/// A backend call failed; the message says why, in the backend's words.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct PersistenceError(pub String);

impl PersistenceError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// One history row: a message id and the message's stored encoding (no bloom field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Id of the message.
    pub message_id: String,
    /// `wire::encode_stored_message` bytes.
    pub bytes: Vec<u8>,
}

/// History changes to apply: rows to append (in order) and ids to evict. No id is in both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryBatch {
    /// Rows to append, oldest first.
    pub append: Vec<StoredMessage>,
    /// Ids whose rows to delete.
    pub evict: Vec<String>,
}

impl HistoryBatch {
    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.append.is_empty() && self.evict.is_empty()
    }
}

/// What a backend holds for a channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredChannel {
    /// `codec::encode_channel_meta` bytes of the last saved meta, if any.
    pub meta: Option<Vec<u8>>,
    /// History rows in append order.
    pub history: Vec<Vec<u8>>,
}

/// How one buffer entry's stored row changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowWrite {
    /// The entry is gone: delete its row.
    Delete,
    /// The entry changed where it is: its row keeps its place in the buffer's order.
    InPlace(Vec<u8>),
    /// The entry was added (or removed and added again): its row goes last.
    AtEnd(Vec<u8>),
}

/// One buffer entry's row change. The bytes are `codec::encode_channel_meta` of a meta
/// holding that one entry (see `Manager::channel_meta_entry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaRow {
    /// The buffer holding the entry.
    pub buffer: BufferKind,
    /// The entry's message id (its key within the buffer).
    pub message_id: String,
    /// What to do with its row.
    pub write: RowWrite,
}

/// One operation's meta change, for a backend that stores buffer entries as rows: the
/// small fixed header and only the rows that changed, in the order to apply them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaRows {
    /// `codec::encode_channel_meta` of the meta without buffers (the Lamport clock).
    pub header: Vec<u8>,
    /// The buffer rows to write or delete.
    pub rows: Vec<MetaRow>,
}

/// Outcome of saving one operation's state: each half can fail on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaveOutcome {
    /// Result of saving the meta, if one was given.
    pub meta: Result<(), PersistenceError>,
    /// Result of applying the history batch, if one was given.
    pub history: Result<(), PersistenceError>,
}

/// A persistence backend. Calls come from one thread at a time.
pub trait Persistence: Send {
    /// Replaces the channel's meta with `meta`.
    fn save_channel_meta(&mut self, channel_id: &str, meta: &[u8]) -> Result<(), PersistenceError>;

    /// Appends and evicts history rows.
    fn update_history(
        &mut self,
        channel_id: &str,
        batch: &HistoryBatch,
    ) -> Result<(), PersistenceError>;

    /// Everything stored for the channel, or `None` if nothing is.
    fn load_channel(&mut self, channel_id: &str)
        -> Result<Option<StoredChannel>, PersistenceError>;

    /// Deletes everything stored for the channel.
    fn drop_channel(&mut self, channel_id: &str) -> Result<(), PersistenceError>;

    /// Records a retrieval hint learned for a message.
    fn set_retrieval_hint(
        &mut self,
        channel_id: &str,
        message_id: &str,
        hint: &[u8],
    ) -> Result<(), PersistenceError>;

    /// Whether this backend keeps anything. `false` lets the caller skip building
    /// snapshots that would be thrown away.
    fn is_durable(&self) -> bool {
        true
    }

    /// Saves the meta and history changes of one operation. Durable backends override
    /// this to run both in one transaction; the default makes the two calls in turn.
    fn save_op(
        &mut self,
        channel_id: &str,
        meta: Option<&[u8]>,
        history: Option<&HistoryBatch>,
    ) -> SaveOutcome {
        let meta = match meta {
            Some(meta) => self.save_channel_meta(channel_id, meta),
            None => Ok(()),
        };
        let history = match history {
            Some(batch) => self.update_history(channel_id, batch),
            None => Ok(()),
        };
        SaveOutcome { meta, history }
    }

    /// Whether the backend stores buffer entries as rows and takes an operation's meta
    /// change as [`MetaRows`] through [`Self::save_op_rows`], so that an operation
    /// writes what it changed rather than every message outstanding.
    fn stores_meta_rows(&self) -> bool {
        false
    }

    /// Saves one operation's meta change as rows (see [`Self::stores_meta_rows`]) and its
    /// history changes, atomically like [`Self::save_op`]. Only called when
    /// [`Self::stores_meta_rows`] is true; the default refuses both halves.
    fn save_op_rows(
        &mut self,
        _channel_id: &str,
        _meta: Option<&MetaRows>,
        _history: Option<&HistoryBatch>,
    ) -> SaveOutcome {
        let refused = Err(PersistenceError::new(
            "this backend stores whole snapshots, not meta rows",
        ));
        SaveOutcome {
            meta: refused.clone(),
            history: refused,
        }
    }

    /// Whether consecutive `save_op`s can share one commit through
    /// [`Self::begin_group`] and [`Self::commit_group`] (group commit).
    fn groups_commits(&self) -> bool {
        false
    }

    /// Opens a group: the `save_op`s until [`Self::commit_group`] are committed together,
    /// each still atomic on its own (a failing op leaves nothing of itself behind).
    fn begin_group(&mut self) -> Result<(), PersistenceError> {
        Ok(())
    }

    /// Commits the group. On failure none of the group's saves is durable.
    fn commit_group(&mut self) -> Result<(), PersistenceError> {
        Ok(())
    }

    /// Rolls back whatever transaction a panic left open (a group, or one op's save), so
    /// that only committed state remains; the worker calls it before it restarts.
    fn abandon(&mut self) {}
}

/// The backend that stores nothing (`"persistence": {"kind": "none"}`).
#[derive(Debug, Default)]
pub struct NoPersistence;

impl Persistence for NoPersistence {
    fn is_durable(&self) -> bool {
        false
    }
    fn save_channel_meta(&mut self, _: &str, _: &[u8]) -> Result<(), PersistenceError> {
        Ok(())
    }
    fn update_history(&mut self, _: &str, _: &HistoryBatch) -> Result<(), PersistenceError> {
        Ok(())
    }
    fn load_channel(&mut self, _: &str) -> Result<Option<StoredChannel>, PersistenceError> {
        Ok(None)
    }
    fn drop_channel(&mut self, _: &str) -> Result<(), PersistenceError> {
        Ok(())
    }
    fn set_retrieval_hint(&mut self, _: &str, _: &str, _: &[u8]) -> Result<(), PersistenceError> {
        Ok(())
    }
}
