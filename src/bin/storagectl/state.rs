//! `storagectl state inspect`: what a state database (the SQLite persistence backend's)
//! holds per channel, read through the library's own read-only inspection, which never
//! creates, migrates or writes the file.

use std::path::Path;

use storage::persistence::sqlite::{
    inspect as read_state, ChannelState, StateCounts, StateSummary,
};

use crate::time::format_ns;
use crate::Outcome;

/// `storagectl state inspect`: every channel's counts, or one channel in detail.
pub fn inspect(db: &Path, channel: Option<&str>, json: bool) -> Outcome {
    let mut summary = match read_state(db) {
        Ok(summary) => summary,
        Err(e) => return Outcome::Unreadable(e.to_string()),
    };
    if let Some(id) = channel {
        summary.channels.retain(|c| c.channel_id == id);
        if summary.channels.is_empty() {
            return Outcome::Unreadable(format!(
                "{}: no channel `{}` in the database",
                db.display(),
                shown(id)
            ));
        }
    }
    // Damage of what is shown: the file's structure, or the rows of the channels listed.
    let damaged =
        summary.integrity != "ok" || summary.channels.iter().any(|c| !c.damaged.is_empty());
    if json {
        match serde_json::to_string(&summary) {
            Ok(doc) => println!("{doc}"),
            Err(e) => return Outcome::Unreadable(e.to_string()),
        }
    } else {
        print_header(&summary);
        match channel {
            Some(_) => summary.channels.iter().for_each(print_channel),
            None => print_table(&summary),
        }
        print_damage(&summary);
    }
    if damaged {
        Outcome::Damaged
    } else {
        Outcome::Ok
    }
}

fn print_header(summary: &StateSummary) {
    println!(
        "state database {} (schema version {}, integrity {})",
        summary.path, summary.schema_version, summary.integrity
    );
    if summary.schema_version < storage::persistence::sqlite_schema_version() {
        println!(
            "  an older schema: read as it is; the library migrates it when a context opens it"
        );
    }
}

/// One line per channel, then the totals.
fn print_table(summary: &StateSummary) {
    let ids: Vec<String> = summary
        .channels
        .iter()
        .map(|c| shown(&c.channel_id))
        .collect();
    let clocks: Vec<String> = summary.channels.iter().map(lamport).collect();
    let total = format!("total ({} channels)", summary.channels.len());
    let width = |column: &[String], least: usize| {
        column
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
            .max(least)
    };
    let (w, l) = (width(&ids, total.len()), width(&clocks, 7));
    println!(
        "{:<w$} {:>l$} {:>8} {:>10} {:>8} {:>8} {:>10} {:>9} {:>7} {:>7}",
        "CHANNEL",
        "LAMPORT",
        "HISTORY",
        "BYTES",
        "OUTGOING",
        "INCOMING",
        "OUT-REPAIR",
        "IN-REPAIR",
        "MET-IDS",
        "DAMAGED"
    );
    let line = |name: &str, lamport: &str, c: &StateCounts| {
        println!(
            "{name:<w$} {lamport:>l$} {:>8} {:>10} {:>8} {:>8} {:>10} {:>9} {:>7} {:>7}",
            c.history_messages,
            c.history_bytes,
            c.outgoing,
            c.incoming,
            c.outgoing_repair,
            c.incoming_repair,
            c.met_ids,
            c.damaged_rows
        );
    };
    for ((id, clock), channel) in ids.iter().zip(&clocks).zip(&summary.channels) {
        line(id, clock, &channel.counts);
    }
    line(&total, "-", &summary.totals);
}

fn lamport(channel: &ChannelState) -> String {
    channel
        .lamport_clock
        .map_or_else(|| "-".to_owned(), |l| l.to_string())
}

/// One channel in detail: every buffered id with its size and times.
fn print_channel(c: &ChannelState) {
    let n = &c.counts;
    println!("channel {}", shown(&c.channel_id));
    println!("  lamport clock: {}", lamport(c));
    println!(
        "  history: {} messages, {} bytes; {} retrieval hints",
        n.history_messages, n.history_bytes, n.retrieval_hints
    );
    println!("  outgoing, unacknowledged: {}", n.outgoing);
    for o in &c.outgoing {
        println!(
            "    {}  lamport {}, {} bytes, sent {}, {} resends, {} bloom hits",
            shown(&o.message_id),
            o.lamport_timestamp,
            o.content_bytes,
            at_ms(o.send_time_ms),
            o.resend_attempts,
            o.bloom_hits
        );
    }
    println!("  incoming, waiting for dependencies: {}", n.incoming);
    for i in &c.incoming {
        let missing: Vec<String> = i.missing_deps.iter().map(|d| shown(d)).collect();
        println!(
            "    {}  from {}, lamport {}, {} bytes, received {}, missing {}",
            shown(&i.message_id),
            shown(&i.sender_id),
            i.lamport_timestamp,
            i.content_bytes,
            at_ms(i.received_at_ms),
            missing.join(" ")
        );
    }
    for (title, count, repairs) in [
        ("outgoing repairs", n.outgoing_repair, &c.outgoing_repair),
        ("incoming repairs", n.incoming_repair, &c.incoming_repair),
    ] {
        println!("  {title}: {count}");
        for r in repairs {
            let cached = r
                .cached_bytes
                .map_or_else(String::new, |b| format!(", {b} bytes cached"));
            println!(
                "    {}  sender {}, due {}{cached}",
                shown(&r.message_id),
                shown(&r.sender_id),
                at_ms(r.due_ms)
            );
        }
    }
    println!("  met ids: {}", n.met_ids);
    for id in &c.met_ids {
        println!("    {}", shown(id));
    }
}

/// Every damaged row of the channels shown, and the file's own damage.
fn print_damage(summary: &StateSummary) {
    if summary.integrity != "ok" {
        println!("damaged: the file's structure: {}", summary.integrity);
    }
    for c in &summary.channels {
        for d in &c.damaged {
            let row = match &d.message_id {
                Some(id) => format!("message `{}`", shown(id)),
                None => "the header".to_owned(),
            };
            println!(
                "damaged: channel `{}`, `{}` row of {row}: {}",
                shown(&c.channel_id),
                d.table,
                d.problem
            );
        }
    }
}

/// A Unix ms time as RFC 3339; `-` for 0 (not stored).
fn at_ms(ms: u64) -> String {
    if ms == 0 {
        "-".to_owned()
    } else {
        format_ns(ms.saturating_mul(1_000_000))
    }
}

/// An id as printed: control characters escaped, so a stored id cannot forge lines.
fn shown(id: &str) -> String {
    if id.chars().any(char::is_control) {
        id.escape_debug().to_string()
    } else {
        id.to_owned()
    }
}
