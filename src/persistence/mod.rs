//! Snapshot persistence of protocol state: the contract, its codec and backends.

pub mod codec;
