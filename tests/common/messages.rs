//! Messages, history entries and payloads that tests and benches build.

use storage::protocol::{HistoryEntry, SdsMessage};

/// Message `id` on `channel` at Lamport time `lamport` holding `content`; every other
/// field empty (set the rest with `SdsMessage { .., ..sds_message(..) }`).
#[allow(dead_code)] // not every test binary including this module uses every builder
pub fn sds_message(channel: &str, id: &str, lamport: i64, content: &[u8]) -> SdsMessage {
    SdsMessage {
        message_id: id.into(),
        lamport_timestamp: lamport,
        channel_id: channel.into(),
        content: content.to_vec(),
        ..SdsMessage::default()
    }
}

/// A history entry naming `id`, with its retrieval hint and sender.
#[allow(dead_code)]
pub fn entry(id: &str, hint: &[u8], sender: &str) -> HistoryEntry {
    HistoryEntry {
        message_id: id.into(),
        retrieval_hint: hint.to_vec(),
        sender_id: sender.into(),
    }
}

/// Entries naming `ids`, nothing else known about them.
#[allow(dead_code)]
pub fn entries(ids: &[String]) -> Vec<HistoryEntry> {
    ids.iter()
        .map(|id| HistoryEntry::new(id.as_str()))
        .collect()
}

/// `m` without its bloom filter, as history and recordings store it.
#[allow(dead_code)]
pub fn without_bloom(m: &SdsMessage) -> SdsMessage {
    SdsMessage {
        bloom_filter: Vec::new(),
        ..m.clone()
    }
}

/// `len` bytes of xorshift noise from `seed`: deterministic, and bytes zstd cannot shrink
/// much, so files grow as real sensor data makes them grow.
#[allow(dead_code)]
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
