//! `storagectl messages` and `storagectl replay`: a recording's messages as JSON lines.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use clap::Args;
use serde_json::json;
use storage::recording::{ReplayOptions, ReplayReader, ReplayedMessage, Store};

use crate::time::parse_instant;
use crate::Outcome;

/// Which messages to print.
#[derive(Args)]
pub struct Filter {
    /// Only this channel (repeatable; default: all).
    #[arg(long = "channel", value_name = "ID")]
    include: Vec<String>,
    /// Never this channel (repeatable).
    #[arg(long = "exclude", value_name = "ID")]
    exclude: Vec<String>,
    /// Skip messages logged before this time (RFC 3339, or Unix ns).
    #[arg(long, value_parser = parse_instant)]
    since: Option<u64>,
    /// Skip messages logged after this time (RFC 3339, or Unix ns).
    #[arg(long, value_parser = parse_instant)]
    until: Option<u64>,
    /// Stop after this many messages.
    #[arg(long)]
    limit: Option<u64>,
}

/// Reads a replay speed factor: a finite number ≥ 0.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate >= 0.0 => Ok(rate),
        _ => Err("must be a number ≥ 0".to_owned()),
    }
}

/// Prints the messages `filter` keeps, at `rate` times their recorded pace (0: at once).
pub fn print(store: &Store, name: &str, filter: &Filter, rate: f64) -> Outcome {
    let options = ReplayOptions {
        include: (!filter.include.is_empty()).then(|| filter.include.clone()),
        exclude: filter.exclude.clone(),
        start_time_ns: filter.since,
        end_time_ns: filter.until,
        rate,
        ..ReplayOptions::default()
    };
    let reader = match store
        .existing(name)
        .and_then(|folder| ReplayReader::open(&folder, options.clone()))
    {
        Ok(reader) => reader,
        Err(e) => return Outcome::Unreadable(e.to_string()),
    };
    let started = Instant::now();
    let mut first_log_time = None;
    let mut out = io::stdout().lock();
    for message in reader.take(filter.limit.map_or(usize::MAX, |n| n as usize)) {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                let _ = out.flush();
                eprintln!("storagectl: reading stopped: {e}");
                return Outcome::Damaged;
            }
        };
        let first = *first_log_time.get_or_insert(message.log_time_ns);
        if let Some(due) = options.due_after_ns(message.log_time_ns.saturating_sub(first)) {
            let _ = out.flush();
            let due = Duration::from_nanos(due);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if writeln!(out, "{}", line(&message)).is_err() {
            // The reader went away (`| head`): not an error of the recording.
            return Outcome::Ok;
        }
    }
    let _ = out.flush();
    Outcome::Ok
}

/// One message as a JSON line: the fields of the `replay_message` event, plus the ids
/// of its causal history.
fn line(m: &ReplayedMessage) -> serde_json::Value {
    let history: Vec<&str> = m
        .message
        .causal_history
        .iter()
        .map(|h| h.message_id.as_str())
        .collect();
    json!({
        "channelId": m.channel_id,
        "messageId": m.message.message_id,
        "senderId": m.message.sender_id,
        "lamportTimestamp": m.message.lamport_timestamp,
        "causalHistory": history,
        "content": BASE64.encode(&m.message.content),
        "logTimeNs": m.log_time_ns,
    })
}
