//! Proptest strategies for protocol values, shaped by each test's alphabet and sizes.

use proptest::collection::vec;
use proptest::prelude::*;
use storage::protocol::{HistoryEntry, SdsMessage};

/// Fewer than `max` arbitrary bytes.
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> + Clone {
    vec(any::<u8>(), 0..max)
}

/// A history entry whose ids come from `id`, with a retrieval hint of fewer than
/// `hint_max` bytes.
#[allow(dead_code)] // not every test binary including this module builds messages
pub fn entry<I>(id: I, hint_max: usize) -> impl Strategy<Value = HistoryEntry> + Clone
where
    I: Strategy<Value = String> + Clone,
{
    (id.clone(), bytes(hint_max), id).prop_map(|(message_id, retrieval_hint, sender_id)| {
        HistoryEntry {
            message_id,
            retrieval_hint,
            sender_id,
        }
    })
}

/// A message with ids (message, sender, and those of up to 3 causal-history entries and 2
/// repair requests) from `id`, its channel from `channel`, fewer than `content_max` bytes
/// of content, entries' hints shorter than `hint_max` and its bloom field from `bloom`.
#[allow(dead_code)]
pub fn message<I, C, B>(
    id: I,
    channel: C,
    content_max: usize,
    hint_max: usize,
    bloom: B,
) -> impl Strategy<Value = SdsMessage>
where
    I: Strategy<Value = String> + Clone,
    C: Strategy<Value = String>,
    B: Strategy<Value = Vec<u8>>,
{
    (
        id.clone(),
        any::<i64>(),
        vec(entry(id.clone(), hint_max), 0..4),
        channel,
        bytes(content_max),
        bloom,
        id.clone(),
        vec(entry(id, hint_max), 0..3),
    )
        .prop_map(|m| SdsMessage {
            message_id: m.0,
            lamport_timestamp: m.1,
            causal_history: m.2,
            channel_id: m.3,
            content: m.4,
            bloom_filter: m.5,
            sender_id: m.6,
            repair_request: m.7,
        })
}
