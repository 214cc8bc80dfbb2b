//! Hostile floods against one context, each in a fresh process, reporting peak RSS against
//! the configured memory budget (not a timed test: `cargo bench --bench flood`).
//!
//! The six scenarios are those of issue 11: what one attacker on a channel can send with
//! nothing but unwrap. Each runs through the runtime (`Context`: request queue, worker,
//! persistence layer, events), as `storage_unwrap` does minus the C copy; the host
//! consumes events as they come. Printed per scenario: messages sent, accepted, refused,
//! the context's charged memory at the end, the budget, the process's peak RSS, and the
//! worker time per message.

#[path = "../tests/common/contexts.rs"]
mod contexts;
#[path = "../tests/common/messages.rs"]
mod messages;

use std::process::Command;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use contexts::{reply, NoEvents};
use messages::{entries, sds_message};
use storage::protocol::{self, ChannelStats, SdsMessage, Unwrapped};
use storage::runtime::{Context, ContextConfig, Request, RequestError, SystemClock};

const WAIT: Duration = Duration::from_secs(600);

struct Flood {
    context: Context,
    /// Time spent waiting for unwraps to be answered (what the worker spends on them).
    busy: Duration,
    sent: u64,
    accepted: u64,
    refused: u64,
    last_channel: String,
}

impl Flood {
    fn new(config: &str) -> Self {
        let config = ContextConfig::from_json(config).expect("config");
        let context = Context::start(config, Arc::new(SystemClock), Box::new(NoEvents))
            .expect("context starts");
        Self {
            context,
            busy: Duration::ZERO,
            sent: 0,
            accepted: 0,
            refused: 0,
            last_channel: String::new(),
        }
    }

    fn unwrap(&mut self, bytes: Vec<u8>) -> Option<Unwrapped> {
        let started = Instant::now();
        let (reply, rx) = reply();
        self.context.submit(Request::Unwrap { bytes, reply });
        self.sent += 1;
        let answer = answer(rx);
        self.busy += started.elapsed();
        match answer {
            Ok(u) => {
                self.accepted += 1;
                self.last_channel.clone_from(&u.channel_id);
                Some(u)
            }
            Err(_) => {
                self.refused += 1;
                None
            }
        }
    }

    fn stats(&self, channel: &str) -> Option<ChannelStats> {
        let (reply, rx) = reply();
        let channel_id = channel.into();
        self.context
            .submit(Request::ChannelStats { channel_id, reply });
        answer(rx).ok().flatten()
    }

    fn report(&self, name: &str, budget: u64) {
        let stats = self.stats(&self.last_channel);
        let charged = stats
            .as_ref()
            .map_or(0, |s| s.manager_memory.total() as u64);
        let per_message = self.busy.as_secs_f64() * 1e6 / self.sent.max(1) as f64;
        println!(
            "{name:<58} sent {:>6}  accepted {:>6}  refused {:>6}  charged {:>6.1} MiB  budget {:>6.1} MiB  peak RSS {:>6.1} MiB  {:>8.1} us/unwrap",
            self.sent,
            self.accepted,
            self.refused,
            mib(charged),
            mib(budget),
            mib(peak_rss()),
            per_message,
        );
        if let Some(s) = stats {
            println!(
                "{:<58} lamport clock of `{}`: {}",
                "", self.last_channel, s.lamport_timestamp
            );
        }
    }
}

fn answer<T>(rx: Receiver<Result<T, RequestError>>) -> Result<T, RequestError> {
    rx.recv_timeout(WAIT).expect("answered")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The process's peak resident set (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn message(
    channel: &str,
    id: &str,
    deps: &[String],
    repairs: &[String],
    content: &[u8],
) -> Vec<u8> {
    protocol::encode_message(&SdsMessage {
        causal_history: entries(deps),
        sender_id: "attacker".into(),
        repair_request: entries(repairs),
        ..sds_message(channel, id, 1, content)
    })
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:x}")).collect()
}

const DEFAULT_BUDGET: u64 = 256 << 20;

fn scenario(n: u32) {
    match n {
        1 => {
            let mut f = Flood::new(r#"{"participant_id": "victim"}"#);
            let content = vec![0x5a; 1024 * 1024 - 256];
            for i in 0..4000 {
                let channel = format!("ch-{}", i % 2000);
                f.unwrap(message(
                    &channel,
                    &format!("m{i}"),
                    &[format!("never{i}")],
                    &[],
                    &content,
                ));
            }
            f.report(
                "1 MiB messages, one missing dep each, 2000 channels",
                DEFAULT_BUDGET,
            );
        }
        2 => {
            let budget = 400u64 << 20;
            let mut f = Flood::new(&format!(
                r#"{{"participant_id": "victim", "max_channels": 100,
                    "max_incoming_buffer_bytes": 4194304, "memory_budget_bytes": {budget},
                    "max_received_causal_history": 20000}}"#
            ));
            for i in 0..2000 {
                let channel = format!("ch-{}", i % 100);
                let deps = ids(&format!("d{i}-"), 20_000);
                f.unwrap(message(&channel, &format!("m{i}"), &deps, &[], b"x"));
            }
            f.report(
                "small messages naming 20 000 missing deps (cap raised)",
                budget,
            );
        }
        3 => {
            let budget = 64u64 << 20;
            let mut f = Flood::new(&format!(
                r#"{{"participant_id": "victim", "max_channels": 10,
                    "max_history_bytes": 4194304, "memory_budget_bytes": {budget},
                    "max_received_causal_history": 100000, "max_received_repair_requests": 5000,
                    "max_message_history": 100000}}"#
            ));
            // Delivered: the 100 000 entries all name one message every channel holds.
            let wide = vec!["known".to_owned(); 100_000];
            let repairs = ids("r", 5000);
            for c in 0..10 {
                f.unwrap(message(&format!("ch-{c}"), "known", &[], &[], b"k"));
            }
            for i in 0..300 {
                let channel = format!("ch-{}", i % 10);
                if i % 2 == 0 {
                    f.unwrap(message(&channel, &format!("m{i}"), &wide, &[], b"x"));
                } else {
                    f.unwrap(message(&channel, &format!("m{i}"), &[], &repairs, b"x"));
                }
            }
            f.report(
                "delivered: 100 000 history entries / 5 000 repair requests",
                budget,
            );
        }
        4 => {
            let mut f = Flood::new(r#"{"participant_id": "victim"}"#);
            let deps = ids("", 360_000);
            f.unwrap(message("room", "first", &[], &[], b"x"));
            let bytes = message("room", "huge", &deps, &[], b"x");
            assert!(bytes.len() < 4 * 1024 * 1024, "{} bytes", bytes.len());
            for _ in 0..200 {
                f.unwrap(bytes.clone());
            }
            f.report(
                "3.x MB messages with 360 000 causal-history entries",
                DEFAULT_BUDGET,
            );
        }
        5 => {
            let n = 160_000;
            let mut f = Flood::new(&format!(
                r#"{{"participant_id": "victim", "max_received_causal_history": {n},
                    "max_incoming_buffer_bytes": 268435456, "memory_budget_bytes": 1073741824}}"#
            ));
            let deps = ids("d", n);
            f.unwrap(message("room", "waiter", &deps, &[], b"late"));
            for dep in &deps {
                f.unwrap(message("room", dep, &[], &[], b"d"));
            }
            f.report(
                "a message naming 160 000 deps, then the deps one by one",
                1 << 30,
            );
        }
        6 => {
            let mut f = Flood::new(r#"{"participant_id": "victim"}"#);
            let poison =
                "0a046576696c10ffffffffffffffff7f2204726f6f6d2a01783a046576696c".to_owned();
            let bytes = (0..poison.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&poison[i..i + 2], 16).expect("hex"))
                .collect();
            f.unwrap(bytes);
            f.report(
                "one 31-byte message with Lamport timestamp i64::MAX",
                DEFAULT_BUDGET,
            );
        }
        7 => {
            let mut f = Flood::new(r#"{"participant_id": "victim"}"#);
            for i in 0..20_000 {
                let channel = format!("ch-{}", i % 100);
                let deps = ids(&format!("d{i}-"), 1000);
                f.unwrap(message(&channel, &format!("m{i}"), &deps, &[], b"x"));
            }
            f.report(
                "(2b) small messages naming 1 000 missing deps, defaults",
                DEFAULT_BUDGET,
            );
        }
        _ => unreachable!("scenario {n}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--scenario") {
        let n = args
            .get(pos + 1)
            .and_then(|s| s.parse().ok())
            .expect("scenario number");
        scenario(n);
        return;
    }
    // `cargo test --benches` runs benches as tests: nothing to test here.
    if args.iter().any(|a| a == "--test" || a == "--list") || !args.iter().any(|a| a == "--bench") {
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    println!("flood: each scenario in a fresh process; peak RSS includes the process itself");
    for n in [1, 2, 7, 3, 4, 5, 6] {
        let status = Command::new(&exe)
            .args(["--scenario", &n.to_string()])
            .status()
            .expect("scenario runs");
        assert!(status.success(), "scenario {n} failed");
    }
}
