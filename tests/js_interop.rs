//! libstorage against the real js-waku `@waku/sds` 0.0.8: a `Manager` speaking the spec
//! dialect and a JS `MessageChannel` (`tests/js-interop/harness.mjs`, run by `node`)
//! exchange messages over a seeded lossy, reordering "network", both directions. Checks:
//! every content message is delivered exactly once on each side, in causal order; every
//! message ends acknowledged on both sides; lost messages are recovered by SDS-R repair
//! (resends off on both sides) or by resends (SDS-R off on both sides); sync messages
//! cross both ways; ephemeral messages cross both ways.
//!
//! Where `@waku/sds` itself departs from the spec (`tests/js-interop/DIFFERENCES.md`), the
//! JS side is checked against what it does, and a test of its own pins the departure:
//! it may deliver a message while a dependency is still in its incoming buffer, and it
//! emits `message-delivered` again for a resent copy of a message it delivered at once.
//!
//! `make js-interop-test` installs the JS package (`npm ci`) and runs this test; without
//! `tests/js-interop/node_modules` or `node` the tests fail and say so. Every exchange
//! with node has a timeout: a stuck peer fails the test, it never hangs.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use storage::protocol::{
    decode_received, Event, Manager, ProtocolConfig, UnwrapStatus, WireFormat,
};

const CHANNEL: &str = "room";
/// Longest wait for one harness reply (each takes milliseconds).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// libstorage's SDS-R T_max in these runs: requests fall due within a second.
const REPAIR_T_MAX_MS: u64 = 1000;

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js-interop")
}

/// The node process running the harness. Lines go to it through a writer thread and
/// come back through a reader thread, so that no call can block without a timeout.
struct Js {
    child: Child,
    commands: Option<Sender<String>>,
    replies: Receiver<String>,
}

impl Js {
    fn start(repair: bool) -> Self {
        let dir = harness_dir();
        assert!(
            dir.join("node_modules/@waku/sds/package.json").exists(),
            "@waku/sds is not installed: run `make js-interop-test` (npm ci in tests/js-interop)"
        );
        let mut child = Command::new("node")
            .arg("harness.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node (install Node.js 20): {e}"));
        let mut stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (commands, to_write) = mpsc::channel::<String>();
        thread::spawn(move || {
            for line in to_write {
                if writeln!(stdin, "{line}")
                    .and_then(|()| stdin.flush())
                    .is_err()
                {
                    break;
                }
            }
            // Dropping stdin here ends the harness's input.
        });
        let (replied, replies) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if replied.send(line).is_err() {
                    break;
                }
            }
        });
        let mut js = Js {
            child,
            commands: Some(commands),
            replies,
        };
        js.call(json!({"op": "init", "channel": CHANNEL, "sender": "js", "repair": repair}));
        js
    }

    fn call(&mut self, command: Value) -> Value {
        let op = command["op"].clone();
        self.commands
            .as_ref()
            .expect("harness running")
            .send(command.to_string())
            .expect("the harness's writer thread is gone (node exited?)");
        let line = match self.replies.recv_timeout(REPLY_TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("the @waku/sds harness gave no reply to {op} within {REPLY_TIMEOUT:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the @waku/sds harness exited before replying to {op} (see its stderr)")
            }
        };
        let reply: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("harness reply to {op} is not JSON ({e}): {line}"));
        assert!(reply.get("failed").is_none(), "harness failed: {reply}");
        reply
    }
}

impl Drop for Js {
    fn drop(&mut self) {
        if let Some(commands) = self.commands.take() {
            let _ = commands.send(json!({"op": "quit"}).to_string());
        }
        // The reader ends when node closes its stdout, i.e. exits; kill it if it does not.
        loop {
            match self.replies.recv_timeout(REPLY_TIMEOUT) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    break;
                }
            }
        }
        let _ = self.child.wait();
    }
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    B64.decode(value.as_str().expect("base64 string"))
        .expect("valid base64")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str().map(str::to_owned))
        .collect()
}

/// A deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One direction of the network: packets in flight, dropped and reordered by the seed.
#[derive(Default)]
struct Link {
    /// Packets with their send sequence number.
    in_flight: Vec<(usize, Vec<u8>)>,
    sent: usize,
    dropped: usize,
    /// Packets that arrived after one sent later than them.
    overtaken: usize,
}

impl Link {
    fn send(&mut self, rng: &mut Rng, bytes: Vec<u8>, loss_percent: usize) {
        self.sent += 1;
        if rng.below(100) < loss_percent {
            self.dropped += 1;
            return;
        }
        let at = rng.below(self.in_flight.len() + 1);
        self.in_flight.insert(at, (self.sent, bytes));
    }

    fn take(&mut self) -> Vec<Vec<u8>> {
        let packets = std::mem::take(&mut self.in_flight);
        let mut latest = 0;
        for (seq, _) in &packets {
            if *seq < latest {
                self.overtaken += 1;
            }
            latest = latest.max(*seq);
        }
        packets.into_iter().map(|(_, bytes)| bytes).collect()
    }
}

/// A delivery seen by one side: the id, the causal history it carried and (JS only) the
/// dependencies still in the JS incoming buffer at that moment.
struct Delivery {
    id: String,
    history: Vec<String>,
    buffered_deps: Vec<String>,
}

/// How lost messages are to be recovered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Recovery {
    /// SDS-R on both sides, resends off on both.
    Repair,
    /// Resends on both sides, SDS-R off on both.
    Resend,
}

/// Everything each side did, for the checks at the end.
struct Run {
    rs: Manager,
    js: Js,
    recovery: Recovery,
    rng: Rng,
    now: u64,
    to_js: Link,
    to_rs: Link,
    rs_sent: Vec<String>,
    js_sent: Vec<String>,
    rs_delivered: Vec<Delivery>,
    js_delivered: Vec<Delivery>,
    /// How many copies of each content message reached the JS side.
    js_receipts: HashMap<String, usize>,
    rs_acked: HashSet<String>,
    js_acked: HashSet<String>,
    rs_possibly: usize,
    js_possibly: usize,
    rs_ephemeral: Vec<Vec<u8>>,
    js_ephemeral: Vec<Vec<u8>>,
    /// Causal history of every message the JS side sent, by id.
    js_histories: HashMap<String, Vec<String>>,
    syncs_to_js: usize,
    syncs_to_rs: usize,
    repairs_to_js: usize,
    repairs_to_rs: usize,
    resends_to_js: usize,
    resends_to_rs: usize,
}

impl Run {
    fn new(seed: u64, recovery: Recovery) -> Self {
        let js = Js::start(recovery == Recovery::Repair);
        let mut config = ProtocolConfig {
            participant_id: "rs".into(),
            wire_format: WireFormat::Spec,
            repair_t_min_ms: 0,
            repair_t_max_ms: REPAIR_T_MAX_MS,
            ..ProtocolConfig::default()
        };
        match recovery {
            Recovery::Repair => config.resend_interval_ms = u64::MAX / 4,
            // SDS-R is off without a participant id.
            Recovery::Resend => config.participant_id = String::new(),
        }
        // The JS side stamps Lamport times with Date.now(); start the injected clock there.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as u64;
        Run {
            rs: Manager::new(config).expect("valid config"),
            js,
            recovery,
            rng: Rng(seed),
            now,
            to_js: Link::default(),
            to_rs: Link::default(),
            rs_sent: Vec::new(),
            js_sent: Vec::new(),
            rs_delivered: Vec::new(),
            js_delivered: Vec::new(),
            js_receipts: HashMap::new(),
            rs_acked: HashSet::new(),
            js_acked: HashSet::new(),
            rs_possibly: 0,
            js_possibly: 0,
            rs_ephemeral: Vec::new(),
            js_ephemeral: Vec::new(),
            js_histories: HashMap::new(),
            syncs_to_js: 0,
            syncs_to_rs: 0,
            repairs_to_js: 0,
            repairs_to_rs: 0,
            resends_to_js: 0,
            resends_to_rs: 0,
        }
    }

    fn js_events(&mut self, reply: &Value) {
        for e in reply["events"].as_array().into_iter().flatten() {
            match e["type"].as_str() {
                Some("delivered") => self.js_delivered.push(Delivery {
                    id: e["id"].as_str().unwrap_or_default().to_owned(),
                    history: strings(&e["history"]),
                    buffered_deps: strings(&e["buffered_deps"]),
                }),
                Some("acknowledged") => {
                    self.js_acked
                        .insert(e["id"].as_str().unwrap_or_default().to_owned());
                }
                Some("possibly_acknowledged") => self.js_possibly += 1,
                Some("ephemeral") => self.js_ephemeral.push(unb64(&e["content"])),
                Some("error") => panic!("the JS channel reported an error: {e}"),
                _ => {}
            }
        }
    }

    fn rs_events(&mut self) {
        for event in self.rs.take_events() {
            match event {
                Event::MessageSent { message_id, .. } => {
                    self.rs_acked.insert(message_id);
                }
                Event::PossiblyAcknowledged { .. } => self.rs_possibly += 1,
                Event::RepairReady { bytes, .. } => {
                    self.repairs_to_js += 1;
                    self.to_js.send(&mut self.rng, bytes, 0);
                }
                Event::Resend { bytes, .. } => {
                    self.resends_to_js += 1;
                    self.to_js.send(&mut self.rng, bytes, 0);
                }
                Event::MessageReady { message_id, .. } => {
                    let history = self
                        .js_histories
                        .get(&message_id)
                        .cloned()
                        .unwrap_or_default();
                    self.rs_delivered.push(Delivery {
                        id: message_id,
                        history,
                        buffered_deps: Vec::new(),
                    });
                }
                _ => {}
            }
        }
    }

    fn rs_send(&mut self, i: usize, loss: usize) {
        let id = format!("rs-{i}");
        let wire = self
            .rs
            .wrap(self.now, CHANNEL, &id, format!("from rs {i}").as_bytes())
            .expect("wrap");
        self.rs_sent.push(id);
        self.rs_events();
        self.to_js.send(&mut self.rng, wire, loss);
    }

    fn js_send(&mut self, i: usize, loss: usize) {
        let reply = self
            .js
            .call(json!({"op": "send", "payload": b64(format!("from js {i}").as_bytes())}));
        self.js_events(&reply);
        let wire = unb64(&reply["wire"]);
        let received = decode_received(&wire).expect("JS bytes decode");
        assert_eq!(received.format, WireFormat::Spec);
        let id = reply["id"].as_str().expect("id").to_owned();
        self.js_histories.insert(
            id.clone(),
            received
                .message
                .causal_history
                .iter()
                .map(|e| e.message_id.clone())
                .collect(),
        );
        self.js_sent.push(id);
        self.to_rs.send(&mut self.rng, wire, loss);
    }

    fn flush(&mut self) {
        for wire in self.to_js.take() {
            let received = decode_received(&wire).expect("libstorage bytes decode");
            assert_eq!(
                received.format,
                WireFormat::Spec,
                "sent in the spec dialect"
            );
            if !received.message.content.is_empty() && !received.is_ephemeral() {
                *self
                    .js_receipts
                    .entry(received.message.message_id.clone())
                    .or_default() += 1;
            }
            let reply = self.js.call(json!({"op": "recv", "wire": b64(&wire)}));
            self.js_events(&reply);
        }
        for wire in self.to_rs.take() {
            let result = self.rs.unwrap(self.now, &wire).expect("JS bytes unwrap");
            match result.status {
                UnwrapStatus::Ephemeral => self.rs_ephemeral.push(result.content),
                UnwrapStatus::Sync => self.syncs_to_rs += 1,
                _ => {}
            }
            self.rs_events();
        }
    }

    /// Both sides send `n` messages each, interleaved, over a link losing `loss` percent.
    fn lossy_phase(&mut self, n: usize, loss: usize) {
        for i in 0..n {
            self.now += 10;
            self.rs_send(i, loss);
            self.js_send(i, loss);
            if self.rng.below(3) == 0 {
                self.flush();
            }
        }
        self.flush();
    }

    fn complete(&self) -> bool {
        let rs: HashSet<&str> = self.rs_delivered.iter().map(|d| d.id.as_str()).collect();
        let js: HashSet<&str> = self.js_delivered.iter().map(|d| d.id.as_str()).collect();
        self.js_sent.iter().all(|id| rs.contains(id.as_str()))
            && self.rs_sent.iter().all(|id| js.contains(id.as_str()))
            && self.rs_sent.iter().all(|id| self.rs_acked.contains(id))
            && self.js_sent.iter().all(|id| self.js_acked.contains(id))
    }

    /// Lossless rounds of sync messages and the run's recovery (SDS-R repairs or resends)
    /// until both sides hold and acknowledge everything, or `max_rounds` pass. Returns the
    /// rounds it took.
    fn recover(&mut self, max_rounds: usize) -> usize {
        for round in 0..max_rounds {
            if self.complete() {
                return round;
            }
            self.now += 61_000;
            self.rs.sweep_outgoing(self.now);
            self.rs.sweep_repair(self.now);
            self.rs_events();
            // Repair requests the sweep (re)queued fall due within T_max: send after it.
            self.now += REPAIR_T_MAX_MS;
            let sync = self.rs.build_sync_message(self.now, CHANNEL).expect("sync");
            self.syncs_to_js += 1;
            self.to_js.send(&mut self.rng, sync, 0);
            let reply = self.js.call(json!({"op": "sync"}));
            self.js_events(&reply);
            if let Some(wire) = reply["wire"].as_str() {
                self.to_rs.send(&mut self.rng, unb64(&json!(wire)), 0);
            }
            // The JS application's side of recovery: due SDS-R responses, or resending
            // what its sweep reports unacknowledged (@waku/sds has no resend timer).
            let op = match self.recovery {
                Recovery::Repair => "repairs",
                Recovery::Resend => "resend",
            };
            let reply = self.js.call(json!({ "op": op }));
            self.js_events(&reply);
            for wire in reply["wires"].as_array().into_iter().flatten() {
                match self.recovery {
                    Recovery::Repair => self.repairs_to_rs += 1,
                    Recovery::Resend => self.resends_to_rs += 1,
                }
                self.to_rs.send(&mut self.rng, unb64(wire), 0);
            }
            self.flush();
        }
        max_rounds
    }

    fn summary(&self, rounds: usize) -> String {
        format!(
            "dropped {}→js {}→rs, overtaken {}→js {}→rs, rounds {rounds}, syncs {}→js {}→rs, \
             repairs {}→js {}→rs, resends {}→js {}→rs, possibly acked rs {} js {}, \
             JS early deliveries {}, JS repeated deliveries {}",
            self.to_js.dropped,
            self.to_rs.dropped,
            self.to_js.overtaken,
            self.to_rs.overtaken,
            self.syncs_to_js,
            self.syncs_to_rs,
            self.repairs_to_js,
            self.repairs_to_rs,
            self.resends_to_js,
            self.resends_to_rs,
            self.rs_possibly,
            self.js_possibly,
            self.js_delivered
                .iter()
                .filter(|d| !d.buffered_deps.is_empty())
                .count(),
            self.js_delivered.len().saturating_sub(self.rs_sent.len()),
        )
    }

    fn check(&self) {
        check_libstorage(&self.rs_delivered, &self.js_sent, &self.rs_sent);
        check_waku_sds(
            &self.js_delivered,
            &self.rs_sent,
            &self.js_sent,
            &self.js_receipts,
        );
        for id in &self.rs_sent {
            assert!(
                self.rs_acked.contains(id),
                "libstorage: {id} never acknowledged"
            );
        }
        for id in &self.js_sent {
            assert!(
                self.js_acked.contains(id),
                "@waku/sds: {id} never acknowledged"
            );
        }
    }
}

/// libstorage: every message of the peer delivered exactly once, each after all its causal
/// dependencies (its own messages count as delivered from the start), nothing else.
fn check_libstorage(delivered: &[Delivery], peer_sent: &[String], own: &[String]) {
    let mut seen: HashSet<&str> = own.iter().map(String::as_str).collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for d in delivered {
        *count.entry(d.id.as_str()).or_default() += 1;
        for dep in &d.history {
            assert!(
                seen.contains(dep.as_str()),
                "libstorage: {} delivered before its dependency {dep}",
                d.id
            );
        }
        seen.insert(d.id.as_str());
    }
    for id in peer_sent {
        assert_eq!(
            count.get(id.as_str()),
            Some(&1),
            "libstorage: {id} delivered once"
        );
    }
    assert_eq!(
        delivered.len(),
        peer_sent.len(),
        "libstorage: nothing else delivered"
    );
}

/// `@waku/sds`: every message of the peer delivered, first time exactly once; a repeated
/// `message-delivered` only for a copy received again (at most one per extra copy); each
/// delivery after its dependencies, except those still in the JS incoming buffer (which
/// `@waku/sds` counts as available, see DIFFERENCES.md), and those are delivered later.
fn check_waku_sds(
    delivered: &[Delivery],
    peer_sent: &[String],
    own: &[String],
    receipts: &HashMap<String, usize>,
) {
    let mut seen: HashSet<&str> = own.iter().map(String::as_str).collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    let mut owed: HashSet<&str> = HashSet::new();
    for d in delivered {
        *count.entry(d.id.as_str()).or_default() += 1;
        if seen.contains(d.id.as_str()) {
            continue; // a repeated delivery, counted above
        }
        for dep in &d.history {
            if seen.contains(dep.as_str()) {
                continue;
            }
            assert!(
                d.buffered_deps.contains(dep),
                "@waku/sds: {} delivered before its dependency {dep}, which it had not received",
                d.id
            );
            owed.insert(dep.as_str());
        }
        seen.insert(d.id.as_str());
    }
    for id in owed {
        assert!(
            seen.contains(id),
            "@waku/sds: buffered dependency {id} never delivered"
        );
    }
    for id in peer_sent {
        let n = count.get(id.as_str()).copied().unwrap_or(0);
        let copies = receipts.get(id).copied().unwrap_or(0);
        assert!(
            n >= 1 && n <= copies,
            "@waku/sds: {id} delivered {n} times from {copies} copies"
        );
    }
    let ours: HashSet<&str> = peer_sent.iter().map(String::as_str).collect();
    for d in delivered {
        assert!(
            ours.contains(d.id.as_str()),
            "@waku/sds: delivered {}, which nobody sent",
            d.id
        );
    }
}

#[test]
fn repair_fills_gaps_both_ways() {
    let mut run = Run::new(7, Recovery::Repair);
    run.lossy_phase(30, 25);
    assert!(
        run.to_js.dropped > 0 && run.to_rs.dropped > 0,
        "the seed loses both ways"
    );
    let rounds = run.recover(20);
    eprintln!("repair: {}", run.summary(rounds));
    run.check();
    assert!(run.repairs_to_js > 0, "libstorage answered repair requests");
    assert!(run.repairs_to_rs > 0, "@waku/sds answered repair requests");
    assert_eq!(run.resends_to_js + run.resends_to_rs, 0, "resends are off");
    assert!(
        run.to_js.overtaken > 0 && run.to_rs.overtaken > 0,
        "reordered both ways"
    );
    assert!(run.syncs_to_rs > 0, "JS sync messages reached libstorage");
    assert!(
        run.rs_possibly > 0 && run.js_possibly > 0,
        "bloom filters acknowledge both ways"
    );
}

#[test]
fn resends_fill_gaps_both_ways() {
    let mut run = Run::new(11, Recovery::Resend);
    run.lossy_phase(30, 25);
    assert!(
        run.to_js.dropped > 0 && run.to_rs.dropped > 0,
        "the seed loses both ways"
    );
    let rounds = run.recover(20);
    eprintln!("resend: {}", run.summary(rounds));
    run.check();
    assert!(run.resends_to_js > 0 && run.resends_to_rs > 0);
    assert_eq!(run.repairs_to_js + run.repairs_to_rs, 0, "SDS-R is off");
    assert!(
        run.to_js.overtaken > 0 && run.to_rs.overtaken > 0,
        "reordered both ways"
    );
}

#[test]
fn ephemeral_messages_cross_both_ways() {
    let mut run = Run::new(3, Recovery::Repair);
    let wire = run
        .rs
        .wrap_ephemeral(CHANNEL, "e-rs", b"typing...")
        .expect("ephemeral");
    run.to_js.send(&mut run.rng, wire, 0);
    let reply = run
        .js
        .call(json!({"op": "ephemeral", "payload": b64(b"js typing")}));
    run.to_rs.send(&mut run.rng, unb64(&reply["wire"]), 0);
    run.flush();
    assert_eq!(run.js_ephemeral, vec![b"typing...".to_vec()]);
    assert_eq!(run.rs_ephemeral, vec![b"js typing".to_vec()]);
    assert!(run.rs_delivered.is_empty() && run.js_delivered.is_empty());
}

/// Pins a departure of `@waku/sds` from causal order (DIFFERENCES.md): it counts a
/// message sitting in its incoming buffer as available, so a message depending on it is
/// delivered first. libstorage, given the same arrivals, delivers in causal order.
#[test]
fn waku_sds_may_deliver_before_a_buffered_dependency() {
    let mut run = Run::new(1, Recovery::Repair);
    let mut wires = Vec::new();
    for i in 0..3 {
        run.now += 10;
        let id = format!("rs-{i}");
        let wire = run
            .rs
            .wrap(run.now, CHANNEL, &id, id.as_bytes())
            .expect("wrap");
        wires.push(wire);
    }
    // rs-2 (history rs-0, rs-1), then rs-1 (history rs-0), then rs-0.
    for wire in wires.iter().rev() {
        let reply = run.js.call(json!({"op": "recv", "wire": b64(wire)}));
        run.js_events(&reply);
    }
    let order: Vec<&str> = run.js_delivered.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(order, ["rs-0", "rs-2", "rs-1"]);
    assert_eq!(run.js_delivered[1].buffered_deps, ["rs-1"]);

    let mut peer = Manager::new(ProtocolConfig {
        participant_id: "peer".into(),
        wire_format: WireFormat::Spec,
        ..ProtocolConfig::default()
    })
    .expect("valid config");
    for wire in wires.iter().rev() {
        peer.unwrap(run.now, wire).expect("unwrap");
    }
    let order: Vec<String> = peer
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::MessageReady { message_id, .. } => Some(message_id),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["rs-0", "rs-1", "rs-2"]);
}

/// Pins the other departure: a resent copy of a message `@waku/sds` delivered at once is
/// delivered again (an application must deduplicate by id); libstorage reports it as a
/// duplicate.
#[test]
fn waku_sds_delivers_a_resent_copy_again() {
    let mut run = Run::new(2, Recovery::Resend);
    run.now += 10;
    let wire = run.rs.wrap(run.now, CHANNEL, "rs-0", b"x").expect("wrap");
    for _ in 0..2 {
        let reply = run.js.call(json!({"op": "recv", "wire": b64(&wire)}));
        run.js_events(&reply);
    }
    let order: Vec<&str> = run.js_delivered.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(order, ["rs-0", "rs-0"]);

    let reply = run
        .js
        .call(json!({"op": "send", "payload": b64(b"from js")}));
    let js_wire = unb64(&reply["wire"]);
    assert_eq!(
        run.rs.unwrap(run.now, &js_wire).expect("unwrap").status,
        UnwrapStatus::Delivered
    );
    assert_eq!(
        run.rs.unwrap(run.now, &js_wire).expect("unwrap").status,
        UnwrapStatus::Duplicate
    );
}
