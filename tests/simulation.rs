//! Several participants on a lossy, reordering bus converge: everyone delivers every
//! message exactly once, in an order consistent with causality, with acknowledgements,
//! resends, periodic sync messages and SDS-R repairs doing the work.

#[path = "../examples/support/bus.rs"]
mod bus;

use std::collections::{HashMap, HashSet};

use bus::{LossyBus, Rng};
use storage::protocol::{self, Event, Manager, ProtocolConfig};

const CH: &str = "fleet";

#[derive(Default)]
struct Tally {
    acks: usize,
    resends: usize,
    repairs: usize,
}

struct Outcome {
    delivered: Vec<Vec<String>>,
    sent_by: HashMap<String, usize>,
    tally: Tally,
}

fn simulate(participants: usize, messages: usize, drop_rate: f64, seed: u64) -> Outcome {
    let mut nodes: Vec<Manager> = (0..participants)
        .map(|i| {
            Manager::new(ProtocolConfig {
                participant_id: format!("p{i}"),
                resend_interval_ms: 4_000,
                repair_t_min_ms: 1_000,
                repair_t_max_ms: 8_000,
                max_dependency_wait_ms: 3_600_000,
                // A longer causal history than the default 10 gives later traffic more
                // chances to mention a message that only one peer received.
                max_causal_history: 20,
                ..ProtocolConfig::default()
            })
            .expect("config")
        })
        .collect();
    let mut bus = LossyBus::new(participants, drop_rate, seed);
    let mut rng = Rng::new(seed ^ 0x9e37_79b9);
    let mut delivered: Vec<Vec<String>> = vec![Vec::new(); participants];
    let mut seen: Vec<HashSet<String>> = vec![HashSet::new(); participants];
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    let mut sent_by: HashMap<String, usize> = HashMap::new();
    let mut tally = Tally::default();
    let mut now = 1_700_000_000_000u64;

    for step in 0..4_000 {
        now += 250;
        let wraps_now = step % 2 == 0 && step / 2 < messages;
        if wraps_now {
            // Everyone takes part in the conversation: SDS recovers a lost message through
            // the causal history of later messages, so a message that no later traffic
            // mentions and one peer already acknowledged is unrecoverable (as in nim-sds).
            let from = (step / 2 + rng.below(2)) % participants;
            let id = format!("m{}", step / 2);
            let bytes = nodes[from].wrap(now, CH, &id, id.as_bytes()).expect("wrap");
            let decoded = protocol::decode_message(&bytes).expect("decode own");
            deps.insert(
                id.clone(),
                decoded
                    .causal_history
                    .iter()
                    .map(|e| e.message_id.clone())
                    .collect(),
            );
            seen[from].insert(id.clone());
            sent_by.insert(id, from);
            bus.broadcast(from, &bytes);
        }
        if step % 4 == 0 {
            for (i, node) in nodes.iter_mut().enumerate() {
                if node.has_channel(CH) {
                    let sync = node.build_sync_message(now, CH).expect("sync");
                    bus.broadcast(i, &sync);
                }
            }
        }
        for (to, bytes) in bus.drain() {
            nodes[to].unwrap(now, &bytes).expect("peer bytes are valid");
        }
        for (i, node) in nodes.iter_mut().enumerate() {
            node.sweep_outgoing(now);
            node.sweep_incoming(now);
            node.sweep_repair(now);
            for event in node.take_events() {
                match event {
                    Event::MessageReady { message_id, .. } => {
                        for dep in &deps[&message_id] {
                            assert!(
                                seen[i].contains(dep),
                                "p{i} got {message_id} before its dependency {dep}"
                            );
                        }
                        assert!(
                            seen[i].insert(message_id.clone()),
                            "p{i} got {message_id} twice"
                        );
                        delivered[i].push(message_id);
                    }
                    Event::MessageSent { .. } => tally.acks += 1,
                    Event::Resend { bytes, .. } => {
                        tally.resends += 1;
                        bus.broadcast(i, &bytes);
                    }
                    Event::RepairReady { bytes, .. } => {
                        tally.repairs += 1;
                        bus.broadcast(i, &bytes);
                    }
                    Event::Lost { message_id, .. } => panic!("p{i} lost {message_id}"),
                    _ => {}
                }
            }
        }
        let complete = step / 2 >= messages
            && (0..participants)
                .all(|i| delivered[i].len() == sent_by.values().filter(|&&f| f != i).count());
        if complete {
            break;
        }
    }
    Outcome {
        delivered,
        sent_by,
        tally,
    }
}

fn assert_converged(outcome: &Outcome, participants: usize) {
    for i in 0..participants {
        let expected: HashSet<&String> = outcome
            .sent_by
            .iter()
            .filter(|(_, &f)| f != i)
            .map(|(id, _)| id)
            .collect();
        let got: HashSet<&String> = outcome.delivered[i].iter().collect();
        assert_eq!(got, expected, "p{i} did not converge");
    }
}

#[test]
fn three_participants_converge_over_a_lossy_bus() {
    let outcome = simulate(3, 300, 0.2, 7);
    assert_converged(&outcome, 3);
    assert!(outcome.tally.acks > 0, "acknowledgements observed");
    assert!(outcome.tally.repairs > 0, "SDS-R repairs observed");
}

#[test]
fn five_participants_converge_under_heavy_loss() {
    let outcome = simulate(5, 200, 0.35, 42);
    assert_converged(&outcome, 5);
    assert!(outcome.tally.acks > 0);
    assert!(outcome.tally.repairs + outcome.tally.resends > 0);
}

#[test]
fn many_seeds_converge() {
    for seed in 1..=16 {
        let outcome = simulate(4, 120, 0.25, seed);
        assert_converged(&outcome, 4);
    }
}
