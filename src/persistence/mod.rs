//! Snapshot persistence of protocol state: the contract, its codec and backends
//! ([`memory`], [`sqlite`], the host vtable adapter [`host`]), and the
//! [`PersistentManager`](durable::PersistentManager) that applies the contract around
//! every protocol operation.

pub mod codec;
pub mod contract;
pub mod durable;
pub mod host;
pub mod memory;
pub mod pending;
pub mod sqlite;
