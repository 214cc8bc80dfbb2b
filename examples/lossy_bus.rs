//! Three participants chat on one channel over a lossy, reordering bus, and still agree.
//!
//! "alice", "bob" and "carol" each run a [`Manager`] and exchange about thirty chat lines
//! over a simulated broadcast bus that drops a quarter of all deliveries and shuffles the
//! rest. The protocol alone makes up for it: acknowledgements, resends, periodic sync
//! messages and SDS-R repairs recover every lost message, and a message whose causal
//! dependencies have not arrived yet waits in a buffer until they do.
//!
//! The program runs on a virtual clock with a fixed seed, so every run prints the same
//! report: an excerpt of carol's view of the chat, per-participant counts (deliveries,
//! acknowledgements, resends, repairs, buffered messages), one buffered message traced
//! from arrival to release, and whether everyone converged. Every delivery is checked
//! against the causal history its sender attached.
//!
//! Run it with `make demo` or `cargo run --release --example lossy_bus`.

#[path = "support/bus.rs"]
mod bus;

use std::collections::{HashMap, HashSet};

use bus::{LossyBus, Rng};
use storage::protocol::{Event, Manager, ProtocolConfig, UnwrapStatus};

/// The one channel everybody talks on.
const CHANNEL: &str = "lobby";
/// The participants, indexed by their position on the bus.
const NAMES: [&str; 3] = ["alice", "bob", "carol"];
/// Chat lines sent in total, one every other step.
const CHAT_LINES: usize = 30;
/// Share of bus deliveries that are lost.
const DROP_RATE: f64 = 0.25;
/// Seed of the bus and of the choice of speaker.
const SEED: u64 = 7;
/// Virtual wall clock at the start, in Unix milliseconds.
const START_MS: u64 = 1_700_000_000_000;
/// Virtual time per simulation step.
const STEP_MS: u64 = 250;
/// Every participant sends a sync message once in this many steps.
const SYNC_EVERY_STEPS: usize = 4;
/// The simulation gives up after this many steps.
const MAX_STEPS: usize = 2_000;
/// Deliveries of carol's view shown in the transcript excerpt.
const TRANSCRIPT_LINES: usize = 8;
/// The participant whose view of the chat is shown.
const OBSERVER: usize = 2;

/// How a payload got onto the bus.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// The sender's first broadcast.
    Original,
    /// A resend of an unacknowledged message by its sender.
    Resend,
    /// An SDS-R repair rebroadcast by the given participant.
    Repair { by: usize },
}

/// A received message held back until its dependencies arrive.
struct Buffered {
    at_ms: u64,
    missing: Vec<String>,
}

/// A buffered message that was later delivered, with the dependency that unblocked it.
struct Release {
    participant: usize,
    message_id: String,
    buffered_at_ms: u64,
    missing: Vec<String>,
    last_dependency: String,
    dependency_via: Via,
    dependency_arrived_ms: u64,
    released_at_ms: u64,
}

/// What one participant has seen and done so far.
#[derive(Default)]
struct Log {
    sent: usize,
    /// Delivered message ids, in delivery order.
    delivered: Vec<String>,
    /// Own and delivered message ids, to check causal order and duplicates.
    known: HashSet<String>,
    causal_violations: usize,
    duplicate_deliveries: usize,
    acks: usize,
    possible_acks: usize,
    resends: usize,
    repairs: usize,
    lost: usize,
    expired: usize,
    buffered: HashMap<String, Buffered>,
    releases: usize,
    /// When and how each received message first arrived.
    arrivals: HashMap<String, (u64, Via)>,
    /// The first deliveries, as printed.
    transcript: Vec<TranscriptLine>,
}

/// One delivery in a participant's view of the chat.
struct TranscriptLine {
    at_ms: u64,
    message_id: String,
    text: String,
    /// How the message got here, if not plainly.
    note: String,
}

fn main() {
    let mut nodes: Vec<Manager> = NAMES
        .iter()
        .map(|name| {
            let mut node = Manager::new(ProtocolConfig {
                participant_id: (*name).to_owned(),
                resend_interval_ms: 4_000,
                repair_t_min_ms: 1_000,
                repair_t_max_ms: 8_000,
                max_causal_history: 20,
                ..ProtocolConfig::default()
            })
            .expect("the demo configuration is valid");
            node.ensure_channel(CHANNEL)
                .expect("a fresh manager accepts a channel");
            node
        })
        .collect();
    let mut bus = LossyBus::new(NAMES.len(), DROP_RATE, SEED);
    let mut speaker_rng = Rng::new(SEED ^ 0x9e37_79b9);
    let mut logs: Vec<Log> = NAMES.iter().map(|_| Log::default()).collect();
    // Causal dependencies each sender attached, and who sent what.
    let mut dependencies: HashMap<String, Vec<String>> = HashMap::new();
    let mut sender_of: Vec<(String, usize)> = Vec::new();
    // Payloads put on the bus since the last drain, to tell originals, resends and repairs apart.
    let mut in_flight_via: HashMap<Vec<u8>, Via> = HashMap::new();
    let mut releases: Vec<Release> = Vec::new();
    let mut now = START_MS;
    let mut steps_run = 0;

    for step in 0..MAX_STEPS {
        now += STEP_MS;
        steps_run = step + 1;

        // Every other step somebody says something; the line's causal history names the
        // speaker's recent messages, which every receiver must deliver first.
        if step % 2 == 0 && step / 2 < CHAT_LINES {
            let line = step / 2 + 1;
            let from = (line + speaker_rng.below(2)) % NAMES.len();
            let message_id = format!("m{line}");
            let content = format!("{}: hello #{line}", NAMES[from]);
            let bytes = nodes[from]
                .wrap(now, CHANNEL, &message_id, content.as_bytes())
                .expect("wrapping a short chat line succeeds");
            let attached = nodes[from]
                .history_message(CHANNEL, &message_id)
                .expect("a wrapped message enters its sender's history")
                .causal_history
                .iter()
                .map(|entry| entry.message_id.clone())
                .collect();
            dependencies.insert(message_id.clone(), attached);
            logs[from].sent += 1;
            logs[from].known.insert(message_id.clone());
            sender_of.push((message_id, from));
            in_flight_via.insert(bytes.clone(), Via::Original);
            bus.broadcast(from, &bytes);
        }

        if step % SYNC_EVERY_STEPS == 0 {
            for (from, node) in nodes.iter_mut().enumerate() {
                let sync = node
                    .build_sync_message(now, CHANNEL)
                    .expect("the channel exists");
                bus.broadcast(from, &sync);
            }
        }

        for (to, bytes) in bus.drain() {
            let received = nodes[to]
                .unwrap(now, &bytes)
                .expect("bytes on the bus were wrapped by a participant");
            let first_arrival = matches!(
                received.status,
                UnwrapStatus::Delivered | UnwrapStatus::Buffered
            );
            if let (true, Some(&via)) = (first_arrival, in_flight_via.get(&bytes)) {
                logs[to].arrivals.insert(received.message_id, (now, via));
            }
        }
        in_flight_via.clear();

        for (me, node) in nodes.iter_mut().enumerate() {
            node.sweep_outgoing(now);
            node.sweep_incoming(now);
            node.sweep_repair(now);
            for event in node.take_events() {
                let log = &mut logs[me];
                match event {
                    Event::MessageReady {
                        message_id,
                        content,
                        ..
                    } => {
                        let in_order = dependencies
                            .get(&message_id)
                            .is_some_and(|deps| deps.iter().all(|dep| log.known.contains(dep)));
                        if !in_order {
                            log.causal_violations += 1;
                        }
                        if !log.known.insert(message_id.clone()) {
                            log.duplicate_deliveries += 1;
                        }
                        let was_buffered = log.buffered.remove(&message_id);
                        if let Some(buffered) = &was_buffered {
                            log.releases += 1;
                            releases.extend(release(me, &message_id, buffered, log, now));
                        }
                        if log.transcript.len() < TRANSCRIPT_LINES {
                            let note = delivery_note(log, &message_id, was_buffered.as_ref());
                            log.transcript.push(TranscriptLine {
                                at_ms: now,
                                message_id: message_id.clone(),
                                text: String::from_utf8_lossy(&content).into_owned(),
                                note,
                            });
                        }
                        log.delivered.push(message_id);
                    }
                    Event::MissingDependencies {
                        message_id,
                        missing,
                        ..
                    } => {
                        let missing = missing.into_iter().map(|entry| entry.message_id).collect();
                        log.buffered.insert(
                            message_id,
                            Buffered {
                                at_ms: now,
                                missing,
                            },
                        );
                    }
                    Event::MessageSent { .. } => log.acks += 1,
                    Event::PossiblyAcknowledged { .. } => log.possible_acks += 1,
                    Event::Resend { bytes, .. } => {
                        log.resends += 1;
                        in_flight_via.insert(bytes.clone(), Via::Resend);
                        bus.broadcast(me, &bytes);
                    }
                    Event::RepairReady { bytes, .. } => {
                        log.repairs += 1;
                        in_flight_via.insert(bytes.clone(), Via::Repair { by: me });
                        bus.broadcast(me, &bytes);
                    }
                    Event::Lost { .. } => log.lost += 1,
                    Event::Expired { .. } => log.expired += 1,
                    Event::PeriodicSync { .. } | Event::LimitReached { .. } => {}
                }
            }
        }

        if step / 2 >= CHAT_LINES && converged(&logs, &sender_of) {
            break;
        }
    }

    print_report(&nodes, &logs, &bus, &releases, &sender_of, now, steps_run);
}

/// Describes the release of `message_id` at participant `me`, naming the missing
/// dependency that arrived last (the one that unblocked it).
fn release(
    me: usize,
    message_id: &str,
    buffered: &Buffered,
    log: &Log,
    now: u64,
) -> Option<Release> {
    let (last_dependency, (arrived_ms, via)) = buffered
        .missing
        .iter()
        .filter_map(|dep| log.arrivals.get(dep).map(|arrival| (dep, *arrival)))
        .max_by_key(|(_, (arrived_ms, _))| *arrived_ms)?;
    Some(Release {
        participant: me,
        message_id: message_id.to_owned(),
        buffered_at_ms: buffered.at_ms,
        missing: buffered.missing.clone(),
        last_dependency: last_dependency.clone(),
        dependency_via: via,
        dependency_arrived_ms: arrived_ms,
        released_at_ms: now,
    })
}

/// How a delivered message reached the participant, when that is worth telling.
fn delivery_note(log: &Log, message_id: &str, buffered: Option<&Buffered>) -> String {
    let mut notes = Vec::new();
    match log.arrivals.get(message_id) {
        Some((_, Via::Resend)) => notes.push("resent by its sender".to_owned()),
        Some((_, Via::Repair { by })) => notes.push(format!("repaired by {}", NAMES[*by])),
        Some((_, Via::Original)) | None => {}
    }
    if let Some(buffered) = buffered {
        notes.push(format!(
            "buffered at {}, missing {}",
            elapsed(buffered.at_ms),
            buffered.missing.join(", ")
        ));
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!("  [{}]", notes.join("; "))
    }
}

/// Whether every participant delivered exactly the messages the others sent.
fn converged(logs: &[Log], sender_of: &[(String, usize)]) -> bool {
    logs.iter().enumerate().all(|(me, log)| {
        let expected: HashSet<&String> = sender_of
            .iter()
            .filter(|(_, from)| *from != me)
            .map(|(id, _)| id)
            .collect();
        let delivered: HashSet<&String> = log.delivered.iter().collect();
        delivered == expected && log.delivered.len() == expected.len()
    })
}

/// Seconds of virtual time since the start, for printing.
fn elapsed(at_ms: u64) -> String {
    format!("{:.2}s", (at_ms - START_MS) as f64 / 1000.0)
}

fn print_report(
    nodes: &[Manager],
    logs: &[Log],
    bus: &LossyBus,
    releases: &[Release],
    sender_of: &[(String, usize)],
    end_ms: u64,
    steps_run: usize,
) {
    println!(
        "Lossy bus demo: {} on \"{CHANNEL}\", {CHAT_LINES} chat lines, {:.0}% of deliveries dropped",
        NAMES.join(", "),
        DROP_RATE * 100.0
    );
    println!(
        "Seed {SEED}; virtual clock: {STEP_MS} ms steps, a line every 2 steps, syncs every {SYNC_EVERY_STEPS}."
    );
    println!();

    println!(
        "{}'s view of the chat (first {TRANSCRIPT_LINES} deliveries):",
        NAMES[OBSERVER]
    );
    for line in &logs[OBSERVER].transcript {
        let row = format!(
            "  t={:<7} {:<4} {:<16}{}",
            elapsed(line.at_ms),
            line.message_id,
            line.text,
            line.note
        );
        println!("{}", row.trim_end());
    }
    println!();

    println!("who    sent  delivered  order  acks  maybe-acks  resends  repairs  released");
    for (me, log) in logs.iter().enumerate() {
        let expected = sender_of.iter().filter(|(_, from)| *from != me).count();
        let order = if log.causal_violations == 0 && log.duplicate_deliveries == 0 {
            "ok"
        } else {
            "VIOLATED"
        };
        println!(
            "{:<5}  {:>4}  {:>9}  {order:>5}  {:>4}  {:>10}  {:>7}  {:>7}  {:>8}",
            NAMES[me],
            log.sent,
            format!("{}/{expected}", log.delivered.len()),
            log.acks,
            log.possible_acks,
            log.resends,
            log.repairs,
            log.releases,
        );
    }
    println!(
        "(delivered: the others' lines; acks: MessageSent; maybe-acks: PossiblyAcknowledged;\n \
         repairs: SDS-R rebroadcasts made; released: buffered, then delivered)"
    );
    let (mut requested, mut duplicates, mut still_buffered) = (0, 0, 0);
    for node in nodes {
        let stats = node
            .channel_stats(CHANNEL)
            .expect("every participant joined the channel");
        requested += stats.counters.repairs_requested;
        duplicates += stats.counters.duplicates;
        still_buffered += stats.incoming_len;
    }
    let (lost, expired) = logs.iter().fold((0, 0), |(lost, expired), log| {
        (lost + log.lost, expired + log.expired)
    });
    let violations: usize = logs
        .iter()
        .map(|log| log.causal_violations + log.duplicate_deliveries)
        .sum();
    if violations == 0 {
        println!(
            "Causal order checked: each delivery followed its attached dependencies, none twice."
        );
    } else {
        println!("Causal order checked: {violations} deliveries came too early or twice!");
    }
    println!(
        "Channel stats: {requested} repair requests, {duplicates} duplicates ignored, \
         {still_buffered} still buffered, {lost} lost, {expired} expired."
    );
    println!(
        "Bus: {} deliveries made, {} dropped ({:.1}% lost).",
        bus.delivered,
        bus.dropped,
        100.0 * bus.dropped as f64 / (bus.delivered + bus.dropped).max(1) as f64
    );
    println!();

    // Prefer a message unblocked by an SDS-R repair, then by a resend, then any.
    let example = releases
        .iter()
        .find(|r| matches!(r.dependency_via, Via::Repair { .. }))
        .or_else(|| {
            releases
                .iter()
                .find(|r| matches!(r.dependency_via, Via::Resend))
        })
        .or_else(|| releases.first());
    match example {
        Some(r) => {
            let how = match r.dependency_via {
                Via::Original => "in its original broadcast, shuffled behind it".to_owned(),
                Via::Resend => "in a resend by its sender".to_owned(),
                Via::Repair { by } => format!("in an SDS-R repair rebroadcast by {}", NAMES[by]),
            };
            println!(
                "Example: {} buffered {} at {} (missing {});",
                NAMES[r.participant],
                r.message_id,
                elapsed(r.buffered_at_ms),
                r.missing.join(", ")
            );
            println!(
                "         {} arrived at {} {how}; {} was released at {}.",
                r.last_dependency,
                elapsed(r.dependency_arrived_ms),
                r.message_id,
                elapsed(r.released_at_ms)
            );
        }
        None => println!("Example: no message ever had to wait for a dependency."),
    }
    println!();

    if converged(logs, sender_of) {
        println!(
            "Converged at {} ({steps_run} steps): everyone delivered every other participant's message.",
            elapsed(end_ms)
        );
    } else {
        println!(
            "NOT converged at {} ({steps_run} steps): some messages were never delivered.",
            elapsed(end_ms)
        );
    }
}
