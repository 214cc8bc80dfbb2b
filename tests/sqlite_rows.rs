//! The SQLite backend stores a channel's buffers as rows and an operation writes only
//! the rows it changed: after every operation of a long random exchange (losses,
//! reordering, acks, resends, expiry, repairs, met ids, group commits) the state read
//! back from the file equals the state in memory, order included; and one operation's
//! write does not grow with the messages outstanding.

#[macro_use]
#[path = "common/forward.rs"]
mod forward;
#[path = "common/managers.rs"]
mod managers;
#[path = "common/rng.rs"]
mod rng;
#[path = "common/scratch.rs"]
mod scratch;

use std::sync::{Arc, Mutex};

use managers::{manager, manager_with, T0};
use rng::Rng;
use scratch::Scratch;
use storage::persistence::{
    decode_channel_meta, HistoryBatch, MetaRows, Persistence, PersistentManager, RowWrite,
    SaveOutcome, SqliteStore, Synchronous,
};
use storage::protocol::{self, Manager};

const CH: &str = "chan";

/// What the file holds for CH, as the contract hands it out: meta and history ids.
fn stored(reader: &mut SqliteStore) -> (protocol::ChannelMeta, Vec<String>) {
    let stored = reader.load_channel(CH).unwrap().expect("stored");
    let meta = decode_channel_meta(&stored.meta.expect("meta")).unwrap();
    let history = stored
        .history
        .iter()
        .map(|row| protocol::decode_stored_message(row).unwrap().message_id)
        .collect();
    (meta, history)
}

#[test]
fn the_stored_rows_equal_memory_after_every_operation() {
    let dir = Scratch::new("rows-random");
    let path = dir.file("state.db");
    // Short waits, so that resends, expiry, lost dependencies and repairs all happen.
    let short = |c: &mut protocol::ProtocolConfig| {
        c.resend_interval_ms = 20_000;
        c.max_resend_attempts = 2;
        c.max_dependency_wait_ms = 120_000;
        c.repair_t_min_ms = 1_000;
        c.repair_t_max_ms = 60_000;
    };
    let mut bob = PersistentManager::new(
        manager_with("bob", short),
        Box::new(SqliteStore::open(&path, Synchronous::Normal).unwrap()),
    );
    let mut reader = SqliteStore::open(&path, Synchronous::Normal).unwrap();
    let mut peers: Vec<Manager> = vec![manager_with("alice", short), manager_with("carol", short)];
    // A fixed seed: the same exchange on every run.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut late: Vec<Vec<u8>> = Vec::new();
    let mut now = T0;
    let mut in_group = 0;
    let mut checks = 0;
    // The most each buffer held at a check: every kind must have been exercised.
    let mut held = [0usize; 5];
    for step in 0..600u32 {
        now += rng.next(4_000);
        match rng.next(10) {
            // A peer sends: bob gets it now, later (out of order), or never.
            0..=3 => {
                let peer = &mut peers[rng.next(2) as usize];
                let bytes = peer.wrap(now, CH, &format!("p{step}"), b"peer").unwrap();
                match rng.next(10) {
                    0..=5 => {
                        bob.unwrap(now, &bytes).unwrap();
                    }
                    6..=8 => late.push(bytes),
                    _ => {}
                }
            }
            4 if !late.is_empty() => {
                let bytes = late.swap_remove(rng.next(late.len() as u64) as usize);
                bob.unwrap(now, &bytes).unwrap();
            }
            // Bob sends; a peer may get it (and acknowledge it by its next message).
            5 | 6 => {
                let bytes = bob.wrap(now, CH, &format!("b{step}"), b"bob").unwrap();
                if rng.next(2) == 0 {
                    let peer = &mut peers[rng.next(2) as usize];
                    peer.unwrap(now, &bytes).unwrap();
                }
            }
            7 => bob.sweep_outgoing(now),
            8 => {
                bob.sweep_incoming(now);
                bob.sweep_repair(now);
            }
            _ if bob.manager().has_channel(CH) => {
                let id = format!("p{}", rng.next(u64::from(step) + 1));
                bob.mark_dependencies_met(now, &[id], CH).unwrap();
            }
            _ => {}
        }
        bob.take_events();
        for peer in &mut peers {
            peer.take_events();
        }
        // Now and then a group of operations shares one commit.
        if in_group == 0 && rng.next(8) == 0 {
            in_group = 1 + rng.next(6);
            bob.begin_group();
        } else if in_group > 0 {
            in_group -= 1;
            if in_group == 0 {
                bob.commit_group();
            }
        }
        if in_group == 0 {
            if let Some(meta) = bob.manager().channel_meta(CH) {
                let (stored_meta, history) = stored(&mut reader);
                assert_eq!(stored_meta, meta, "step {step}: stored meta");
                for (seen, len) in held.iter_mut().zip([
                    meta.outgoing.len(),
                    meta.incoming.len(),
                    meta.outgoing_repair.len(),
                    meta.incoming_repair.len(),
                    meta.met_ids.len(),
                ]) {
                    *seen = (*seen).max(len);
                }
                assert_eq!(history, bob.manager().history_ids(CH), "step {step}");
                checks += 1;
            }
        }
    }
    assert!(held.iter().all(|n| *n > 0), "buffers held at most {held:?}");
    assert!(checks > 400, "{checks} checks");
    assert_eq!(bob.health().meta_failures, 0);
}

/// Forwards to a SQLite store, recording the meta rows of every save.
struct Recording {
    inner: SqliteStore,
    saves: Arc<Mutex<Vec<MetaRows>>>,
}

impl Persistence for Recording {
    forward_persistence!(inner);
    fn stores_meta_rows(&self) -> bool {
        true
    }
    fn save_op_rows(
        &mut self,
        channel_id: &str,
        meta: Option<&MetaRows>,
        history: Option<&HistoryBatch>,
    ) -> SaveOutcome {
        if let Some(meta) = meta {
            self.saves.lock().unwrap().push(meta.clone());
        }
        self.inner.save_op_rows(channel_id, meta, history)
    }
}

#[test]
fn an_operation_writes_the_rows_it_changed_whatever_is_outstanding() {
    let dir = Scratch::new("rows-cost");
    let saves = Arc::new(Mutex::new(Vec::new()));
    let store = Recording {
        inner: SqliteStore::open(dir.file("state.db"), Synchronous::Normal).unwrap(),
        saves: saves.clone(),
    };
    let mut bob = PersistentManager::new(manager("bob"), Box::new(store));
    let mut alice = manager("alice");
    const OUTSTANDING: usize = 300;
    for i in 0..OUTSTANDING {
        bob.wrap(T0, CH, &format!("lost-{i}"), b"never seen")
            .unwrap();
    }
    let last = |saves: &Mutex<Vec<MetaRows>>| saves.lock().unwrap().last().cloned().unwrap();

    // One more wrap: the header and the one new outgoing row.
    let b = bob.wrap(T0, CH, "seen", b"seen").unwrap();
    let rows = last(&saves);
    assert!(
        rows.header.len() < 32,
        "header of {} bytes",
        rows.header.len()
    );
    assert_eq!(rows.rows.len(), 1);
    assert_eq!(rows.rows[0].message_id, "seen");
    assert!(matches!(rows.rows[0].write, RowWrite::AtEnd(_)));

    // Alice buffers `seen` (she lacks what it depends on), so her bloom filter holds it
    // and nothing else of bob's: each of her messages bloom-hits `seen` only, until the
    // hits confirm it. Each receipt writes that one row, whatever else is outstanding.
    alice.unwrap(T0, &b).unwrap();
    let mut writes = Vec::new();
    for i in 0..5 {
        let answer = alice.wrap(T0, CH, &format!("a{i}"), b"answer").unwrap();
        bob.unwrap(T0, &answer).unwrap();
        let rows = last(&saves);
        let touched: Vec<&str> = rows.rows.iter().map(|r| r.message_id.as_str()).collect();
        assert_eq!(touched, ["seen"], "receipt {i}");
        let deleted = rows.rows[0].write == RowWrite::Delete;
        writes.push(deleted);
        if deleted {
            break;
        }
    }
    assert_eq!(
        writes.last(),
        Some(&true),
        "confirmed and deleted: {writes:?}"
    );
    assert!(writes.len() > 1, "changed in place first: {writes:?}");
    assert_eq!(
        bob.manager().channel_meta(CH).unwrap().outgoing.len(),
        OUTSTANDING
    );
}
