//! A message as it is recorded: its MCAP topic (the SDS channel), its bytes and its times.

use crate::protocol::message::SdsMessage;
use crate::protocol::wire::encode_stored_message;

/// One recorded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// SDS channel id, the MCAP topic.
    pub channel_id: String,
    /// The SDS message encoded without its bloom field (the stored-message encoding).
    pub data: Vec<u8>,
    /// Delivery (or send) time, Unix ns.
    pub log_time_ns: u64,
    /// Send time where known, else equal to `log_time_ns`, Unix ns.
    pub publish_time_ns: u64,
}

impl Frame {
    /// Encodes `message` for recording; its bloom field is never written.
    pub fn new(message: &SdsMessage, log_time_ns: u64, publish_time_ns: u64) -> Self {
        Self {
            channel_id: message.channel_id.clone(),
            data: encode_stored_message(message),
            log_time_ns,
            publish_time_ns,
        }
    }

    /// A frame of a message already in its stored encoding (as history keeps it).
    pub fn from_stored(
        channel_id: &str,
        data: &[u8],
        log_time_ns: u64,
        publish_time_ns: u64,
    ) -> Self {
        Self {
            channel_id: channel_id.to_owned(),
            data: data.to_vec(),
            log_time_ns,
            publish_time_ns,
        }
    }

    /// Bytes this frame accounts for in a ring buffer's byte cap.
    pub fn weight(&self) -> usize {
        self.data.len() + self.channel_id.len() + 16
    }
}
