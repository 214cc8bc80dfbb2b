//! The persistence contract around protocol operations: restart from a store, the failure
//! policy of each call, and what a save writes.

#[path = "common/managers.rs"]
mod managers;

use managers::{manager, manager_with, T0};
use storage::persistence::{self, Call, MemoryStore, OpError, PersistentManager};
use storage::protocol::{self, Event, UnwrapStatus};

const CH: &str = "chan";

fn open(participant: &str, store: &MemoryStore) -> PersistentManager {
    PersistentManager::new(manager(participant), Box::new(store.clone()))
}

#[test]
fn a_restarted_manager_resumes_every_part_of_the_state() {
    let store = MemoryStore::new();
    let mut alice = manager("alice");
    let mut bob = open("bob", &store);
    let m1 = alice.wrap(T0, CH, "m1", b"1").unwrap();
    let m2 = alice.wrap(T0, CH, "m2", b"2").unwrap();
    // m0 depends on m1 and m2, which bob does not have yet.
    let m0 = alice.wrap(T0, CH, "m0", b"0").unwrap();
    assert_eq!(bob.unwrap(T0, &m0).unwrap().status, UnwrapStatus::Buffered);
    assert_eq!(bob.unwrap(T0, &m1).unwrap().status, UnwrapStatus::Delivered);
    bob.wrap(T0, CH, "b1", b"mine").unwrap();
    bob.mark_dependencies_met(T0, &["declared"], CH).unwrap();
    let t_req = protocol::t_req_ms("bob", "m2", 30_000, 300_000);

    let before_meta = bob.manager().channel_meta(CH).unwrap();
    let before_history = bob.manager().history_ids(CH);
    let before_stats = bob.channel_stats(T0, CH).unwrap().unwrap();
    drop(bob);

    let mut bob = open("bob", &store);
    bob.ensure_channel(T0 + 1, CH).unwrap();
    assert_eq!(bob.manager().channel_meta(CH).unwrap(), before_meta);
    assert_eq!(bob.manager().history_ids(CH), before_history);
    for id in ["m1", "b1", "declared", "m0"] {
        assert!(
            bob.manager().bloom_contains(CH, id),
            "{id} in rebuilt bloom"
        );
    }
    let after = bob.channel_stats(T0, CH).unwrap().unwrap();
    assert_eq!(
        (
            after.lamport_timestamp,
            after.outgoing_len,
            after.incoming_len,
            after.outgoing_repair_len
        ),
        (
            before_stats.lamport_timestamp,
            before_stats.outgoing_len,
            before_stats.incoming_len,
            before_stats.outgoing_repair_len
        )
    );

    // The protocol carries on: the repair request is still due, and m2 releases m0.
    let asking = protocol::decode_message(&bob.wrap(T0 + t_req, CH, "b2", b"x").unwrap()).unwrap();
    assert_eq!(asking.repair_request[0].message_id, "m2");
    bob.take_events();
    bob.unwrap(T0 + t_req, &m2).unwrap();
    let ready: Vec<_> = bob
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::MessageReady { message_id, .. } => Some(message_id),
            _ => None,
        })
        .collect();
    assert_eq!(ready, vec!["m2", "m0"]);
}

#[test]
fn stored_history_is_in_append_order_without_blooms() {
    let store = MemoryStore::new();
    let mut alice = manager("alice");
    let mut bob = open("bob", &store);
    for i in 0..5 {
        bob.unwrap(T0, &alice.wrap(T0, CH, &format!("m{i}"), b"x").unwrap())
            .unwrap();
    }
    assert_eq!(store.history_ids(CH), vec!["m0", "m1", "m2", "m3", "m4"]);
    let loaded = storage::persistence::Persistence::load_channel(&mut store.clone(), CH)
        .unwrap()
        .unwrap();
    for row in &loaded.history {
        assert!(protocol::decode_stored_message(row)
            .unwrap()
            .bloom_filter
            .is_empty());
    }
}

#[test]
fn history_evictions_reach_the_store() {
    let store = MemoryStore::new();
    let history_of_3 = manager_with("bob", |c| c.max_message_history = 3);
    let mut bob = PersistentManager::new(history_of_3, Box::new(store.clone()));
    for i in 0..6 {
        bob.wrap(T0, CH, &format!("b{i}"), b"x").unwrap();
    }
    assert_eq!(store.history_ids(CH), vec!["b3", "b4", "b5"]);
}

#[test]
fn a_failed_meta_save_does_not_fail_the_op_and_the_next_save_is_complete() {
    let store = MemoryStore::new();
    let mut bob = open("bob", &store);
    store.fail_next(Call::SaveMeta, 1);
    bob.wrap(T0, CH, "b1", b"x").unwrap();
    assert_eq!(bob.health().meta_failures, 1);
    assert!(store.meta(CH).is_none());
    bob.wrap(T0, CH, "b2", b"y").unwrap();
    let meta = persistence::decode_channel_meta(&store.meta(CH).unwrap()).unwrap();
    assert_eq!(
        meta.outgoing.len(),
        2,
        "the next snapshot holds both messages"
    );
}

#[test]
fn a_failed_history_batch_is_retried_with_the_next_op() {
    let store = MemoryStore::new();
    let mut bob = open("bob", &store);
    store.fail_next(Call::UpdateHistory, 2);
    bob.wrap(T0, CH, "b1", b"x").unwrap();
    bob.wrap(T0, CH, "b2", b"x").unwrap();
    assert!(store.history_ids(CH).is_empty());
    assert_eq!(bob.health().history_failures, 2);
    bob.wrap(T0, CH, "b3", b"x").unwrap();
    assert_eq!(store.history_ids(CH), vec!["b1", "b2", "b3"]);
}

#[test]
fn failing_load_and_drop_fail_the_op() {
    let store = MemoryStore::new();
    open("bob", &store).wrap(T0, CH, "b1", b"x").unwrap();

    let mut bob = open("bob", &store);
    store.fail_next(Call::Load, 1);
    assert!(matches!(
        bob.wrap(T0, CH, "b2", b"x"),
        Err(OpError::Persistence(_))
    ));
    assert!(!bob.manager().has_channel(CH));
    bob.wrap(T0, CH, "b2", b"x").unwrap();
    assert_eq!(bob.channel_stats(T0, CH).unwrap().unwrap().outgoing_len, 2);

    store.fail_next(Call::Drop, 1);
    assert!(matches!(
        bob.remove_channel(CH),
        Err(OpError::Persistence(_))
    ));
    assert!(bob.manager().has_channel(CH));
    bob.remove_channel(CH).unwrap();
    assert!(store.meta(CH).is_none() && store.history_ids(CH).is_empty());
}

#[test]
fn corrupt_stored_state_is_a_clear_error() {
    let store = MemoryStore::new();
    storage::persistence::Persistence::save_channel_meta(
        &mut store.clone(),
        CH,
        b"\x08\x02\x10\x00",
    )
    .unwrap();
    let mut bob = open("bob", &store);
    let err = bob.wrap(T0, CH, "b1", b"x").unwrap_err();
    assert!(matches!(err, OpError::CorruptState { .. }), "{err}");
    assert!(err.to_string().contains(CH));
}

#[test]
fn retrieval_hints_are_saved_when_learned() {
    let store = MemoryStore::new();
    let mut bob = open("bob", &store);
    bob.manager_mut()
        .set_retrieval_hint_provider(Some(Box::new(|_: &str, id: &str| {
            format!("h:{id}").into_bytes()
        })));
    bob.wrap(T0, CH, "b1", b"x").unwrap();
    bob.wrap(T0, CH, "b2", b"x").unwrap();
    assert_eq!(store.hint(CH, "b1"), Some(b"h:b1".to_vec()));
}

#[test]
fn bytes_written_per_op_do_not_carry_the_bloom() {
    let store = MemoryStore::new();
    let mut bob = open("bob", &store);
    for i in 0..100 {
        bob.wrap(T0, CH, &format!("b{i}"), &[7u8; 100]).unwrap();
    }
    // 100 unacknowledged messages outstanding: the meta holds them, without blooms.
    let meta = store.meta(CH).unwrap();
    let per_message = meta.len() / 100;
    assert!(
        per_message < 2_000,
        "{per_message} bytes per outstanding message"
    );
    assert!(store.stored_bytes() < 100 * 2 * 2_000);
}

#[test]
fn reset_drops_every_channel_from_the_store() {
    let store = MemoryStore::new();
    let mut bob = open("bob", &store);
    bob.wrap(T0, "a", "1", b"x").unwrap();
    bob.wrap(T0, "b", "1", b"x").unwrap();
    bob.reset().unwrap();
    assert!(store.meta("a").is_none() && store.meta("b").is_none());
    assert!(!bob.manager().has_channel("a"));
}
