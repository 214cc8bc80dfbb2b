//! The SDS message as the protocol sees it: plain Rust values, independent of the wire.

/// One entry of a message's causal history or repair-request list: a message id, with the
/// hint a peer can use to fetch it from elsewhere and the id of its original sender.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct HistoryEntry {
    /// Id of the referenced message.
    pub message_id: String,
    /// Opaque transport-specific hint for retrieving the message (may be empty).
    pub retrieval_hint: Vec<u8>,
    /// Participant that originally sent the message (may be empty).
    pub sender_id: String,
}

impl HistoryEntry {
    /// An entry carrying only a message id.
    pub fn new(message_id: impl Into<String>) -> Self {
        Self {
            message_id: message_id.into(),
            ..Self::default()
        }
    }
}

/// An SDS message: the application payload wrapped with reliability metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SdsMessage {
    /// Application-chosen id, unique within the channel.
    pub message_id: String,
    /// Lamport timestamp of the sender's channel clock (0 for ephemeral messages).
    pub lamport_timestamp: i64,
    /// The sender's most recent delivered messages, oldest first.
    pub causal_history: Vec<HistoryEntry>,
    /// Channel (group conversation or topic) the message belongs to.
    pub channel_id: String,
    /// Application payload (empty for sync messages).
    pub content: Vec<u8>,
    /// nim-sds serialized bloom filter of what the sender has seen (may be empty).
    pub bloom_filter: Vec<u8>,
    /// Participant id of the sender (empty when SDS-R is off).
    pub sender_id: String,
    /// SDS-R: messages the sender is asking peers to rebroadcast.
    pub repair_request: Vec<HistoryEntry>,
}

impl SdsMessage {
    /// An ephemeral message carries no Lamport timestamp, causal history or bloom filter;
    /// it is delivered at once and never buffered or stored.
    pub fn is_ephemeral(&self) -> bool {
        self.lamport_timestamp == 0
            && self.causal_history.is_empty()
            && self.bloom_filter.is_empty()
            && !self.content.is_empty()
    }

    /// A sync message carries metadata only (empty content); it is never delivered.
    pub fn is_sync(&self) -> bool {
        self.content.is_empty()
    }
}
