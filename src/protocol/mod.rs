//! SDS and SDS-R, pure: messages and wire codec, bloom filters, channel state, the
//! manager's operations and sweeps. No threads, no I/O, no clock reads: callers pass `now`
//! (Unix milliseconds) and get values and events back.
//!
//! The API is flat: [`Manager`] runs the protocol for its channels under a
//! [`ProtocolConfig`]; [`SdsMessage`] and [`HistoryEntry`] are the wire messages, encoded
//! and decoded by [`encode_message`] and [`decode_message`] (nim-sds's protobuf rules);
//! [`BloomFilter`] is nim-sds's bloom filter, hashed with [`nim_hash`]; the snapshot types
//! ([`ChannelMeta`], [`ChannelData`], [`HistoryUpdate`]) are what persistence stores.

pub(crate) mod bloom;
pub(crate) mod budget;
pub(crate) mod channel;
pub(crate) mod config;
pub(crate) mod dialect;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod farmhash;
pub(crate) mod history;
mod incoming;
pub(crate) mod journal;
pub(crate) mod manager;
pub(crate) mod message;
pub(crate) mod murmur;
pub(crate) mod protobuf;
mod repair_buffer;
pub(crate) mod rolling_bloom;
pub(crate) mod sdsr;
pub(crate) mod snapshot;
pub(crate) mod wire;

pub use bloom::{BloomError, BloomFilter, IdHashes, PeerBloom};
pub use budget::Usage;
pub use channel::{ChannelChanges, ChannelCounters, HistoryChange, RefusalCounts};
pub use config::{ConfigError, LamportUnit, ProtocolConfig};
pub use dialect::WireFormat;
pub use error::ProtocolError;
pub use event::Event;
pub use farmhash::{fingerprint64, nim_hash};
pub use journal::{BufferJournal, BufferKind, MetaJournal};
pub use manager::{ChannelStats, Manager, RetrievalHintProvider, UnwrapStatus, Unwrapped};
pub use message::{HistoryEntry, SdsMessage};
pub use rolling_bloom::RollingBloomFilter;
pub use sdsr::{in_response_group, t_req_ms, t_resp_ms};
pub use snapshot::{
    ChannelData, ChannelMeta, HistoryUpdate, IncomingEntry, IncomingRepair, OutgoingEntry,
    OutgoingRepair,
};
pub use wire::{
    decode_history_entry, decode_message, decode_received, decode_received_within,
    decode_stored_message, encode_history_entry, encode_message, encode_message_as,
    encode_message_into, encode_message_with_bloom, encode_message_with_bloom_as,
    encode_stored_message, encoded_message_len, DecodeError, DecodeLimits, Received,
};
