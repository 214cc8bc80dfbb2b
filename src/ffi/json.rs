//! The JSON documents the C API hands to hosts, in two dialects.
//!
//! - **Native** (`storage_*` API, see `DESIGN.md`, "C API conventions"): every document is
//!   an object with camelCase keys; events carry an `eventType` field; binary payloads are
//!   base64 (standard alphabet, padded). Key order is unspecified.
//! - **libsds** (drop-in `Sds*` API): the exact compact documents nim-sds 0.3.x produces
//!   (`shared/fixtures/libsds-abi.md`), keys in the same order as libsds writes them.
//!
//! Documents on the message path are written straight into one buffer by
//! [`JsonObject`](super::json_writer::JsonObject); the rare channel statistics use
//! `serde_json::json!`.
//!
//! Besides protocol [`Event`]s, the runtime reports two conditions of its own to native
//! hosts, each with its own function: [`native_event_queue_overflow`] and
//! [`native_persistence_warning`]. libsds has no equivalent of either.

use std::ffi::CStr;

use serde_json::json;

use super::json_writer::{
    into_string, object, object_bytes, push_array, push_decimal_list, push_json_str, JsonObject,
};

use crate::protocol::budget::Usage;
use crate::protocol::channel::{ChannelCounters, RefusalCounts};
use crate::protocol::event::Event;
use crate::protocol::manager::{ChannelStats, UnwrapStatus, Unwrapped};
use crate::protocol::message::HistoryEntry;

/// The `eventType` of a protocol event, shared by both dialects.
fn event_type(event: &Event) -> &'static str {
    match event {
        Event::MessageReady { .. } => "message_ready",
        Event::MessageSent { .. } => "message_sent",
        Event::PossiblyAcknowledged { .. } => "possibly_acknowledged",
        Event::Resend { .. } => "resend",
        Event::Expired { .. } => "message_expired",
        Event::MissingDependencies { .. } => "missing_dependencies",
        Event::Lost { .. } => "message_lost",
        Event::RepairReady { .. } => "repair_ready",
        Event::PeriodicSync { .. } => "periodic_sync",
        Event::LimitReached { .. } => "limit_reached",
    }
}

// ---------------------------------------------------------------------------------------
// Native dialect
// ---------------------------------------------------------------------------------------

/// Appends native `missingDeps`: `[{"messageId","retrievalHint"(base64),"senderId"}]`.
fn push_native_deps(out: &mut Vec<u8>, missing: &[HistoryEntry]) {
    push_array(out, missing, |out, dep| {
        let mut o = JsonObject::begin(out);
        o.str("messageId", &dep.message_id)
            .base64("retrievalHint", &dep.retrieval_hint)
            .str("senderId", &dep.sender_id);
        o.end();
    });
}

/// The native JSON for a protocol event: an object with an `eventType` field and camelCase
/// keys, binary payloads base64.
///
/// | `eventType` | other keys |
/// | --- | --- |
/// | `message_ready` | `channelId`, `messageId`, `senderId`, `lamportTimestamp`, `content` (base64) |
/// | `message_sent` | `channelId`, `messageId` |
/// | `possibly_acknowledged` | `channelId`, `messageId`, `hits` |
/// | `resend` | `channelId`, `messageId`, `attempt`, `message` (base64 of the wire bytes) |
/// | `message_expired` | `channelId`, `messageId` |
/// | `missing_dependencies` | `channelId`, `messageId`, `missingDeps`: `[{messageId, retrievalHint (base64), senderId}]` |
/// | `message_lost` | `channelId`, `messageId`, `missingDeps`: `[id, ...]` |
/// | `repair_ready` | `channelId`, `messageId`, `message` (base64 of the wire bytes) |
/// | `periodic_sync` | `channelId` |
pub fn native_event(event: &Event) -> String {
    object(128, |o| native_event_members(o, event))
}

/// The members of [`native_event`]'s object.
fn native_event_members(o: &mut JsonObject, event: &Event) {
    o.str("eventType", event_type(event));
    match event {
        Event::MessageReady {
            channel_id,
            message_id,
            sender_id,
            lamport_timestamp,
            content,
        } => {
            o.str("channelId", channel_id)
                .str("messageId", message_id)
                .str("senderId", sender_id)
                .int("lamportTimestamp", *lamport_timestamp)
                .base64("content", content);
        }
        Event::MessageSent {
            channel_id,
            message_id,
        }
        | Event::Expired {
            channel_id,
            message_id,
        } => {
            o.str("channelId", channel_id).str("messageId", message_id);
        }
        Event::PossiblyAcknowledged {
            channel_id,
            message_id,
            hits,
        } => {
            o.str("channelId", channel_id)
                .str("messageId", message_id)
                .int("hits", *hits);
        }
        Event::Resend {
            channel_id,
            message_id,
            attempt,
            bytes,
        } => {
            o.str("channelId", channel_id)
                .str("messageId", message_id)
                .int("attempt", *attempt)
                .base64("message", bytes);
        }
        Event::MissingDependencies {
            channel_id,
            message_id,
            missing,
        } => {
            o.str("channelId", channel_id)
                .str("messageId", message_id)
                .with("missingDeps", |out| push_native_deps(out, missing));
        }
        Event::Lost {
            channel_id,
            message_id,
            missing,
        } => {
            o.str("channelId", channel_id)
                .str("messageId", message_id)
                .with("missingDeps", |out| {
                    push_array(out, missing, |out, id| push_json_str(out, id))
                });
        }
        Event::RepairReady {
            channel_id,
            message_id,
            bytes,
        } => {
            o.str("channelId", channel_id)
                .str("messageId", message_id)
                .base64("message", bytes);
        }
        Event::PeriodicSync { channel_id } => {
            o.str("channelId", channel_id);
        }
        Event::LimitReached {
            channel_id,
            refused,
            reason,
        } => {
            o.str("channelId", channel_id)
                .int("refused", *refused)
                .str("reason", reason);
        }
    }
}

/// The native runtime event reporting that the event queue was full and `dropped` events
/// were discarded: `{"eventType":"event_queue_overflow","dropped":n}`.
pub fn native_event_queue_overflow(dropped: u64) -> String {
    object(64, |o| {
        o.str("eventType", "event_queue_overflow")
            .int("dropped", dropped);
    })
}

/// The native runtime event reporting a persistence problem on `channel_id` that did not
/// stop the operation, described by `message`:
/// `{"eventType":"persistence_warning","channelId":"..","message":".."}`.
pub fn native_persistence_warning(channel_id: &str, message: &str) -> String {
    object(96, |o| {
        o.str("eventType", "persistence_warning")
            .str("channelId", channel_id)
            .str("message", message);
    })
}

/// The `status` string of an unwrap outcome in the native dialect.
fn status_name(status: UnwrapStatus) -> &'static str {
    match status {
        UnwrapStatus::Delivered => "delivered",
        UnwrapStatus::Buffered => "buffered",
        UnwrapStatus::Duplicate => "duplicate",
        UnwrapStatus::Sync => "sync",
        UnwrapStatus::Ephemeral => "ephemeral",
    }
}

/// The native JSON for an unwrap outcome:
/// `{"channelId","messageId","senderId","content"(base64),"status","missingDeps"}`, with
/// `status` one of `delivered`, `buffered`, `duplicate`, `sync`, `ephemeral` and
/// `missingDeps` a list of `{messageId, retrievalHint (base64), senderId}` (`[]` when
/// nothing is missing).
pub fn native_unwrap_result(u: &Unwrapped) -> String {
    object(128 + u.content.len() / 3 * 4, |o| {
        o.str("channelId", &u.channel_id)
            .str("messageId", &u.message_id)
            .str("senderId", &u.sender_id)
            .base64("content", &u.content)
            .str("status", status_name(u.status))
            .with("missingDeps", |out| push_native_deps(out, &u.missing));
    })
}

/// The native JSON for one channel's statistics: `channelId`, `lamportTimestamp`,
/// `historyLen`, `outgoingLen`, `incomingLen`, `incomingBytes`, `outgoingRepairLen`,
/// `incomingRepairLen`, `memory` (what the channel and the whole context hold against
/// the memory budget, and the budget), and `counters`, an object with every
/// [`ChannelCounters`] field in camelCase (`refusals` an object by reason).
pub fn channel_stats(channel_id: &str, s: &ChannelStats) -> String {
    // Exhaustive destructuring: a field added to either struct fails to compile here
    // until it is reported.
    let ChannelStats {
        lamport_timestamp,
        history_len,
        outgoing_len,
        incoming_len,
        incoming_bytes,
        outgoing_repair_len,
        incoming_repair_len,
        memory,
        manager_memory,
        memory_budget,
        counters,
    } = s;
    let ChannelCounters {
        delivered,
        acknowledged,
        possibly_acknowledged,
        resends,
        expired,
        lost,
        evicted,
        duplicates,
        repairs_requested,
        repairs_sent,
        dropped_by_limits,
        refusals,
    } = counters;
    let RefusalCounts {
        too_large,
        too_many_entries,
        id_too_long,
        buffer_full,
        memory_budget: refused_memory_budget,
        too_many_channels,
        repair_entries,
    } = refusals;
    let usage = |u: &Usage| {
        let Usage {
            base,
            history,
            buffered,
            repair,
        } = u;
        json!({
            "total": u.total(),
            "base": base,
            "history": history,
            "buffered": buffered,
            "repair": repair,
        })
    };
    json!({
        "channelId": channel_id,
        "lamportTimestamp": lamport_timestamp,
        "historyLen": history_len,
        "outgoingLen": outgoing_len,
        "incomingLen": incoming_len,
        "incomingBytes": incoming_bytes,
        "outgoingRepairLen": outgoing_repair_len,
        "incomingRepairLen": incoming_repair_len,
        "memory": {
            "channel": usage(memory),
            "context": usage(manager_memory),
            "budget": memory_budget,
        },
        "counters": {
            "delivered": delivered,
            "acknowledged": acknowledged,
            "possiblyAcknowledged": possibly_acknowledged,
            "resends": resends,
            "expired": expired,
            "lost": lost,
            "evicted": evicted,
            "duplicates": duplicates,
            "repairsRequested": repairs_requested,
            "repairsSent": repairs_sent,
            "droppedByLimits": dropped_by_limits,
            "refusals": {
                "tooLarge": too_large,
                "tooManyEntries": too_many_entries,
                "idTooLong": id_too_long,
                "bufferFull": buffer_full,
                "memoryBudget": refused_memory_budget,
                "tooManyChannels": too_many_channels,
                "repairEntries": repair_entries,
            },
        },
    })
    .to_string()
}

// ---------------------------------------------------------------------------------------
// libsds dialect
// ---------------------------------------------------------------------------------------

/// Appends libsds `missingDeps`: `[{"messageId":"..","retrievalHint":"<base64>"}]`.
fn push_libsds_deps(out: &mut Vec<u8>, missing: &[HistoryEntry]) {
    push_array(out, missing, |out, dep| {
        let mut o = JsonObject::begin(out);
        o.str("messageId", &dep.message_id)
            .base64("retrievalHint", &dep.retrieval_hint);
        o.end();
    });
}

/// libsds's sync-timer event, which names no channel (a C string: it is handed to hosts
/// as is, for the life of the process).
pub const LIBSDS_PERIODIC_SYNC: &CStr = c"{\"eventType\":\"periodic_sync\"}";

/// The libsds event JSON for `event`, or None for events libsds never emits
/// (`possibly_acknowledged`, `resend`, `message_expired`, `message_lost`).
///
/// The documents are compact, keys in libsds's order:
///
/// ```text
/// {"messageId":"<id>","channelId":"<ch>","eventType":"message_ready"}
/// {"messageId":"<id>","channelId":"<ch>","eventType":"message_sent"}
/// {"eventType":"missing_dependencies","messageId":"<id>","channelId":"<ch>","missingDeps":[{"messageId":"<dep>","retrievalHint":"<base64>"}]}
/// {"eventType":"periodic_sync"}
/// {"eventType":"repair_ready","channelId":"<ch>","message":"<base64 of the full wrapped message>"}
/// ```
pub fn libsds_event(event: &Event) -> Option<String> {
    let kind = event_type(event);
    let mut out = Vec::with_capacity(96);
    let mut o = JsonObject::begin(&mut out);
    match event {
        Event::MessageReady {
            channel_id,
            message_id,
            ..
        }
        | Event::MessageSent {
            channel_id,
            message_id,
        } => {
            o.str("messageId", message_id)
                .str("channelId", channel_id)
                .str("eventType", kind);
        }
        Event::MissingDependencies {
            channel_id,
            message_id,
            missing,
        } => {
            o.str("eventType", kind)
                .str("messageId", message_id)
                .str("channelId", channel_id)
                .with("missingDeps", |out| push_libsds_deps(out, missing));
        }
        Event::PeriodicSync { .. } => {
            return Some(LIBSDS_PERIODIC_SYNC.to_string_lossy().into_owned())
        }
        Event::RepairReady {
            channel_id, bytes, ..
        } => {
            o.str("eventType", kind)
                .str("channelId", channel_id)
                .base64("message", bytes);
        }
        Event::PossiblyAcknowledged { .. }
        | Event::Resend { .. }
        | Event::Expired { .. }
        | Event::Lost { .. }
        | Event::LimitReached { .. } => return None,
    }
    o.end();
    Some(into_string(out))
}

/// The libsds unwrap result, compact:
/// `{"message":[1,2,3],"channelId":"ch","missingDeps":[{"messageId":"dep","retrievalHint":"<base64>"}]}`.
///
/// `message` is the content as an array of byte values whatever the outcome (also for
/// duplicates and buffered messages); `missingDeps` is `[]` when nothing is missing, and an
/// empty hint is `""`. UTF-8 bytes, with room for the NUL the libsds hand-over appends.
pub fn libsds_unwrap_result(u: &Unwrapped) -> Vec<u8> {
    let capacity = u
        .content
        .len()
        .saturating_mul(4)
        .saturating_add(u.channel_id.len() + 64);
    object_bytes(capacity, |o| {
        o.with("message", |out| {
            out.push(b'[');
            push_decimal_list(out, &u.content);
            out.push(b']');
        })
        .str("channelId", &u.channel_id)
        .with("missingDeps", |out| push_libsds_deps(out, &u.missing));
    })
}

/// The libsds wrap result: the wrapped bytes as comma-separated decimal numbers, no spaces
/// (`"10,255,0"`); `""` for no bytes. ASCII bytes, in one buffer sized for the longest
/// text plus the NUL the libsds hand-over appends, so it is never reallocated (a released
/// result buffer when one is large enough, see [`super::retained`]).
pub fn libsds_wrap_result(bytes: &[u8]) -> Vec<u8> {
    let mut out = super::retained::buffer(bytes.len().saturating_mul(4).saturating_add(1));
    push_decimal_list(&mut out, bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;
    use proptest::prelude::*;
    use serde_json::Value;

    /// Ids no naive writer survives: quotes, backslashes, every kind of control character,
    /// JSON-looking text, non-ASCII, astral-plane characters.
    const HOSTILE: &[&str] = &[
        "",
        "\"",
        "\\",
        "\\\"",
        "a\"b\\c",
        "\u{0}\u{1}\u{1f}\u{7f}",
        "line\nbreak\r\ttab\u{8}\u{c}",
        "\"},\"eventType\":\"x",
        "</script>",
        "héllo wörld ✓",
        "😀𝄞",
        "\u{2028}\u{2029}\u{feff}",
    ];

    /// A libsds document as text (the writers produce UTF-8).
    fn utf8(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("UTF-8")
    }

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("invalid JSON {s:?}: {e}"))
    }

    fn entry(id: &str, hint: &[u8], sender: &str) -> HistoryEntry {
        HistoryEntry {
            message_id: id.to_owned(),
            retrieval_hint: hint.to_vec(),
            sender_id: sender.to_owned(),
        }
    }

    /// One event of every kind, with the given ids.
    fn all_events(ch: &str, id: &str) -> Vec<Event> {
        vec![
            Event::MessageReady {
                channel_id: ch.into(),
                message_id: id.into(),
                sender_id: "alice".into(),
                lamport_timestamp: 42,
                content: b"hi".to_vec(),
            },
            Event::MessageSent {
                channel_id: ch.into(),
                message_id: id.into(),
            },
            Event::PossiblyAcknowledged {
                channel_id: ch.into(),
                message_id: id.into(),
                hits: 2,
            },
            Event::Resend {
                channel_id: ch.into(),
                message_id: id.into(),
                attempt: 3,
                bytes: vec![1, 2, 3],
            },
            Event::Expired {
                channel_id: ch.into(),
                message_id: id.into(),
            },
            Event::MissingDependencies {
                channel_id: ch.into(),
                message_id: id.into(),
                missing: vec![entry(id, b"\x00\xff", "bob"), entry("d2", b"", "")],
            },
            Event::Lost {
                channel_id: ch.into(),
                message_id: id.into(),
                missing: vec![id.into(), "d2".into()],
            },
            Event::RepairReady {
                channel_id: ch.into(),
                message_id: id.into(),
                bytes: vec![9, 8, 7, 6],
            },
            Event::PeriodicSync {
                channel_id: ch.into(),
            },
            Event::LimitReached {
                channel_id: ch.into(),
                refused: 7,
                reason: id.into(),
            },
        ]
    }

    fn unwrapped(status: UnwrapStatus, content: &[u8], missing: Vec<HistoryEntry>) -> Unwrapped {
        Unwrapped {
            channel_id: "ch".into(),
            message_id: "m1".into(),
            sender_id: "alice".into(),
            content: content.to_vec(),
            status,
            missing,
        }
    }

    #[test]
    fn native_events_have_every_field() {
        let expected = [
            json!({"eventType": "message_ready", "channelId": "ch", "messageId": "m1",
                   "senderId": "alice", "lamportTimestamp": 42, "content": "aGk="}),
            json!({"eventType": "message_sent", "channelId": "ch", "messageId": "m1"}),
            json!({"eventType": "possibly_acknowledged", "channelId": "ch", "messageId": "m1",
                   "hits": 2}),
            json!({"eventType": "resend", "channelId": "ch", "messageId": "m1", "attempt": 3,
                   "message": "AQID"}),
            json!({"eventType": "message_expired", "channelId": "ch", "messageId": "m1"}),
            json!({"eventType": "missing_dependencies", "channelId": "ch", "messageId": "m1",
            "missingDeps": [
                {"messageId": "m1", "retrievalHint": "AP8=", "senderId": "bob"},
                {"messageId": "d2", "retrievalHint": "", "senderId": ""},
            ]}),
            json!({"eventType": "message_lost", "channelId": "ch", "messageId": "m1",
                   "missingDeps": ["m1", "d2"]}),
            json!({"eventType": "repair_ready", "channelId": "ch", "messageId": "m1",
                   "message": "CQgHBg=="}),
            json!({"eventType": "periodic_sync", "channelId": "ch"}),
            json!({"eventType": "limit_reached", "channelId": "ch", "refused": 7,
                   "reason": "m1"}),
        ];
        let events = all_events("ch", "m1");
        assert_eq!(events.len(), expected.len());
        for (event, want) in events.iter().zip(expected) {
            let text = native_event(event);
            assert!(!text.contains(char::is_whitespace), "{text}");
            assert_eq!(parse(&text), want, "{event:?}");
        }
    }

    #[test]
    fn native_message_ready_keeps_negative_and_large_timestamps() {
        for ts in [i64::MIN, -1, 0, i64::MAX] {
            let event = Event::MessageReady {
                channel_id: "c".into(),
                message_id: "m".into(),
                sender_id: String::new(),
                lamport_timestamp: ts,
                content: Vec::new(),
            };
            let v = parse(&native_event(&event));
            assert_eq!(v["lamportTimestamp"].as_i64(), Some(ts));
            assert_eq!(v["content"], "");
        }
    }

    #[test]
    fn native_runtime_events() {
        assert_eq!(
            parse(&native_event_queue_overflow(17)),
            json!({"eventType": "event_queue_overflow", "dropped": 17})
        );
        assert_eq!(
            parse(&native_event_queue_overflow(u64::MAX))["dropped"].as_u64(),
            Some(u64::MAX)
        );
        assert_eq!(
            parse(&native_persistence_warning("ch", "disk full")),
            json!({"eventType": "persistence_warning", "channelId": "ch",
                   "message": "disk full"})
        );
    }

    #[test]
    fn libsds_events_exact() {
        let got: Vec<Option<String>> = all_events("ch", "m1").iter().map(libsds_event).collect();
        let want: Vec<Option<&str>> = vec![
            Some(r#"{"messageId":"m1","channelId":"ch","eventType":"message_ready"}"#),
            Some(r#"{"messageId":"m1","channelId":"ch","eventType":"message_sent"}"#),
            None,
            None,
            None,
            Some(concat!(
                r#"{"eventType":"missing_dependencies","messageId":"m1","channelId":"ch","#,
                r#""missingDeps":[{"messageId":"m1","retrievalHint":"AP8="},"#,
                r#"{"messageId":"d2","retrievalHint":""}]}"#
            )),
            None,
            Some(r#"{"eventType":"repair_ready","channelId":"ch","message":"CQgHBg=="}"#),
            Some(r#"{"eventType":"periodic_sync"}"#),
            None,
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.as_deref(), w);
        }
    }

    #[test]
    fn libsds_missing_dependencies_with_no_deps() {
        let event = Event::MissingDependencies {
            channel_id: "c".into(),
            message_id: "m".into(),
            missing: Vec::new(),
        };
        assert_eq!(
            libsds_event(&event).as_deref(),
            Some(
                r#"{"eventType":"missing_dependencies","messageId":"m","channelId":"c","missingDeps":[]}"#
            )
        );
    }

    #[test]
    fn native_unwrap_results() {
        let deps = vec![entry("d1", b"hint", "bob"), entry("d2", b"", "")];
        let cases = [
            (
                unwrapped(UnwrapStatus::Delivered, b"abc", vec![]),
                "delivered",
                json!([]),
            ),
            (
                unwrapped(UnwrapStatus::Duplicate, b"abc", vec![]),
                "duplicate",
                json!([]),
            ),
            (
                unwrapped(UnwrapStatus::Sync, b"", deps.clone()),
                "sync",
                json!([{"messageId": "d1", "retrievalHint": "aGludA==", "senderId": "bob"},
                    {"messageId": "d2", "retrievalHint": "", "senderId": ""}]),
            ),
            (
                unwrapped(UnwrapStatus::Ephemeral, b"abc", vec![]),
                "ephemeral",
                json!([]),
            ),
            (
                unwrapped(UnwrapStatus::Buffered, b"abc", deps),
                "buffered",
                json!([{"messageId": "d1", "retrievalHint": "aGludA==", "senderId": "bob"},
                    {"messageId": "d2", "retrievalHint": "", "senderId": ""}]),
            ),
        ];
        for (u, status, deps) in cases {
            let content = if u.content.is_empty() { "" } else { "YWJj" };
            assert_eq!(
                parse(&native_unwrap_result(&u)),
                json!({"channelId": "ch", "messageId": "m1", "senderId": "alice",
                       "content": content, "status": status, "missingDeps": deps}),
                "{u:?}"
            );
        }
    }

    #[test]
    fn libsds_unwrap_results_exact() {
        let delivered = unwrapped(UnwrapStatus::Delivered, &[1, 2, 3], vec![]);
        assert_eq!(
            utf8(libsds_unwrap_result(&delivered)),
            r#"{"message":[1,2,3],"channelId":"ch","missingDeps":[]}"#
        );
        let duplicate = unwrapped(UnwrapStatus::Duplicate, &[0, 255, 100, 10, 9], vec![]);
        assert_eq!(
            utf8(libsds_unwrap_result(&duplicate)),
            r#"{"message":[0,255,100,10,9],"channelId":"ch","missingDeps":[]}"#
        );
        let buffered = unwrapped(
            UnwrapStatus::Buffered,
            b"hi",
            vec![entry("d1", b"hint", "bob"), entry("d2", b"", "carol")],
        );
        assert_eq!(
            utf8(libsds_unwrap_result(&buffered)),
            concat!(
                r#"{"message":[104,105],"channelId":"ch","missingDeps":["#,
                r#"{"messageId":"d1","retrievalHint":"aGludA=="},"#,
                r#"{"messageId":"d2","retrievalHint":""}]}"#
            )
        );
        let sync = unwrapped(UnwrapStatus::Sync, b"", vec![]);
        assert_eq!(
            utf8(libsds_unwrap_result(&sync)),
            r#"{"message":[],"channelId":"ch","missingDeps":[]}"#
        );
    }

    #[test]
    fn stats_report_every_counter() {
        let stats = ChannelStats {
            lamport_timestamp: -5,
            history_len: 1,
            outgoing_len: 2,
            incoming_len: 3,
            incoming_bytes: 4,
            outgoing_repair_len: 5,
            incoming_repair_len: 6,
            memory: Usage {
                base: 1,
                history: 2,
                buffered: 3,
                repair: 4,
            },
            manager_memory: Usage {
                base: 10,
                history: 20,
                buffered: 30,
                repair: 40,
            },
            memory_budget: 1000,
            counters: ChannelCounters {
                delivered: 11,
                acknowledged: 12,
                possibly_acknowledged: 13,
                resends: 14,
                expired: 15,
                lost: 16,
                evicted: 20,
                duplicates: 17,
                repairs_requested: 18,
                repairs_sent: 19,
                dropped_by_limits: u64::MAX,
                refusals: RefusalCounts {
                    too_large: 21,
                    too_many_entries: 22,
                    id_too_long: 23,
                    buffer_full: 24,
                    memory_budget: 25,
                    too_many_channels: 26,
                    repair_entries: 27,
                },
            },
        };
        assert_eq!(
            parse(&channel_stats("ch\"1", &stats)),
            json!({
                "channelId": "ch\"1",
                "lamportTimestamp": -5,
                "historyLen": 1,
                "outgoingLen": 2,
                "incomingLen": 3,
                "incomingBytes": 4,
                "outgoingRepairLen": 5,
                "incomingRepairLen": 6,
                "memory": {
                    "channel": {"total": 10, "base": 1, "history": 2, "buffered": 3, "repair": 4},
                    "context": {"total": 100, "base": 10, "history": 20, "buffered": 30, "repair": 40},
                    "budget": 1000,
                },
                "counters": {
                    "delivered": 11,
                    "acknowledged": 12,
                    "possiblyAcknowledged": 13,
                    "resends": 14,
                    "expired": 15,
                    "lost": 16,
                    "evicted": 20,
                    "duplicates": 17,
                    "repairsRequested": 18,
                    "repairsSent": 19,
                    "droppedByLimits": u64::MAX,
                    "refusals": {
                        "tooLarge": 21,
                        "tooManyEntries": 22,
                        "idTooLong": 23,
                        "bufferFull": 24,
                        "memoryBudget": 25,
                        "tooManyChannels": 26,
                        "repairEntries": 27,
                    },
                },
            })
        );
    }

    #[test]
    fn wrap_result_small_cases() {
        assert_eq!(utf8(libsds_wrap_result(&[])), "");
        assert_eq!(utf8(libsds_wrap_result(&[0])), "0");
        assert_eq!(utf8(libsds_wrap_result(&[255, 1, 10])), "255,1,10");
        assert_eq!(
            utf8(libsds_wrap_result(&[9, 99, 100, 199, 200])),
            "9,99,100,199,200"
        );
    }

    #[test]
    fn libsds_results_leave_room_for_the_nul_of_the_hand_over() {
        // The buffer handed to the host is the one written here; appending its NUL must
        // not move (copy) it.
        for bytes in [vec![255u8; 1000], vec![0u8; 1000], (0..=255).collect()] {
            let text = libsds_wrap_result(&bytes);
            assert!(
                text.capacity() > text.len(),
                "{} of {}",
                text.len(),
                text.capacity()
            );
            let json = libsds_unwrap_result(&unwrapped(UnwrapStatus::Delivered, &bytes, vec![]));
            assert!(
                json.capacity() > json.len(),
                "{} of {}",
                json.len(),
                json.capacity()
            );
        }
    }

    #[test]
    fn wrap_result_every_byte_value() {
        let bytes: Vec<u8> = (0..=255).collect();
        let want = bytes
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(utf8(libsds_wrap_result(&bytes)), want);
    }

    #[test]
    fn hostile_ids_round_trip_in_both_dialects() {
        for &ch in HOSTILE {
            for &id in HOSTILE {
                for event in all_events(ch, id) {
                    let native = parse(&native_event(&event));
                    assert_eq!(native["channelId"], ch);
                    match event {
                        Event::PeriodicSync { .. } => {}
                        Event::LimitReached { .. } => assert_eq!(native["reason"], id),
                        _ => assert_eq!(native["messageId"], id),
                    }
                    if let Some(text) = libsds_event(&event) {
                        let v = parse(&text);
                        if !matches!(event, Event::PeriodicSync { .. }) {
                            assert_eq!(v["channelId"], ch, "{text}");
                        }
                        if let Event::MissingDependencies { .. } = event {
                            assert_eq!(v["missingDeps"][0]["messageId"], id, "{text}");
                        }
                        if v.get("messageId").is_some() {
                            assert_eq!(v["messageId"], id, "{text}");
                        }
                    }
                }
                let u = Unwrapped {
                    channel_id: ch.into(),
                    message_id: id.into(),
                    sender_id: id.into(),
                    content: id.as_bytes().to_vec(),
                    status: UnwrapStatus::Buffered,
                    missing: vec![entry(id, id.as_bytes(), ch)],
                };
                let native = parse(&native_unwrap_result(&u));
                assert_eq!(native["channelId"], ch);
                assert_eq!(native["messageId"], id);
                assert_eq!(native["senderId"], id);
                assert_eq!(native["missingDeps"][0]["messageId"], id);
                assert_eq!(native["missingDeps"][0]["senderId"], ch);
                let libsds = parse(&utf8(libsds_unwrap_result(&u)));
                assert_eq!(libsds["channelId"], ch);
                assert_eq!(libsds["missingDeps"][0]["messageId"], id);
                let warning = parse(&native_persistence_warning(ch, id));
                assert_eq!(warning["channelId"], ch);
                assert_eq!(warning["message"], id);
            }
        }
    }

    fn decode_b64(v: &Value) -> Vec<u8> {
        let s = v.as_str().expect("base64 field is a string");
        BASE64.decode(s).expect("valid base64")
    }

    proptest! {
        #[test]
        fn wrap_result_parses_back(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let text = utf8(libsds_wrap_result(&bytes));
            prop_assert!(text.len() <= bytes.len() * 4);
            let back: Vec<u8> = if text.is_empty() {
                Vec::new()
            } else {
                text.split(',').map(|n| n.parse::<u8>().expect("decimal byte")).collect()
            };
            prop_assert_eq!(back, bytes);
        }

        #[test]
        fn binary_payloads_round_trip(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            id in any::<String>(),
            ch in any::<String>(),
        ) {
            let ready = Event::MessageReady {
                channel_id: ch.clone(),
                message_id: id.clone(),
                sender_id: id.clone(),
                lamport_timestamp: 1,
                content: bytes.clone(),
            };
            let v = parse(&native_event(&ready));
            prop_assert_eq!(decode_b64(&v["content"]), bytes.clone());
            prop_assert_eq!(&v["messageId"], &Value::String(id.clone()));

            let repair = Event::RepairReady {
                channel_id: ch.clone(),
                message_id: id.clone(),
                bytes: bytes.clone(),
            };
            let v = parse(&native_event(&repair));
            prop_assert_eq!(decode_b64(&v["message"]), bytes.clone());
            let text = libsds_event(&repair).expect("libsds emits repair_ready");
            let v = parse(&text);
            prop_assert_eq!(decode_b64(&v["message"]), bytes.clone());
            prop_assert_eq!(&v["channelId"], &Value::String(ch.clone()));

            let u = Unwrapped {
                channel_id: ch.clone(),
                message_id: id.clone(),
                sender_id: String::new(),
                content: bytes.clone(),
                status: UnwrapStatus::Duplicate,
                missing: vec![entry(&id, &bytes, &ch)],
            };
            let v = parse(&native_unwrap_result(&u));
            prop_assert_eq!(decode_b64(&v["content"]), bytes.clone());
            prop_assert_eq!(decode_b64(&v["missingDeps"][0]["retrievalHint"]), bytes.clone());
            let v = parse(&utf8(libsds_unwrap_result(&u)));
            let message: Vec<u8> = v["message"]
                .as_array()
                .expect("message is an array")
                .iter()
                .map(|n| u8::try_from(n.as_u64().expect("number")).expect("byte"))
                .collect();
            prop_assert_eq!(message, bytes.clone());
            prop_assert_eq!(&v["channelId"], &Value::String(ch));
            prop_assert_eq!(decode_b64(&v["missingDeps"][0]["retrievalHint"]), bytes);
        }
    }
}
