//! Snapshot persistence of protocol state: the contract, its codec and backends
//! ([`memory`], [`sqlite`]; the host vtable adapter is in `ffi/`), and the
//! [`PersistentManager`](durable::PersistentManager) that applies the contract around
//! every protocol operation.

pub mod codec;
pub mod contract;
pub mod durable;
pub mod memory;
pub mod pending;
pub mod sqlite;
