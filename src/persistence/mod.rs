//! Snapshot persistence of protocol state: the contract, its codec and backends.
