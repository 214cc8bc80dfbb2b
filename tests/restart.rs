//! Restart from every durable backend (memory, SQLite, a host vtable): wrap, receive,
//! buffer and repair state survive the manager; the restarted one holds equal state and
//! the protocol carries on.

#[path = "common/events.rs"]
mod events;
#[macro_use]
#[path = "common/forward.rs"]
mod forward;
#[path = "common/host_store.rs"]
mod host_store;
#[path = "common/managers.rs"]
mod managers;
#[path = "common/scratch.rs"]
mod scratch;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use events::ready_ids;
use managers::{manager, manager_with, T0};
use storage::ffi::HostPersistence;
use storage::persistence::{
    Call, HistoryBatch, MemoryStore, OpError, Persistence, PersistenceError, PersistentManager,
    SaveOutcome, SqliteStore, StoredChannel, Synchronous,
};
use storage::protocol::{self, Event, UnwrapStatus};

const CH: &str = "chan";
const T_MIN: u64 = 30_000;
const T_MAX: u64 = 300_000;

fn open(backend: Box<dyn Persistence>) -> PersistentManager {
    PersistentManager::new(manager("bob"), backend)
}

/// Builds every kind of state in bob, restarts him on `reopen()`, checks the state is
/// equal and that buffering, both repair directions and delivery carry on.
fn restart_scenario(mut reopen: impl FnMut() -> Box<dyn Persistence>) {
    let (mut alice, mut carol, mut dave) = (manager("alice"), manager("carol"), manager("dave"));
    let mut bob = open(reopen());

    // Buffered with a missing dependency (and an outgoing repair request for it).
    let m1 = alice.wrap(T0, CH, "m1", b"1").unwrap();
    let m2 = alice.wrap(T0, CH, "m2", b"2").unwrap();
    assert_eq!(bob.unwrap(T0, &m2).unwrap().status, UnwrapStatus::Buffered);
    // Outgoing, unacknowledged (sent before bob's repair request for m1 is due).
    bob.wrap(T0, CH, "b1", b"mine").unwrap();
    // Delivered into history.
    let c1 = carol.wrap(T0, CH, "c1", b"c1").unwrap();
    assert_eq!(bob.unwrap(T0, &c1).unwrap().status, UnwrapStatus::Delivered);
    // Dave lacks c1 and asks for it; bob holds c1, so he schedules a rebroadcast.
    let c2 = carol.wrap(T0, CH, "c2", b"c2").unwrap();
    assert_eq!(dave.unwrap(T0, &c2).unwrap().status, UnwrapStatus::Buffered);
    let now = T0 + protocol::t_req_ms("dave", "c1", T_MIN, T_MAX);
    let asking = dave.wrap(now, CH, "d1", b"d1").unwrap();
    assert_eq!(
        protocol::decode_message(&asking)
            .unwrap()
            .repair_request
            .len(),
        1
    );
    bob.unwrap(now, &asking).unwrap();
    // A dependency declared met.
    bob.mark_dependencies_met(now, &["declared"], CH).unwrap();

    let before_meta = bob.manager().channel_meta(CH).unwrap();
    assert!(!before_meta.outgoing.is_empty());
    assert!(!before_meta.incoming.is_empty());
    assert!(!before_meta.outgoing_repair.is_empty());
    assert!(!before_meta.incoming_repair.is_empty());
    assert!(!before_meta.met_ids.is_empty());
    let before_history = bob.manager().history_ids(CH);
    let before_stats = bob.channel_stats(now, CH).unwrap().unwrap();
    drop(bob);

    let mut bob = open(reopen());
    bob.ensure_channel(now, CH).unwrap();
    assert_eq!(bob.manager().channel_meta(CH).unwrap(), before_meta);
    assert_eq!(bob.manager().history_ids(CH), before_history);
    assert_eq!(
        bob.channel_stats(now, CH)
            .unwrap()
            .unwrap()
            .lamport_timestamp,
        before_stats.lamport_timestamp
    );
    for id in ["c1", "d1", "b1", "declared"] {
        assert!(
            bob.manager().bloom_contains(CH, id),
            "{id} in rebuilt bloom"
        );
    }
    assert!(!bob.manager().bloom_contains(CH, "m1"));

    // The rebroadcast of c1 is still due for dave.
    bob.take_events();
    let t_resp = protocol::t_resp_ms("bob", "carol", "c1", T_MAX);
    bob.sweep_repair(now + t_resp);
    assert!(bob
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::RepairReady { message_id, .. } if message_id == "c1")));
    // The request for m1 is still due: bob's next message carries it.
    let later = now.max(T0 + protocol::t_req_ms("bob", "m1", T_MIN, T_MAX));
    let b2 = protocol::decode_message(&bob.wrap(later, CH, "b2", b"x").unwrap()).unwrap();
    assert!(b2.repair_request.iter().any(|r| r.message_id == "m1"));
    assert_eq!(b2.lamport_timestamp, before_stats.lamport_timestamp + 1);
    // m1 arrives and releases the buffered m2, in order.
    bob.take_events();
    bob.unwrap(later, &m1).unwrap();
    assert_eq!(ready_ids(&bob.take_events()), vec!["m1", "m2"]);
    // And a third start still sees all of it.
    let meta = bob.manager().channel_meta(CH).unwrap();
    let history = bob.manager().history_ids(CH);
    drop(bob);
    let mut bob = open(reopen());
    bob.ensure_channel(later, CH).unwrap();
    assert_eq!(bob.manager().channel_meta(CH).unwrap(), meta);
    assert_eq!(bob.manager().history_ids(CH), history);
}

/// A backend that counts the writes made through it and fails the next `fail_loads` loads.
struct Watched {
    inner: Box<dyn Persistence>,
    writes: Arc<AtomicUsize>,
    fail_loads: Arc<AtomicUsize>,
}

impl Watched {
    fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }
}

impl Persistence for Watched {
    fn save_channel_meta(&mut self, channel_id: &str, meta: &[u8]) -> Result<(), PersistenceError> {
        self.wrote();
        self.inner.save_channel_meta(channel_id, meta)
    }
    fn update_history(
        &mut self,
        channel_id: &str,
        batch: &HistoryBatch,
    ) -> Result<(), PersistenceError> {
        self.wrote();
        self.inner.update_history(channel_id, batch)
    }
    fn load_channel(
        &mut self,
        channel_id: &str,
    ) -> Result<Option<StoredChannel>, PersistenceError> {
        let failing = self
            .fail_loads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(PersistenceError::new("disk on fire"));
        }
        self.inner.load_channel(channel_id)
    }
    fn drop_channel(&mut self, channel_id: &str) -> Result<(), PersistenceError> {
        self.wrote();
        self.inner.drop_channel(channel_id)
    }
    fn set_retrieval_hint(
        &mut self,
        channel_id: &str,
        message_id: &str,
        hint: &[u8],
    ) -> Result<(), PersistenceError> {
        self.wrote();
        self.inner.set_retrieval_hint(channel_id, message_id, hint)
    }
}

/// After a restart the stats read loads a stored channel as every operation does, fails
/// with a persistence error when that load fails, and answers `None` for a channel
/// stored nowhere without creating it: no `max_channels` slot taken, nothing written.
fn stats_after_restart_scenario(mut reopen: impl FnMut() -> Box<dyn Persistence>) {
    let mut alice = manager("alice");
    let mut bob = open(reopen());
    bob.wrap(T0, CH, "b1", b"mine").unwrap();
    let _a1 = alice.wrap(T0, CH, "a1", b"1").unwrap();
    let a2 = alice.wrap(T0, CH, "a2", b"2").unwrap();
    assert_eq!(bob.unwrap(T0, &a2).unwrap().status, UnwrapStatus::Buffered);
    let before = bob.channel_stats(T0, CH).unwrap().expect("in use");
    assert_eq!((before.outgoing_len, before.incoming_len), (1, 1));
    drop(bob);

    // One channel allowed: a stats read that created `elsewhere` would leave no room for CH.
    let (writes, fail_loads) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let backend = Watched {
        inner: reopen(),
        writes: writes.clone(),
        fail_loads: fail_loads.clone(),
    };
    let one_channel = manager_with("bob", |c| c.max_channels = 1);
    let mut bob = PersistentManager::new(one_channel, Box::new(backend));
    assert_eq!(bob.channel_stats(T0, "elsewhere").unwrap(), None);
    assert!(!bob.manager().has_channel("elsewhere"));

    fail_loads.store(1, Ordering::SeqCst);
    let err = bob.channel_stats(T0, CH).unwrap_err();
    assert!(matches!(err, OpError::Persistence(_)), "{err:?}");
    assert!(err.to_string().contains("disk on fire"), "{err}");
    assert!(!bob.manager().has_channel(CH));

    assert_eq!(bob.channel_stats(T0, CH).unwrap(), Some(before.clone()));
    assert!(bob.manager().has_channel(CH));
    assert_eq!(bob.channel_stats(T0, CH).unwrap(), Some(before));
    assert_eq!(writes.load(Ordering::SeqCst), 0, "stats write nothing");
    drop(bob);
    let mut store = reopen();
    assert_eq!(store.load_channel("elsewhere").unwrap(), None);
}

#[test]
fn stats_load_a_stored_channel_after_a_restart_on_every_backend() {
    let store = MemoryStore::new();
    stats_after_restart_scenario(|| Box::new(store.clone()));

    let dir = scratch::Scratch::new("restart-stats");
    let path = dir.file("state.db");
    stats_after_restart_scenario(|| Box::new(SqliteStore::open(&path, Synchronous::Full).unwrap()));

    let store = MemoryStore::new();
    let destroyed = Arc::new(AtomicUsize::new(0));
    stats_after_restart_scenario(|| {
        Box::new(HostPersistence::new(&host_store::vtable(&store, &destroyed)).unwrap())
    });
}

#[test]
fn memory_store_restart() {
    let store = MemoryStore::new();
    restart_scenario(|| Box::new(store.clone()));
}

#[test]
fn sqlite_restart_full_and_normal() {
    for synchronous in [Synchronous::Full, Synchronous::Normal] {
        let dir = scratch::Scratch::new("restart");
        let path = dir.file("state.db");
        restart_scenario(|| Box::new(SqliteStore::open(&path, synchronous).unwrap()));
    }
}

#[test]
fn sqlite_restart_with_group_commits() {
    let dir = scratch::Scratch::new("restart-group");
    let path = dir.file("state.db");
    let mut alice = manager("alice");
    let mut bob = open(Box::new(
        SqliteStore::open(&path, Synchronous::Full).unwrap(),
    ));
    assert!(bob.begin_group());
    for i in 0..10 {
        bob.unwrap(T0, &alice.wrap(T0, CH, &format!("a{i}"), b"x").unwrap())
            .unwrap();
        bob.wrap(T0, CH, &format!("b{i}"), b"y").unwrap();
    }
    // Nothing is durable before the commit.
    let mut reader = SqliteStore::open(&path, Synchronous::Full).unwrap();
    assert_eq!(reader.load_channel(CH).unwrap(), None);
    bob.commit_group();
    let stored = reader.load_channel(CH).unwrap().unwrap();
    assert_eq!(stored.history.len(), 20);
    let meta = bob.manager().channel_meta(CH).unwrap();
    drop(bob);
    let mut bob = open(Box::new(reader));
    bob.ensure_channel(T0, CH).unwrap();
    assert_eq!(bob.manager().channel_meta(CH).unwrap(), meta);
    assert_eq!(bob.manager().history_ids(CH).len(), 20);
}

#[test]
fn host_vtable_restart_and_destroy_once_per_adapter() {
    let store = MemoryStore::new();
    let destroyed = Arc::new(AtomicUsize::new(0));
    let mut opened = 0;
    restart_scenario(|| {
        opened += 1;
        let vtable = host_store::vtable(&store, &destroyed);
        Box::new(HostPersistence::new(&vtable).unwrap())
    });
    assert_eq!(destroyed.load(Ordering::SeqCst), opened);
}

#[test]
fn host_vtable_failures_follow_the_policy() {
    let store = MemoryStore::new();
    let destroyed = Arc::new(AtomicUsize::new(0));
    let backend = HostPersistence::new(&host_store::vtable(&store, &destroyed)).unwrap();
    let mut bob = open(Box::new(backend));

    // Failing saves do not fail the op; history is retried with the next op.
    store.fail_next(Call::SaveMeta, 1);
    store.fail_next(Call::UpdateHistory, 1);
    bob.wrap(T0, CH, "b1", b"x").unwrap();
    assert_eq!(bob.health().meta_failures, 1);
    assert_eq!(bob.health().history_failures, 1);
    let (_, message) = bob.health().last_error.clone().unwrap();
    assert!(
        message.contains("injected UpdateHistory failure"),
        "{message}"
    );
    bob.wrap(T0, CH, "b2", b"x").unwrap();
    assert_eq!(store.history_ids(CH), vec!["b1", "b2"]);

    // Failing hint saves are counted, not fatal.
    bob.manager_mut()
        .set_retrieval_hint_provider(Some(Box::new(|_: &str, id: &str| id.as_bytes().to_vec())));
    store.fail_next(Call::SetHint, 1);
    bob.wrap(T0, CH, "b3", b"x").unwrap();
    assert_eq!(bob.health().hint_failures, 1);

    // Failing load and drop fail the op with the host's message.
    drop(bob);
    let backend = HostPersistence::new(&host_store::vtable(&store, &destroyed)).unwrap();
    let mut bob = open(Box::new(backend));
    store.fail_next(Call::Load, 1);
    let err = bob.wrap(T0, CH, "b4", b"x").unwrap_err();
    assert!(matches!(err, OpError::Persistence(_)));
    assert!(err.to_string().contains("injected Load failure"), "{err}");
    bob.wrap(T0, CH, "b4", b"x").unwrap();
    store.fail_next(Call::Drop, 1);
    let err = bob.remove_channel(CH).unwrap_err();
    assert!(
        err.to_string()
            .contains("host persistence `drop_channel` failed"),
        "{err}"
    );
    bob.remove_channel(CH).unwrap();
    assert!(store.meta(CH).is_none());
    drop(bob);
    assert_eq!(destroyed.load(Ordering::SeqCst), 2);
}

/// A store that commits in groups over a [`MemoryStore`]: `save_op`s are staged and
/// applied at `commit_group`, which fails while `fail_commits` is set.
struct GroupingStore {
    inner: MemoryStore,
    staged: Vec<(String, Option<Vec<u8>>, Option<HistoryBatch>)>,
    fail_commits: Arc<std::sync::atomic::AtomicBool>,
}

impl Persistence for GroupingStore {
    forward_persistence!(inner);
    fn save_op(
        &mut self,
        channel_id: &str,
        meta: Option<&[u8]>,
        history: Option<&HistoryBatch>,
    ) -> SaveOutcome {
        self.staged.push((
            channel_id.to_owned(),
            meta.map(<[u8]>::to_vec),
            history.cloned(),
        ));
        SaveOutcome {
            meta: Ok(()),
            history: Ok(()),
        }
    }
    fn groups_commits(&self) -> bool {
        true
    }
    fn commit_group(&mut self) -> Result<(), PersistenceError> {
        let staged = std::mem::take(&mut self.staged);
        if self.fail_commits.load(Ordering::SeqCst) {
            return Err(PersistenceError::new("commit refused"));
        }
        for (channel_id, meta, batch) in staged {
            if let Some(meta) = meta {
                self.inner.save_channel_meta(&channel_id, &meta)?;
            }
            if let Some(batch) = batch {
                self.inner.update_history(&channel_id, &batch)?;
            }
        }
        Ok(())
    }
}

#[test]
fn a_failed_group_commit_keeps_history_queued_for_the_next_commit() {
    let store = MemoryStore::new();
    let fail_commits = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut bob = open(Box::new(GroupingStore {
        inner: store.clone(),
        staged: Vec::new(),
        fail_commits: fail_commits.clone(),
    }));
    assert!(bob.begin_group());
    bob.wrap(T0, CH, "b1", b"x").unwrap();
    bob.wrap(T0, CH, "b2", b"x").unwrap();
    bob.commit_group();
    assert!(store.history_ids(CH).is_empty());
    assert_eq!(
        bob.health().history_failures,
        1,
        "one channel, one failed commit"
    );
    assert_eq!(
        bob.health().last_error.as_ref().unwrap().1,
        "commit refused"
    );

    fail_commits.store(false, Ordering::SeqCst);
    bob.begin_group();
    bob.wrap(T0, CH, "b3", b"x").unwrap();
    bob.commit_group();
    assert_eq!(store.history_ids(CH), vec!["b1", "b2", "b3"]);
    let meta = storage::persistence::decode_channel_meta(&store.meta(CH).unwrap()).unwrap();
    assert_eq!(meta.outgoing.len(), 3);
}
