//! Reading protocol events in tests.

use storage::protocol::Event;

/// The ids of the `MessageReady` events among `events`, in order.
pub fn ready_ids(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::MessageReady { message_id, .. } => Some(message_id.clone()),
            _ => None,
        })
        .collect()
}

/// How many refusals the `LimitReached` events among `events` report, in all.
#[allow(dead_code)] // not every test binary including this module reads refusals
pub fn refusals_reported(events: &[Event]) -> u64 {
    events
        .iter()
        .filter_map(|e| match e {
            Event::LimitReached { refused, .. } => Some(*refused),
            _ => None,
        })
        .sum()
}
