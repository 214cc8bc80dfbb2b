//! libstorage against the real js-waku `@waku/sds` 0.0.8: a `Manager` speaking the spec
//! dialect and a JS `MessageChannel` (`tests/js-interop/harness.mjs`, run by `node`)
//! exchange messages over a seeded lossy, reordering "network", both directions. Checks:
//! every content message is delivered exactly once on each side, in causal order; every
//! message ends acknowledged on both sides; lost messages are recovered by SDS-R repair
//! (resends off) or by resends (repair off); ephemeral messages cross both ways.
//!
//! `make js-interop-test` installs the JS package (`npm ci`) and runs this test. Without
//! `tests/js-interop/node_modules` (or without `node`) the test says it is skipped.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use storage::protocol::{
    decode_received, Event, Manager, ProtocolConfig, UnwrapStatus, WireFormat,
};

const CHANNEL: &str = "room";

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js-interop")
}

/// The node process running the harness.
struct Js {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Js {
    fn start() -> Option<Self> {
        let dir = harness_dir();
        if !dir.join("node_modules/@waku/sds/package.json").exists() {
            eprintln!("skipped: run `make js-interop-test` (npm ci in tests/js-interop) first");
            return None;
        }
        let mut child = match Command::new("node")
            .arg("harness.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                eprintln!("skipped: cannot run node: {e}");
                return None;
            }
        };
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut js = Js {
            child,
            stdin,
            stdout,
        };
        js.call(json!({"op": "init", "channel": CHANNEL, "sender": "js"}));
        Some(js)
    }

    fn call(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").expect("write to node");
        self.stdin.flush().expect("flush to node");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from node");
        let reply: Value = serde_json::from_str(&line).expect("harness replies JSON");
        assert!(reply.get("failed").is_none(), "harness failed: {reply}");
        reply
    }
}

impl Drop for Js {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"op": "quit"}));
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
    in_flight: Vec<Vec<u8>>,
    dropped: usize,
}

impl Link {
    fn send(&mut self, rng: &mut Rng, bytes: Vec<u8>, loss_percent: usize) {
        if rng.below(100) < loss_percent {
            self.dropped += 1;
            return;
        }
        let at = rng.below(self.in_flight.len() + 1);
        self.in_flight.insert(at, bytes);
    }

    fn take(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.in_flight)
    }
}

/// A delivery seen by one side: the id and the causal history it carried.
struct Delivery {
    id: String,
    history: Vec<String>,
}

/// Everything each side did, for the checks at the end.
struct Run {
    rs: Manager,
    js: Js,
    rng: Rng,
    now: u64,
    to_js: Link,
    to_rs: Link,
    rs_sent: Vec<String>,
    js_sent: Vec<String>,
    rs_delivered: Vec<Delivery>,
    js_delivered: Vec<Delivery>,
    rs_acked: HashSet<String>,
    js_acked: HashSet<String>,
    rs_possibly: usize,
    js_possibly: usize,
    rs_ephemeral: Vec<Vec<u8>>,
    js_ephemeral: Vec<Vec<u8>>,
    /// Causal history of every message the JS side sent, by id.
    js_histories: HashMap<String, Vec<String>>,
    repairs_to_js: usize,
    repairs_to_rs: usize,
    resends_to_js: usize,
    resends_to_rs: usize,
}

impl Run {
    fn new(seed: u64, tweak: impl FnOnce(&mut ProtocolConfig)) -> Option<Self> {
        let js = Js::start()?;
        let mut config = ProtocolConfig {
            participant_id: "rs".into(),
            wire_format: WireFormat::Spec,
            repair_t_min_ms: 0,
            repair_t_max_ms: 1000,
            ..ProtocolConfig::default()
        };
        tweak(&mut config);
        // The JS side stamps Lamport times with Date.now(); start the injected clock there.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis() as u64;
        Some(Run {
            rs: Manager::new(config).expect("valid config"),
            js,
            rng: Rng(seed),
            now,
            to_js: Link::default(),
            to_rs: Link::default(),
            rs_sent: Vec::new(),
            js_sent: Vec::new(),
            rs_delivered: Vec::new(),
            js_delivered: Vec::new(),
            rs_acked: HashSet::new(),
            js_acked: HashSet::new(),
            rs_possibly: 0,
            js_possibly: 0,
            rs_ephemeral: Vec::new(),
            js_ephemeral: Vec::new(),
            js_histories: HashMap::new(),
            repairs_to_js: 0,
            repairs_to_rs: 0,
            resends_to_js: 0,
            resends_to_rs: 0,
        })
    }

    fn js_events(&mut self, reply: &Value) {
        for e in reply["events"].as_array().into_iter().flatten() {
            match e["type"].as_str() {
                Some("delivered") => self.js_delivered.push(Delivery {
                    id: e["id"].as_str().unwrap_or_default().to_owned(),
                    history: e["history"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|h| h.as_str().map(str::to_owned))
                        .collect(),
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
            let reply = self.js.call(json!({"op": "recv", "wire": b64(&wire)}));
            self.js_events(&reply);
        }
        for wire in self.to_rs.take() {
            let result = self.rs.unwrap(self.now, &wire).expect("JS bytes unwrap");
            if result.status == UnwrapStatus::Ephemeral {
                self.rs_ephemeral.push(result.content);
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

    /// Lossless rounds of sync messages, SDS-R repair and resends until both sides hold
    /// and acknowledge everything (or `max_rounds` pass).
    fn recover(&mut self, max_rounds: usize) -> usize {
        for round in 0..max_rounds {
            if self.complete() {
                return round;
            }
            self.now += 61_000;
            self.rs.sweep_outgoing(self.now);
            self.rs.sweep_repair(self.now);
            self.rs_events();
            let sync = self.rs.build_sync_message(self.now, CHANNEL).expect("sync");
            self.to_js.send(&mut self.rng, sync, 0);
            let reply = self.js.call(json!({"op": "sync"}));
            self.js_events(&reply);
            if let Some(wire) = reply["wire"].as_str() {
                self.to_rs.send(&mut self.rng, unb64(&json!(wire)), 0);
            }
            for op in ["repairs", "resend"] {
                let reply = self.js.call(json!({ "op": op }));
                self.js_events(&reply);
                for wire in reply["wires"].as_array().into_iter().flatten() {
                    if op == "repairs" {
                        self.repairs_to_rs += 1;
                    } else {
                        self.resends_to_rs += 1;
                    }
                    self.to_rs.send(&mut self.rng, unb64(wire), 0);
                }
            }
            self.flush();
        }
        max_rounds
    }

    fn check(&self) {
        check_side(
            "libstorage",
            &self.rs_delivered,
            &self.js_sent,
            &self.rs_sent,
        );
        check_side(
            "@waku/sds",
            &self.js_delivered,
            &self.rs_sent,
            &self.js_sent,
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

/// Every message of the peer delivered exactly once, each after all its causal
/// dependencies (the side's own messages count as delivered from the start).
fn check_side(side: &str, delivered: &[Delivery], peer_sent: &[String], own: &[String]) {
    let mut seen: HashSet<&str> = own.iter().map(String::as_str).collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for d in delivered {
        *count.entry(d.id.as_str()).or_default() += 1;
        for dep in &d.history {
            assert!(
                seen.contains(dep.as_str()),
                "{side}: {} delivered before its dependency {dep}",
                d.id
            );
        }
        seen.insert(d.id.as_str());
    }
    for id in peer_sent {
        assert_eq!(
            count.get(id.as_str()),
            Some(&1),
            "{side}: {id} delivered once"
        );
    }
    assert_eq!(
        delivered.len(),
        peer_sent.len(),
        "{side}: nothing else delivered"
    );
}

#[test]
#[ignore = "the live @waku/sds exchange does not finish yet (issue 14 open)"]
fn repair_fills_gaps_both_ways() {
    // Resends off: only SDS-R (and syncs revealing what is missing) can recover losses.
    let Some(mut run) = Run::new(7, |c| c.resend_interval_ms = u64::MAX / 4) else {
        return;
    };
    run.lossy_phase(30, 25);
    assert!(
        run.to_js.dropped > 0 && run.to_rs.dropped > 0,
        "the seed loses both ways"
    );
    // The JS app in this scenario never resends: drop its resend op by acknowledging
    // through sync messages only is not possible, so count its resends instead.
    let rounds = run.recover(40);
    eprintln!(
        "repair: dropped {}→js {}→rs, rounds {rounds}, repairs {}→js {}→rs, resends {}→js {}→rs, possibly acked rs {} js {}",
        run.to_js.dropped,
        run.to_rs.dropped,
        run.repairs_to_js,
        run.repairs_to_rs,
        run.resends_to_js,
        run.resends_to_rs,
        run.rs_possibly,
        run.js_possibly
    );
    run.check();
    assert!(run.repairs_to_js > 0, "libstorage answered repair requests");
    assert_eq!(run.resends_to_js, 0, "libstorage resends are off");
}

#[test]
#[ignore = "the live @waku/sds exchange does not finish yet (issue 14 open)"]
fn resends_fill_gaps_both_ways() {
    // SDS-R off on the libstorage side (no participant id): resends recover losses.
    let Some(mut run) = Run::new(11, |c| c.participant_id = String::new()) else {
        return;
    };
    run.lossy_phase(30, 25);
    let rounds = run.recover(40);
    eprintln!(
        "resend: dropped {}→js {}→rs, rounds {rounds}, resends {}→js {}→rs",
        run.to_js.dropped, run.to_rs.dropped, run.resends_to_js, run.resends_to_rs
    );
    run.check();
    assert!(run.resends_to_js > 0 && run.resends_to_rs > 0);
    assert_eq!(run.repairs_to_js, 0);
}

#[test]
#[ignore = "the live @waku/sds exchange does not finish yet (issue 14 open)"]
fn ephemeral_messages_cross_both_ways() {
    let Some(mut run) = Run::new(3, |_| {}) else {
        return;
    };
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
