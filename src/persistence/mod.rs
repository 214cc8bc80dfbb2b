//! Snapshot persistence of protocol state: the [`Persistence`] contract, its snapshot
//! codec ([`encode_channel_meta`] and friends), the backends ([`MemoryStore`],
//! [`SqliteStore`]; the host vtable adapter lives in `ffi/`), and the
//! [`PersistentManager`] that applies the contract around every protocol operation.

pub(crate) mod codec;
pub(crate) mod contract;
pub(crate) mod durable;
pub(crate) mod memory;
pub(crate) mod pending;
pub mod sqlite;

pub use codec::{
    decode_channel_data, decode_channel_meta, decode_history_update, encode_channel_data,
    encode_channel_meta, encode_history_update, SnapshotError,
};
pub use contract::{
    HistoryBatch, MetaRow, MetaRows, NoPersistence, Persistence, PersistenceError, RowWrite,
    SaveOutcome, StoredChannel, StoredMessage,
};
pub use durable::{OpError, PersistentManager, SaveHealth};
pub use memory::{Call, MemoryStore};
pub use sqlite::schema::current_version as sqlite_schema_version;
pub use sqlite::{SqliteStore, Synchronous};
