//! One hostile peer cannot exhaust a manager's memory or CPU, or poison its clocks:
//! everything it can make the manager hold is charged against the memory budget, work per
//! message is bounded, and refusals change nothing, are counted and are reported.

#[path = "common/events.rs"]
mod events;
#[path = "common/managers.rs"]
mod managers;
#[path = "common/messages.rs"]
mod messages;

use events::{ready_ids, refusals_reported};
use managers::{manager_with, T0};
use messages::{entries, entry, sds_message};
use storage::protocol::{
    self, Event, Manager, ProtocolConfig, ProtocolError, SdsMessage, UnwrapStatus,
};

const CH: &str = "room";

/// The manager under attack.
fn victim(tweak: impl FnOnce(&mut ProtocolConfig)) -> Manager {
    manager_with("victim", tweak)
}

fn message(channel: &str, id: &str, sender: &str, deps: &[String], content: &[u8]) -> Vec<u8> {
    protocol::encode_message(&SdsMessage {
        causal_history: entries(deps),
        sender_id: sender.into(),
        ..sds_message(channel, id, 1, content)
    })
}

fn deps(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn within_budget(m: &Manager) {
    let (used, limit) = m.memory();
    assert!(used.total() <= limit, "{used:?} over {limit}");
    assert!(used.buffered <= limit / 4, "buffered {used:?}");
    assert!(used.repair <= limit / 8, "repair {used:?}");
}

#[test]
fn a_flood_of_unique_buffered_messages_over_many_channels_stays_within_the_budget() {
    // Unique 1 MiB messages, each naming a dependency that never arrives, over 2000
    // channels: the default limits used to multiply to 64 GiB.
    let mut m = victim(|_| {});
    let content = vec![7u8; 1024 * 1024 - 200];
    let mut refused = 0;
    for i in 0..2000 {
        let bytes = message(
            &format!("ch-{i}"),
            &format!("m-{i}"),
            "flooder",
            &[format!("never-{i}")],
            &content,
        );
        match m.unwrap(T0, &bytes) {
            Ok(u) => assert_eq!(u.status, UnwrapStatus::Buffered),
            Err(e) => {
                assert!(e.is_limit(), "{e}");
                refused += 1;
            }
        }
        within_budget(&m);
    }
    let (used, limit) = m.memory();
    assert!(refused > 1500, "only {refused} refused");
    assert!(
        used.buffered > limit / 8,
        "the buffered share is used: {used:?}"
    );
    // Refusals were reported, rate-limited, and changed nothing.
    let reported = refusals_reported(&m.take_events());
    assert!(reported >= 1 && reported <= refused);
    assert!(m.channel_ids().len() <= 2000 - refused as usize + 1);
}

#[test]
fn a_message_naming_too_many_dependencies_is_refused_before_it_costs_anything() {
    let mut m = victim(|_| {});
    m.ensure_channel(CH).unwrap();
    let before = m.memory();
    let bytes = message(CH, "wide", "flooder", &deps("missing", 20_000), b"x");
    let refused = m.unwrap(T0, &bytes);
    assert_eq!(
        refused.as_ref().err(),
        Some(&ProtocolError::TooManyEntries {
            field: "causal_history",
            max: 1024,
        })
    );
    assert_eq!(m.memory(), before, "nothing is held");
    let stats = m.channel_stats(CH).unwrap();
    assert_eq!(stats.counters.refusals.too_many_entries, 1);
    assert_eq!(stats.counters.dropped_by_limits, 1);
    assert_eq!(stats.incoming_len, 0);
    // The refusal is reported once, naming the reason; nothing else is emitted (results
    // and events stay proportional to what was accepted).
    let events = m.take_events();
    assert!(
        matches!(&events[..], [Event::LimitReached { channel_id, refused: 1, reason }]
            if channel_id == CH && reason.contains("causal_history")),
        "{events:?}"
    );
}

#[test]
fn one_huge_message_with_hundreds_of_thousands_of_entries_is_refused_cheaply() {
    // 3.9 MB, 360 000 causal-history entries.
    let mut m = victim(|_| {});
    let short: Vec<String> = (0..360_000).map(|i| format!("{i:05x}")).collect();
    let bytes = message(CH, "huge", "flooder", &short, b"x");
    assert!(bytes.len() > 3_000_000 && bytes.len() < 4 * 1024 * 1024);
    let error = m.unwrap(T0, &bytes).unwrap_err();
    assert!(matches!(error, ProtocolError::TooManyEntries { .. }));
    assert!(error.to_string().len() < 100);
    assert!(!m.has_channel(CH), "a refused message creates no channel");
    assert_eq!(m.unattributed_refusals().too_many_entries, 1);
    // Five thousand repair requests are refused the same way.
    let asks = deps("r", 5000);
    let wire = protocol::encode_message(&SdsMessage {
        repair_request: asks.iter().map(|id| entry(id, b"", "someone")).collect(),
        ..sds_message(CH, "asks", 1, b"x")
    });
    assert!(matches!(
        m.unwrap(T0, &wire),
        Err(ProtocolError::TooManyEntries {
            field: "repair_request",
            max: 256
        })
    ));
}

#[test]
fn history_is_charged_at_its_real_size_not_its_content() {
    // Delivered messages with 20 000 causal-history entries each, all present: the
    // history's byte bound counts the entries, not one byte of content.
    let mut m = victim(|c| {
        c.max_received_causal_history = 20_000;
        c.max_message_history = 100_000;
        c.max_history_bytes = 4 * 1024 * 1024;
    });
    let known = deps("known", 20_000);
    m.ensure_channel(CH).unwrap();
    m.mark_dependencies_met(&known, CH).unwrap();
    for i in 0..40 {
        let bytes = message(CH, &format!("wide-{i}"), "peer", &known, b"x");
        let u = m.unwrap(T0, &bytes).unwrap();
        assert_eq!(u.status, UnwrapStatus::Delivered);
    }
    let stats = m.channel_stats(CH).unwrap();
    assert!(
        stats.history_len < 40,
        "history evicted by bytes: {}",
        stats.history_len
    );
    assert!(
        stats.memory.history <= 4 * 1024 * 1024 + 300_000,
        "{:?}",
        stats.memory
    );
    within_budget(&m);
}

#[test]
fn the_whole_budget_bounds_history_across_channels_oldest_first() {
    let budget = 8 * 1024 * 1024;
    let mut m = victim(|c| c.memory_budget_bytes = budget);
    let content = vec![1u8; 100_000];
    for i in 0..300 {
        let channel = format!("ch-{}", i % 30);
        let bytes = message(&channel, &format!("m-{i}"), "peer", &[], &content);
        assert_eq!(
            m.unwrap(T0, &bytes).unwrap().status,
            UnwrapStatus::Delivered
        );
        within_budget(&m);
    }
    // The newest message of every channel is still there; the oldest gave way.
    for c in 0..30 {
        let channel = format!("ch-{c}");
        let ids = m.history_ids(&channel);
        assert_eq!(
            ids.last(),
            Some(&format!("m-{}", 270 + c)),
            "{channel}: {ids:?}"
        );
    }
    assert!(m.history_ids("ch-0").len() < 10);
}

#[test]
fn resolving_many_dependencies_one_by_one_is_linear() {
    // Used to cost O(N^2): each arrival scanned the waiter's whole list.
    let n = 50_000;
    let mut m = victim(|c| {
        c.max_received_causal_history = n;
        c.max_incoming_buffer_bytes = 256 * 1024 * 1024;
        c.memory_budget_bytes = 1024 * 1024 * 1024;
    });
    let names = deps("dep", n);
    let waiting = message(CH, "waiter", "peer", &names, b"late");
    assert_eq!(
        m.unwrap(T0, &waiting).unwrap().status,
        UnwrapStatus::Buffered
    );
    for (i, dep) in names.iter().enumerate() {
        let u = m.unwrap(T0, &message(CH, dep, "peer", &[], b"d")).unwrap();
        assert_eq!(u.status, UnwrapStatus::Delivered);
        if i + 1 < n {
            assert_eq!(m.channel_stats(CH).unwrap().incoming_len, 1);
        }
    }
    let stats = m.channel_stats(CH).unwrap();
    assert_eq!(stats.incoming_len, 0);
    assert_eq!(stats.memory.buffered, 0, "nothing is left charged");
    assert!(m
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::MessageReady { message_id, .. } if message_id == "waiter")));
}

#[test]
fn an_absurd_lamport_timestamp_is_not_adopted() {
    // The 31-byte message of the report: Lamport timestamp i64::MAX.
    let poison =
        hex::decode("0a046576696c10ffffffffffffffff7f2204726f6f6d2a01783a046576696c").unwrap();
    let mut m = victim(|_| {});
    let u = m.unwrap(T0, &poison).unwrap();
    assert_eq!(
        u.status,
        UnwrapStatus::Delivered,
        "the message itself is not refused"
    );
    let lead = ProtocolConfig::default().max_lamport_lead_ms;
    let clock = m.channel_stats(CH).unwrap().lamport_timestamp;
    assert!(clock <= (T0 + lead) as i64 + 1, "{clock}");
    // Our next message carries a sane clock, so honest peers are not pinned either.
    let next = protocol::decode_message(&m.wrap(T0, CH, "next", b"x").unwrap()).unwrap();
    assert!(next.lamport_timestamp < i64::MAX / 2);
    let mut honest = victim(|_| {});
    honest
        .unwrap(T0, &m.wrap(T0, CH, "after", b"x").unwrap())
        .unwrap();
    assert!(honest.channel_stats(CH).unwrap().lamport_timestamp <= (T0 + lead) as i64 + 3);
}

#[test]
fn honest_clocks_in_seconds_or_milliseconds_are_adopted() {
    for (unit, lamport) in [
        ("nim-sds seconds", (T0 / 1000) as i64 + 5),
        ("libstorage milliseconds", T0 as i64 + 5_000),
        ("a sender an hour ahead", T0 as i64 + 3_600_000),
    ] {
        let mut m = victim(|_| {});
        let bytes = protocol::encode_message(&sds_message(CH, "m", lamport, b"x"));
        m.unwrap(T0, &bytes).unwrap();
        assert_eq!(
            m.channel_stats(CH).unwrap().lamport_timestamp,
            lamport + 1,
            "{unit}"
        );
    }
}

#[test]
fn wrap_refuses_ids_that_peers_would_refuse() {
    let mut m = victim(|_| {});
    let huge = "x".repeat(10 * 1024 * 1024);
    assert!(matches!(
        m.wrap(T0, CH, &huge, b"x"),
        Err(ProtocolError::IdTooLong {
            field: "message_id",
            ..
        })
    ));
    assert!(matches!(
        m.wrap(T0, &huge, "m", b"x"),
        Err(ProtocolError::IdTooLong {
            field: "channel_id",
            ..
        })
    ));
    assert!(!m.has_channel(CH) && m.channel_ids().is_empty());
    // Within the limit, the message is accepted by a peer at the defaults.
    let long = "y".repeat(1024);
    let bytes = m.wrap(T0, CH, &long, b"x").unwrap();
    let mut peer = victim(|_| {});
    assert!(peer.unwrap(T0, &bytes).is_ok());
    // Nor can the host declare such an id met.
    assert!(matches!(
        m.mark_dependencies_met(&[huge.as_str()], CH),
        Err(ProtocolError::IdTooLong { .. })
    ));
    // And received ids over the limit are refused.
    let bytes = message(CH, &"z".repeat(1025), "peer", &[], b"x");
    assert!(matches!(
        peer.unwrap(T0, &bytes),
        Err(ProtocolError::IdTooLong {
            field: "message_id",
            ..
        })
    ));
}

#[test]
fn a_flooding_sender_gives_way_to_an_honest_one() {
    let mut m = victim(|c| c.max_incoming_buffer = 10);
    for i in 0..10 {
        let bytes = message(CH, &format!("f-{i}"), "flooder", &[format!("x-{i}")], b"f");
        m.unwrap(T0, &bytes).unwrap();
    }
    let more = message(CH, "f-more", "flooder", &["x".into()], b"f");
    assert!(matches!(
        m.unwrap(T0, &more),
        Err(ProtocolError::IncomingBufferFull { .. })
    ));
    // The honest sender's out-of-order message is let in; the flood's oldest goes.
    let honest = message(CH, "h-2", "honest", &["h-1".into()], b"h");
    assert_eq!(
        m.unwrap(T0, &honest).unwrap().status,
        UnwrapStatus::Buffered
    );
    let events = m.take_events();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Lost { message_id, .. } if message_id == "f-0")));
    let stats = m.channel_stats(CH).unwrap();
    assert_eq!((stats.incoming_len, stats.counters.evicted), (10, 1));
    // Then the honest chain completes.
    m.unwrap(T0, &message(CH, "h-1", "honest", &[], b"h"))
        .unwrap();
    assert_eq!(ready_ids(&m.take_events()), ["h-1", "h-2"]);
}

#[test]
fn a_flooded_channel_gives_way_to_a_quiet_one() {
    let budget = 4 * 1024 * 1024;
    let mut m = victim(|c| c.memory_budget_bytes = budget);
    let content = vec![0u8; 20_000];
    let mut i = 0;
    while m
        .unwrap(
            T0,
            &message("flood", &format!("f-{i}"), "f", &["gone".into()], &content),
        )
        .is_ok()
    {
        i += 1;
    }
    assert!(m.memory().0.buffered > budget / 4 - 30_000);
    let quiet = message("quiet", "q-2", "q", &["q-1".into()], &content);
    assert_eq!(m.unwrap(T0, &quiet).unwrap().status, UnwrapStatus::Buffered);
    assert!(m.channel_stats("flood").unwrap().counters.evicted >= 1);
    within_budget(&m);
}

#[test]
fn refusals_are_reported_at_most_once_a_second_per_channel() {
    let mut m = victim(|c| c.max_incoming_buffer = 1);
    m.unwrap(T0, &message(CH, "w", "s", &["gap".into()], b"x"))
        .unwrap();
    m.take_events();
    let mut now = T0;
    for i in 0..50 {
        now += 100;
        let bytes = message(CH, &format!("r-{i}"), "s", &["gap".into()], b"x");
        assert!(m.unwrap(now, &bytes).is_err());
    }
    let events = m.take_events();
    let reports = events
        .iter()
        .filter(|e| matches!(e, Event::LimitReached { .. }))
        .count();
    // 50 refusals over 5 s: one report right away, then one a second.
    assert!((5..=6).contains(&reports), "{events:?}");
    // What is left unreported goes out with the next incoming sweep once due.
    m.sweep_incoming(now + 1000);
    let rest = refusals_reported(&m.take_events());
    assert_eq!(refusals_reported(&events) + rest, 50);
    let counters = m.channel_stats(CH).unwrap().counters;
    assert_eq!(counters.refusals.buffer_full, 50);
}

#[test]
fn a_sweep_does_bounded_work() {
    let mut m = victim(|c| {
        c.max_incoming_buffer = 30_000;
        c.max_dependency_wait_ms = 1000;
    });
    for i in 0..25_000 {
        let bytes = message(CH, &format!("b-{i}"), "s", &[format!("gap-{i}")], b"x");
        m.unwrap(T0, &bytes).unwrap();
    }
    m.take_events();
    m.sweep_incoming(T0 + 5000);
    let lost = m
        .take_events()
        .iter()
        .filter(|e| matches!(e, Event::Lost { .. }))
        .count();
    assert_eq!(lost, 10_000, "one sweep expires at most 10 000");
    m.sweep_incoming(T0 + 5000);
    m.sweep_incoming(T0 + 5000);
    assert_eq!(m.channel_stats(CH).unwrap().incoming_len, 0);
}
