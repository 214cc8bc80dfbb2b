//! What the protocol tells the host: events produced by operations and sweeps.

use super::message::HistoryEntry;

/// An event for the host, produced by an operation or a sweep of the [`Manager`].
///
/// [`Manager`]: super::manager::Manager
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A received message is delivered: all its causal dependencies were delivered before.
    MessageReady {
        /// Channel of the message.
        channel_id: String,
        /// Id of the delivered message.
        message_id: String,
        /// Participant that sent it (empty if the sender runs without SDS-R).
        sender_id: String,
        /// Its Lamport timestamp.
        lamport_timestamp: i64,
        /// Its content.
        content: Vec<u8>,
    },
    /// An outgoing message is acknowledged: a peer listed it in its causal history, or
    /// enough independent bloom filters contained it.
    MessageSent {
        /// Channel of the message.
        channel_id: String,
        /// Id of the acknowledged message.
        message_id: String,
    },
    /// A peer's bloom filter contains an outgoing message, which is therefore probably (not
    /// certainly) received; it stays unacknowledged until confirmed.
    PossiblyAcknowledged {
        /// Channel of the message.
        channel_id: String,
        /// Id of the message.
        message_id: String,
        /// Independent bloom hits so far.
        hits: u32,
    },
    /// An unacknowledged message is due again: the host should rebroadcast `bytes`.
    Resend {
        /// Channel of the message.
        channel_id: String,
        /// Id of the message.
        message_id: String,
        /// Which resend this is (1 for the first).
        attempt: u32,
        /// The message, wrapped with the channel's current bloom filter.
        bytes: Vec<u8>,
    },
    /// An outgoing message exhausted its resends without being acknowledged.
    Expired {
        /// Channel of the message.
        channel_id: String,
        /// Id of the message.
        message_id: String,
    },
    /// A received message is buffered because some of its dependencies are missing.
    MissingDependencies {
        /// Channel of the message.
        channel_id: String,
        /// Id of the buffered message.
        message_id: String,
        /// The dependencies not yet delivered, with their retrieval hints.
        missing: Vec<HistoryEntry>,
    },
    /// A buffered message waited longer than `max_dependency_wait_ms` and was dropped.
    Lost {
        /// Channel of the message.
        channel_id: String,
        /// Id of the dropped message.
        message_id: String,
        /// The dependencies that never arrived.
        missing: Vec<String>,
    },
    /// SDS-R: this node should rebroadcast a message a peer asked to repair.
    RepairReady {
        /// Channel of the message.
        channel_id: String,
        /// Id of the repaired message.
        message_id: String,
        /// The wire bytes to broadcast.
        bytes: Vec<u8>,
    },
    /// Received messages were refused because a limit was reached (see
    /// [`ProtocolError::is_limit`](super::error::ProtocolError::is_limit)). At most one
    /// per channel per second, counting the refusals since the previous one.
    LimitReached {
        /// Channel of the refused messages; empty for messages refused before their
        /// channel was known (undecodable, or a channel that could not be created).
        channel_id: String,
        /// Messages refused since the previous event of this channel.
        refused: u64,
        /// Why the latest was refused.
        reason: String,
    },
    /// Time to send a sync message on this channel (produced by the runtime's timer).
    PeriodicSync {
        /// The channel to sync.
        channel_id: String,
    },
}
