//! Behaviour of the protocol manager: wrap, unwrap, acknowledgements, dependencies,
//! resends, sync and ephemeral messages, loss, SDS-R, limits.

#[path = "common/events.rs"]
mod events;
#[path = "common/managers.rs"]
mod managers;
#[path = "common/messages.rs"]
mod messages;

use events::ready_ids;
use managers::{manager, manager_with, T0};
use messages::{entries, sds_message};
use storage::protocol::{
    self, Event, HistoryEntry, LamportUnit, ProtocolError, SdsMessage, UnwrapStatus,
};

const CH: &str = "chan";

fn sent_ids(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::MessageSent { message_id, .. } => Some(message_id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn wrap_attaches_reliability_metadata() {
    let mut alice = manager("alice");
    let mut bob = manager("bob");
    let m1 = bob.wrap(T0, CH, "b1", b"from bob").unwrap();
    alice.unwrap(T0, &m1).unwrap();
    let bytes = alice.wrap(T0 + 5, CH, "a1", b"hello").unwrap();
    let msg = protocol::decode_message(&bytes).unwrap();
    assert_eq!(msg.message_id, "a1");
    assert_eq!(msg.channel_id, CH);
    assert_eq!(msg.content, b"hello");
    assert_eq!(msg.sender_id, "alice");
    // max(now, L) + 1 where L was already bumped past bob's timestamp.
    assert!(msg.lamport_timestamp > (T0 + 1) as i64);
    assert_eq!(
        msg.causal_history,
        vec![HistoryEntry {
            message_id: "b1".into(),
            retrieval_hint: vec![],
            sender_id: "bob".into()
        }]
    );
    assert!(!msg.bloom_filter.is_empty());
    assert_eq!(alice.channel_stats(CH).unwrap().outgoing_len, 1);
    assert!(alice.bloom_contains(CH, "a1"));
}

#[test]
fn lamport_follows_clock_in_the_configured_unit() {
    let mut ms = manager("a");
    let first = protocol::decode_message(&ms.wrap(T0, CH, "1", b"x").unwrap()).unwrap();
    assert_eq!(first.lamport_timestamp, T0 as i64 + 1);
    let second = protocol::decode_message(&ms.wrap(T0, CH, "2", b"x").unwrap()).unwrap();
    assert_eq!(second.lamport_timestamp, T0 as i64 + 2);

    let mut secs = manager_with("a", |c| c.lamport_unit = LamportUnit::Seconds);
    let msg = protocol::decode_message(&secs.wrap(T0, CH, "1", b"x").unwrap()).unwrap();
    assert_eq!(msg.lamport_timestamp, (T0 / 1000) as i64 + 1);
}

#[test]
fn causal_history_is_the_newest_deliveries_oldest_first() {
    let mut a = manager_with("a", |c| c.max_causal_history = 3);
    for i in 0..5 {
        a.wrap(T0, CH, &format!("m{i}"), b"x").unwrap();
    }
    let msg = protocol::decode_message(&a.wrap(T0, CH, "next", b"x").unwrap()).unwrap();
    let ids: Vec<_> = msg
        .causal_history
        .iter()
        .map(|e| e.message_id.as_str())
        .collect();
    assert_eq!(ids, vec!["m2", "m3", "m4"]);
}

#[test]
fn wrap_rejects_bad_content_with_distinct_errors() {
    let mut a = manager("a");
    assert_eq!(a.wrap(T0, CH, "m", b""), Err(ProtocolError::EmptyContent));
    let big = vec![0u8; 1024 * 1024 + 1];
    assert!(matches!(
        a.wrap(T0, CH, "m", &big),
        Err(ProtocolError::ContentTooLarge { .. })
    ));
    assert!(a.wrap(T0, CH, "m", &big[..1024 * 1024]).is_ok());
    assert_eq!(
        a.wrap(T0, "", "m", b"x"),
        Err(ProtocolError::EmptyChannelId)
    );
}

#[test]
fn unwrap_delivers_and_deduplicates() {
    let mut a = manager("a");
    let mut b = manager("b");
    let bytes = a.wrap(T0, CH, "m1", b"payload").unwrap();
    let out = b.unwrap(T0, &bytes).unwrap();
    assert_eq!(out.status, UnwrapStatus::Delivered);
    assert_eq!(out.content, b"payload");
    assert_eq!(out.sender_id, "a");
    let events = b.take_events();
    assert!(matches!(
        &events[..],
        [Event::MessageReady { message_id, content, sender_id, .. }]
            if message_id == "m1" && content == b"payload" && sender_id == "a"
    ));

    let again = b.unwrap(T0, &bytes).unwrap();
    assert_eq!(again.status, UnwrapStatus::Duplicate);
    assert_eq!(again.content, b"payload");
    assert!(b.take_events().is_empty());

    // Our own message echoed back by the transport is a duplicate too.
    let echo = a.unwrap(T0, &bytes).unwrap();
    assert_eq!(echo.status, UnwrapStatus::Duplicate);
    assert!(a.take_events().is_empty());
}

#[test]
fn causal_history_mention_acknowledges() {
    let mut a = manager("a");
    let mut b = manager("b");
    b.unwrap(T0, &a.wrap(T0, CH, "a1", b"x").unwrap()).unwrap();
    let reply = b.wrap(T0, CH, "b1", b"y").unwrap();
    a.unwrap(T0, &reply).unwrap();
    assert_eq!(sent_ids(&a.take_events()), vec!["a1"]);
    assert_eq!(a.channel_stats(CH).unwrap().outgoing_len, 0);
}

#[test]
fn mentions_acknowledge_exactly_the_messages_named_wherever_they_are() {
    let mut a = manager("a");
    for i in 1..=5 {
        a.wrap(T0, CH, &format!("a{i}"), b"x").unwrap();
    }
    // No bloom filter: only the mentions count. One id named twice, one unknown.
    let reply = SdsMessage {
        sender_id: "b".into(),
        causal_history: entries(&["a4".into(), "a2".into(), "zz".into(), "a4".into()]),
        ..sds_message(CH, "b1", 1, b"y")
    };
    a.unwrap(T0, &protocol::encode_message(&reply)).unwrap();
    assert_eq!(sent_ids(&a.take_events()), vec!["a2", "a4"]);
    let left: Vec<String> = a
        .channel_meta(CH)
        .unwrap()
        .outgoing
        .iter()
        .map(|o| o.message.message_id.clone())
        .collect();
    assert_eq!(left, ["a1", "a3", "a5"]);
}

#[test]
fn bloom_hits_are_possible_acks_until_confirmed() {
    let mut a = manager("a");
    // Bob sends no causal history, so only his bloom filter can acknowledge.
    let mut b = manager_with("b", |c| c.max_causal_history = 0);
    b.unwrap(T0, &a.wrap(T0, CH, "a1", b"x").unwrap()).unwrap();

    a.unwrap(T0, &b.wrap(T0, CH, "b1", b"y").unwrap()).unwrap();
    let events = a.take_events();
    assert!(sent_ids(&events).is_empty());
    assert!(events.iter().any(|e| matches!(e,
        Event::PossiblyAcknowledged { message_id, hits: 1, .. } if message_id == "a1")));
    assert_eq!(a.channel_stats(CH).unwrap().outgoing_len, 1);

    a.unwrap(T0, &b.wrap(T0, CH, "b2", b"z").unwrap()).unwrap();
    assert_eq!(sent_ids(&a.take_events()), vec!["a1"]);
    assert_eq!(a.channel_stats(CH).unwrap().outgoing_len, 0);
}

/// `a` with 3 000 messages outstanding that `b` has all received; `b` sends no causal
/// history, so only its bloom filter can acknowledge.
fn many_outstanding() -> (protocol::Manager, protocol::Manager) {
    let mut a = manager("a");
    let mut b = manager_with("b", |c| c.max_causal_history = 0);
    for i in 0..3000 {
        b.unwrap(T0, &a.wrap(T0, CH, &format!("a{i}"), b"x").unwrap())
            .unwrap();
    }
    a.take_events();
    (a, b)
}

#[test]
fn a_large_buffer_is_reviewed_a_bounded_window_at_a_time() {
    let (mut a, mut b) = many_outstanding();
    a.unwrap(T0, &b.wrap(T0, CH, "b0", b"y").unwrap()).unwrap();
    let possible = a
        .take_events()
        .iter()
        .filter(|e| matches!(e, Event::PossiblyAcknowledged { .. }))
        .count();
    assert_eq!(possible, 1024, "one receive tests one window of the buffer");
    // Successive messages test other windows: before long, every message has been seen
    // twice and is acknowledged.
    let mut sent = 0;
    for i in 1..=40 {
        let reply = b.wrap(T0, CH, &format!("b{i}"), b"y").unwrap();
        a.unwrap(T0, &reply).unwrap();
        sent += sent_ids(&a.take_events()).len();
    }
    assert_eq!(sent, 3000);
    assert_eq!(a.channel_stats(CH).unwrap().outgoing_len, 0);
}

#[test]
fn mentions_beyond_the_bloom_window_still_acknowledge() {
    let (mut a, mut b) = many_outstanding();
    let mut reply = protocol::decode_message(&b.wrap(T0, CH, "b0", b"y").unwrap()).unwrap();
    // Every third message, across the whole buffer (the history holds at most 1 024).
    let all: Vec<String> = (0..3000).step_by(3).map(|i| format!("a{i}")).collect();
    reply.causal_history = entries(&all);
    assert!(!reply.bloom_filter.is_empty());
    a.unwrap(T0, &protocol::encode_message(&reply)).unwrap();
    assert_eq!(sent_ids(&a.take_events()), all);
}

#[test]
fn one_bloom_hit_acknowledges_when_configured_like_libsds() {
    let mut a = manager_with("", |c| c.bloom_acks_to_confirm = 1);
    let mut b = manager_with("", |c| c.max_causal_history = 0);
    b.unwrap(T0, &a.wrap(T0, CH, "a1", b"x").unwrap()).unwrap();
    a.unwrap(T0, &b.wrap(T0, CH, "b1", b"y").unwrap()).unwrap();
    assert_eq!(sent_ids(&a.take_events()), vec!["a1"]);
}

#[test]
fn invalid_peer_bloom_is_ignored_and_message_still_delivered() {
    let mut a = manager_with("a", |c| c.bloom_acks_to_confirm = 1);
    a.wrap(T0, CH, "a1", b"x").unwrap();
    let hostile = SdsMessage {
        // A bloom whose words are all ones but whose parameters are invalid (k = 0).
        bloom_filter: vec![
            0x0a, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x20, 0x00, 0x28, 0x40,
        ],
        ..sds_message(CH, "h1", 7, b"hi")
    };
    let out = a.unwrap(T0, &protocol::encode_message(&hostile)).unwrap();
    assert_eq!(out.status, UnwrapStatus::Delivered);
    let events = a.take_events();
    assert!(sent_ids(&events).is_empty());
    assert_eq!(a.channel_stats(CH).unwrap().outgoing_len, 1);
}

#[test]
fn buffered_messages_are_delivered_in_causal_order() {
    let mut a = manager("a");
    let mut b = manager("b");
    let m1 = a.wrap(T0, CH, "m1", b"1").unwrap();
    let m2 = a.wrap(T0, CH, "m2", b"2").unwrap();
    let m3 = a.wrap(T0, CH, "m3", b"3").unwrap();

    let out = b.unwrap(T0, &m3).unwrap();
    assert_eq!(out.status, UnwrapStatus::Buffered);
    let missing: Vec<_> = out.missing.iter().map(|e| e.message_id.as_str()).collect();
    assert_eq!(missing, vec!["m1", "m2"]);
    assert_eq!(b.unwrap(T0, &m2).unwrap().status, UnwrapStatus::Buffered);
    let events = b.take_events();
    assert!(ready_ids(&events).is_empty());
    assert!(events.iter().any(|e| matches!(e,
        Event::MissingDependencies { message_id, missing, .. }
            if message_id == "m3" && missing.len() == 2)));

    assert_eq!(b.unwrap(T0, &m1).unwrap().status, UnwrapStatus::Delivered);
    assert_eq!(ready_ids(&b.take_events()), vec!["m1", "m2", "m3"]);
    assert_eq!(b.channel_stats(CH).unwrap().incoming_len, 0);
    // A buffered message arriving again is a duplicate, not a second buffer entry.
    assert_eq!(b.unwrap(T0, &m3).unwrap().status, UnwrapStatus::Duplicate);
}

#[test]
fn diamond_dependencies_deliver_after_every_parent() {
    // root <- left, root <- right, {left, right} <- join, built by two senders.
    let mut a = manager("a");
    let mut b = manager("b");
    let mut c = manager("c");
    let root = a.wrap(T0, CH, "root", b"r").unwrap();
    b.unwrap(T0, &root).unwrap();
    let left = a.wrap(T0, CH, "left", b"l").unwrap();
    let right = b.wrap(T0, CH, "right", b"r").unwrap();
    a.unwrap(T0, &right).unwrap();
    let join = a.wrap(T0, CH, "join", b"j").unwrap();

    for bytes in [&join, &right, &left] {
        assert_eq!(c.unwrap(T0, bytes).unwrap().status, UnwrapStatus::Buffered);
    }
    c.unwrap(T0, &root).unwrap();
    let order = ready_ids(&c.take_events());
    assert_eq!(order.len(), 4);
    let pos = |id: &str| order.iter().position(|x| x == id).unwrap();
    assert_eq!(pos("root"), 0);
    assert!(pos("join") > pos("left") && pos("join") > pos("right"));
}

#[test]
fn mark_dependencies_met_unblocks_and_counts_for_later_checks() {
    let mut a = manager("a");
    let mut b = manager("b");
    let _lost = a.wrap(T0, CH, "gone", b"1").unwrap();
    let m2 = a.wrap(T0, CH, "m2", b"2").unwrap();
    assert_eq!(b.unwrap(T0, &m2).unwrap().status, UnwrapStatus::Buffered);
    b.take_events();

    b.mark_dependencies_met(&["gone"], CH).unwrap();
    assert_eq!(ready_ids(&b.take_events()), vec!["m2"]);
    assert!(b.bloom_contains(CH, "gone"));

    // A later message that also depends on "gone" is delivered at once.
    let later = SdsMessage {
        causal_history: vec![HistoryEntry::new("gone")],
        ..sds_message(CH, "m3", 99, b"3")
    };
    let out = b.unwrap(T0, &protocol::encode_message(&later)).unwrap();
    assert_eq!(out.status, UnwrapStatus::Delivered);

    assert_eq!(
        b.mark_dependencies_met(&["x"], "never-used"),
        Err(ProtocolError::UnknownChannel("never-used".into()))
    );
}

#[test]
fn unacknowledged_messages_are_resent_then_expire() {
    let mut a = manager_with("a", |c| {
        c.resend_interval_ms = 1000;
        c.max_resend_attempts = 2;
    });
    let original = protocol::decode_message(&a.wrap(T0, CH, "m1", b"x").unwrap()).unwrap();

    a.sweep_outgoing(T0 + 1000);
    assert!(
        a.take_events().is_empty(),
        "not due before the interval has passed"
    );

    let mut now = T0;
    for attempt in 1..=2 {
        now += 1001;
        a.sweep_outgoing(now);
        let events = a.take_events();
        let [Event::Resend {
            message_id,
            attempt: n,
            bytes,
            ..
        }] = &events[..]
        else {
            panic!("expected one resend, got {events:?}");
        };
        assert_eq!((message_id.as_str(), *n), ("m1", attempt));
        let resent = protocol::decode_message(bytes).unwrap();
        assert_eq!(resent.message_id, original.message_id);
        assert_eq!(resent.lamport_timestamp, original.lamport_timestamp);
        assert_eq!(resent.content, original.content);
        assert!(!resent.bloom_filter.is_empty());
    }
    now += 1001;
    a.sweep_outgoing(now);
    let events = a.take_events();
    assert!(matches!(&events[..], [Event::Expired { message_id, .. }] if message_id == "m1"));
    assert!(
        sent_ids(&events).is_empty(),
        "expiry is not an acknowledgement"
    );
    let stats = a.channel_stats(CH).unwrap();
    assert_eq!(stats.outgoing_len, 0);
    assert_eq!((stats.counters.resends, stats.counters.expired), (2, 1));
}

#[test]
fn sync_messages_review_acks_and_are_not_delivered() {
    let mut a = manager("a");
    let mut b = manager("b");
    b.unwrap(T0, &a.wrap(T0, CH, "a1", b"x").unwrap()).unwrap();
    b.take_events();
    let lamport_before = b.channel_stats(CH).unwrap().lamport_timestamp;

    let sync = b.build_sync_message(T0, CH).unwrap();
    let decoded = protocol::decode_message(&sync).unwrap();
    assert!(decoded.content.is_empty());
    assert_eq!(decoded.lamport_timestamp, lamport_before + 1);
    assert_eq!(decoded.causal_history.len(), 1);
    assert!(!decoded.bloom_filter.is_empty());
    let stats = b.channel_stats(CH).unwrap();
    assert_eq!((stats.history_len, stats.outgoing_len), (1, 0));
    assert!(!b.bloom_contains(CH, &decoded.message_id));

    let out = a.unwrap(T0, &sync).unwrap();
    assert_eq!(out.status, UnwrapStatus::Sync);
    let events = a.take_events();
    assert!(ready_ids(&events).is_empty());
    assert_eq!(sent_ids(&events), vec!["a1"]);
    assert_eq!(a.channel_stats(CH).unwrap().history_len, 1);
}

#[test]
fn ephemeral_messages_skip_every_reliability_mechanism() {
    let a = manager("a");
    let mut b = manager("b");
    let bytes = a.wrap_ephemeral(CH, "e1", b"now").unwrap();
    let decoded = protocol::decode_message(&bytes).unwrap();
    assert_eq!(decoded.lamport_timestamp, 0);
    assert!(decoded.causal_history.is_empty() && decoded.bloom_filter.is_empty());

    let out = b.unwrap(T0, &bytes).unwrap();
    assert_eq!(out.status, UnwrapStatus::Ephemeral);
    assert_eq!(out.content, b"now");
    assert!(b.take_events().is_empty());
    assert!(!b.has_channel(CH), "nothing stored");
    // Delivered every time: ephemeral messages are never deduplicated from state.
    assert_eq!(
        b.unwrap(T0, &bytes).unwrap().status,
        UnwrapStatus::Ephemeral
    );
}

#[test]
fn messages_waiting_too_long_are_reported_lost() {
    let mut a = manager("a");
    let mut b = manager_with("b", |c| c.max_dependency_wait_ms = 10_000);
    let _missing = a.wrap(T0, CH, "m1", b"1").unwrap();
    b.unwrap(T0, &a.wrap(T0, CH, "m2", b"2").unwrap()).unwrap();
    b.take_events();
    b.sweep_incoming(T0 + 10_000);
    assert!(b.take_events().is_empty());
    b.sweep_incoming(T0 + 10_001);
    let events = b.take_events();
    assert!(matches!(&events[..],
        [Event::Lost { message_id, missing, .. }] if message_id == "m2" && missing == &vec!["m1".to_string()]));
    assert_eq!(b.channel_stats(CH).unwrap().incoming_len, 0);
}

#[test]
fn sdsr_repairs_a_message_lost_by_one_participant() {
    let mut a = manager("alice");
    let mut b = manager("bob");
    let mut c = manager("carol");
    let m1 = a.wrap(T0, CH, "m1", b"1").unwrap();
    b.unwrap(T0, &m1).unwrap(); // carol never gets m1
    let m2 = a.wrap(T0, CH, "m2", b"2").unwrap();
    b.unwrap(T0, &m2).unwrap();
    assert_eq!(c.unwrap(T0, &m2).unwrap().status, UnwrapStatus::Buffered);
    assert_eq!(c.channel_stats(CH).unwrap().outgoing_repair_len, 1);

    // Before T_req carol asks nothing; after it her next message carries the request.
    let t_req = protocol::t_req_ms("carol", "m1", 30_000, 300_000);
    let early = protocol::decode_message(&c.wrap(T0 + t_req - 1, CH, "c1", b"c").unwrap()).unwrap();
    assert!(early.repair_request.is_empty());
    let now = T0 + t_req;
    let asking = c.wrap(now, CH, "c2", b"c").unwrap();
    let decoded = protocol::decode_message(&asking).unwrap();
    assert_eq!(decoded.repair_request.len(), 1);
    assert_eq!(decoded.repair_request[0].message_id, "m1");
    assert_eq!(decoded.repair_request[0].sender_id, "alice");
    assert_eq!(c.channel_stats(CH).unwrap().outgoing_repair_len, 0);

    // Bob holds m1: he schedules a rebroadcast at T_resp.
    b.unwrap(now, &asking).unwrap();
    assert_eq!(b.channel_stats(CH).unwrap().incoming_repair_len, 1);
    let t_resp = protocol::t_resp_ms("bob", "alice", "m1", 300_000);
    b.take_events();
    if t_resp > 0 {
        b.sweep_repair(now + t_resp - 1);
        assert!(b.take_events().is_empty());
    }
    b.sweep_repair(now + t_resp);
    let events = b.take_events();
    let [Event::RepairReady {
        message_id, bytes, ..
    }] = &events[..]
    else {
        panic!("expected a repair, got {events:?}");
    };
    assert_eq!(message_id, "m1");

    // Carol gets the repair: m1, then the buffered m2, in order.
    c.take_events();
    assert_eq!(
        c.unwrap(now, bytes).unwrap().status,
        UnwrapStatus::Delivered
    );
    assert_eq!(ready_ids(&c.take_events()), vec!["m1", "m2"]);

    // Alice, the original sender, would have answered immediately (T_resp = 0).
    a.unwrap(now, &asking).unwrap();
    a.sweep_repair(now);
    assert!(a
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::RepairReady { message_id, .. } if message_id == "m1")));
}

#[test]
fn a_rebroadcast_cancels_pending_repairs_elsewhere() {
    let mut a = manager("alice");
    let mut b = manager("bob");
    let mut c = manager("carol");
    let m1 = a.wrap(T0, CH, "m1", b"1").unwrap();
    b.unwrap(T0, &m1).unwrap();
    c.unwrap(T0, &a.wrap(T0, CH, "m2", b"2").unwrap()).unwrap();
    let now = T0 + 300_000;
    let asking = c.wrap(now, CH, "c1", b"c").unwrap();
    b.unwrap(now, &asking).unwrap();
    assert_eq!(b.channel_stats(CH).unwrap().incoming_repair_len, 1);
    // Someone else rebroadcast m1 first: bob drops his pending response.
    b.unwrap(now, &m1).unwrap();
    assert_eq!(b.channel_stats(CH).unwrap().incoming_repair_len, 0);
}

#[test]
fn outgoing_repair_requests_expire_after_t_max() {
    let mut a = manager("alice");
    let mut c = manager("carol");
    a.wrap(T0, CH, "m1", b"1").unwrap();
    // A sync message reveals m1 without buffering anything that waits for it.
    assert_eq!(
        c.unwrap(T0, &a.build_sync_message(T0, CH).unwrap())
            .unwrap()
            .status,
        UnwrapStatus::Sync
    );
    assert_eq!(c.channel_stats(CH).unwrap().outgoing_repair_len, 1);
    let t_req = protocol::t_req_ms("carol", "m1", 30_000, 300_000);
    c.sweep_repair(T0 + t_req + 300_000);
    assert_eq!(c.channel_stats(CH).unwrap().outgoing_repair_len, 1);
    c.sweep_repair(T0 + t_req + 300_001);
    assert_eq!(c.channel_stats(CH).unwrap().outgoing_repair_len, 0);
}

#[test]
fn dependencies_of_buffered_messages_are_requested_again_until_they_arrive() {
    let mut a = manager("alice");
    let mut c = manager("carol");
    let m1 = a.wrap(T0, CH, "m1", b"1").unwrap();
    c.unwrap(T0, &a.wrap(T0, CH, "m2", b"2").unwrap()).unwrap();
    let t_req = protocol::t_req_ms("carol", "m1", 30_000, 300_000);
    // The first request goes out and is lost with its message.
    let first = protocol::decode_message(&c.wrap(T0 + t_req, CH, "c1", b"c").unwrap()).unwrap();
    assert_eq!(first.repair_request.len(), 1);
    assert_eq!(c.channel_stats(CH).unwrap().outgoing_repair_len, 0);
    // The sweep notices m2 still waits and schedules the request again.
    let now = T0 + t_req + 1;
    c.sweep_repair(now);
    assert_eq!(c.channel_stats(CH).unwrap().outgoing_repair_len, 1);
    let again = protocol::decode_message(&c.wrap(now + t_req, CH, "c2", b"c").unwrap()).unwrap();
    assert_eq!(again.repair_request[0].message_id, "m1");
    assert_eq!(again.repair_request[0].sender_id, "alice");
    // Once m1 arrives nothing is requested any more.
    c.unwrap(now, &m1).unwrap();
    c.sweep_repair(now + 1);
    assert_eq!(c.channel_stats(CH).unwrap().outgoing_repair_len, 0);
}

#[test]
fn without_participant_id_there_is_no_sdsr() {
    let mut a = manager("");
    let mut c = manager("");
    let _m1 = a.wrap(T0, CH, "m1", b"1").unwrap();
    c.unwrap(T0, &a.wrap(T0, CH, "m2", b"2").unwrap()).unwrap();
    assert_eq!(c.channel_stats(CH).unwrap().outgoing_repair_len, 0);
}

#[test]
fn limits_refuse_work_with_clear_errors_and_no_state_change() {
    let mut a = manager_with("a", |c| c.max_channels = 2);
    a.wrap(T0, "c1", "m", b"x").unwrap();
    a.wrap(T0, "c2", "m", b"x").unwrap();
    assert_eq!(
        a.wrap(T0, "c3", "m", b"x"),
        Err(ProtocolError::TooManyChannels { max: 2 })
    );

    let mut sender = manager("s");
    let mut b = manager_with("b", |c| c.max_incoming_buffer = 1);
    let _gap = sender.wrap(T0, CH, "gap", b"x").unwrap();
    b.unwrap(T0, &sender.wrap(T0, CH, "w1", b"x").unwrap())
        .unwrap();
    let full = b.unwrap(T0, &sender.wrap(T0, CH, "w2", b"x").unwrap());
    assert!(matches!(
        full,
        Err(ProtocolError::IncomingBufferFull { max: 1, .. })
    ));
    assert!(
        !b.bloom_contains(CH, "w2"),
        "a refused message is not marked as seen"
    );
    assert_eq!(b.channel_stats(CH).unwrap().incoming_len, 1);

    let small = manager_with("b", |c| c.max_wire_message_size = 64);
    let big = sender.wrap(T0, CH, "big", b"x").unwrap();
    assert!(matches!(
        small.decode(&big),
        Err(ProtocolError::WireMessageTooLarge { .. })
    ));
}

#[test]
fn history_is_bounded() {
    let mut a = manager_with("a", |c| c.max_message_history = 50);
    for i in 0..200 {
        a.wrap(T0, CH, &format!("m{i}"), b"x").unwrap();
    }
    let ids = a.history_ids(CH);
    assert_eq!(ids.len(), 50);
    assert_eq!(ids.first().map(String::as_str), Some("m150"));
}

#[test]
fn undecodable_input_is_a_clear_error() {
    let mut a = manager("a");
    for bytes in [
        &b""[..],
        b"\x0a\x05m1",
        b"garbage bytes \xff\xfe",
        b"\x0b\x02m1",
    ] {
        assert!(matches!(a.unwrap(T0, bytes), Err(ProtocolError::Decode(_))));
    }
    assert!(a.take_events().is_empty());
}

#[test]
fn retrieval_hints_come_from_the_provider_once_known() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let mut a = manager("a");
    a.set_retrieval_hint_provider(Some(Box::new(move |_: &str, id: &str| {
        counter.fetch_add(1, Ordering::SeqCst);
        format!("hint-{id}").into_bytes()
    })));
    a.wrap(T0, CH, "m1", b"x").unwrap();
    let second = protocol::decode_message(&a.wrap(T0, CH, "m2", b"x").unwrap()).unwrap();
    assert_eq!(second.causal_history[0].retrieval_hint, b"hint-m1");
    let third = protocol::decode_message(&a.wrap(T0, CH, "m3", b"x").unwrap()).unwrap();
    assert_eq!(third.causal_history[0].retrieval_hint, b"hint-m1");
    // m1 asked once, m2 asked once: known hints are not asked again.
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn restored_channel_equals_the_original() {
    let mut a = manager("alice");
    let mut b = manager("bob");
    let _gap = a.wrap(T0, CH, "gap", b"1").unwrap();
    b.unwrap(T0, &a.wrap(T0, CH, "m2", b"2").unwrap()).unwrap();
    b.wrap(T0, CH, "b1", b"mine").unwrap();
    b.mark_dependencies_met(&["declared"], CH).unwrap();

    let meta = b.channel_meta(CH).unwrap();
    let history: Vec<SdsMessage> = b
        .history_ids(CH)
        .iter()
        .map(|id| b.history_message(CH, id).unwrap().clone())
        .collect();
    let mut restored = manager("bob");
    restored
        .restore_channel(
            T0,
            CH,
            storage::protocol::ChannelData {
                meta: meta.clone(),
                history,
            },
        )
        .unwrap();
    assert_eq!(restored.channel_meta(CH).unwrap(), meta);
    assert_eq!(restored.history_ids(CH), b.history_ids(CH));
    for id in ["m2", "b1", "declared"] {
        assert!(restored.bloom_contains(CH, id));
    }
    let (s1, s2) = (
        b.channel_stats(CH).unwrap(),
        restored.channel_stats(CH).unwrap(),
    );
    assert_eq!(
        (
            s1.lamport_timestamp,
            s1.outgoing_len,
            s1.incoming_len,
            s1.outgoing_repair_len
        ),
        (
            s2.lamport_timestamp,
            s2.outgoing_len,
            s2.incoming_len,
            s2.outgoing_repair_len
        )
    );
}

#[test]
fn buffered_bytes_are_bounded_too() {
    let mut sender = manager("s");
    let mut b = manager_with("b", |c| c.max_incoming_buffer_bytes = 10_000);
    let _gap = sender.wrap(T0, CH, "gap", b"x").unwrap();
    let big = vec![1u8; 6_000];
    b.unwrap(T0, &sender.wrap(T0, CH, "w1", &big).unwrap())
        .unwrap();
    let refused = b.unwrap(T0, &sender.wrap(T0, CH, "w2", &big).unwrap());
    assert!(matches!(
        refused,
        Err(ProtocolError::IncomingBufferFull {
            max_bytes: 10_000,
            ..
        })
    ));
    // Once the gap is filled the buffer drains and has room again.
    b.mark_dependencies_met(&["gap"], CH).unwrap();
    assert_eq!(b.channel_stats(CH).unwrap().incoming_len, 0);
    let again = b
        .unwrap(T0, &sender.wrap(T0, CH, "w3", &big).unwrap())
        .unwrap();
    assert_eq!(again.status, UnwrapStatus::Buffered, "w2 is still missing");
}
