//! The commands on whole recordings: list, verify, show, audit.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use storage::recording::{
    audit_query, verify_anchored, AuditQuery, AuditRecord, ListedRecording, Manifest,
    ReplayOptions, ReplayReader, Store, VerifyReport,
};

use crate::time::format_ns;
use crate::Outcome;

/// `storagectl list`.
pub fn list(store: &Store, json: bool) -> Outcome {
    let listed = match store.list() {
        Ok(listed) => listed,
        Err(e) => return Outcome::Unreadable(e.to_string()),
    };
    if json {
        println!("{}", json!({ "recordings": listed }));
        return Outcome::Ok;
    }
    println!(
        "{:<24} {:<10} {:>6} {:>10} {:<30} {:<30} {:>10} {:<14}  STATE",
        "NAME", "MODE", "CHUNKS", "MESSAGES", "START", "END", "SIZE", "UPLOADED"
    );
    for recording in &listed {
        let state = state(recording);
        match &recording.manifest {
            Some(m) => println!(
                "{:<24} {:<10} {:>6} {:>10} {:<30} {:<30} {:>10} {:<14}  {state}",
                recording.name,
                m.mode,
                m.chunks.len(),
                m.message_count(),
                format_ns(m.start_time_ns),
                m.end_time_ns.map_or_else(|| "-".to_owned(), format_ns),
                human_size(m.chunks.iter().map(|c| c.size).sum()),
                uploaded(m),
            ),
            None => println!(
                "{:<24} {:<10} {:>6} {:>10} {:<30} {:<30} {:>10} {:<14}  {state}",
                recording.name, "-", "-", "-", "-", "-", "-", "-"
            ),
        }
    }
    Outcome::Ok
}

/// The upload column: chunks marked uploaded of all, and how many are dead-lettered.
fn uploaded(manifest: &Manifest) -> String {
    let up = manifest
        .chunks
        .iter()
        .filter(|c| c.uploaded_at_ns.is_some())
        .count();
    let dead = manifest
        .chunks
        .iter()
        .filter(|c| c.upload_dead_letter.is_some())
        .count();
    match dead {
        0 => format!("{up}/{}", manifest.chunks.len()),
        _ => format!("{up}/{} {dead} dead", manifest.chunks.len()),
    }
}

/// What the listing's last column says of a recording.
fn state(recording: &ListedRecording) -> String {
    let by = |r: &AuditRecord| {
        format!(
            "by {} at {}: {}",
            r.draft.actor,
            format_ns(r.time_ns),
            r.draft.reason
        )
    };
    if let Some(erased) = &recording.erased {
        format!("erased {}", by(erased))
    } else if let Some(superseded) = &recording.superseded {
        format!("superseded {}", by(superseded))
    } else if let Some(error) = &recording.error {
        format!("unreadable: {error}")
    } else if recording.active {
        "recording".to_owned()
    } else {
        "sealed".to_owned()
    }
}

/// `1536` → `1.5 KiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `storagectl verify`: every named recording (all when none is named).
pub fn verify(store: &Store, names: &[String], anchor: Option<&str>, json: bool) -> Outcome {
    if anchor.is_some() && names.len() != 1 {
        return Outcome::Unreadable("--anchor needs exactly one recording name".to_owned());
    }
    let names: Vec<String> = if names.is_empty() {
        match store.folders() {
            Ok(folders) => folders.into_iter().map(|f| f.name).collect(),
            Err(e) => return Outcome::Unreadable(e.to_string()),
        }
    } else {
        names.to_vec()
    };
    // Chunks retired by a supersession record are reported as such, as the library does.
    let retired = match store.audit().read(None) {
        Ok(reading) => reading.records,
        Err(e) => return Outcome::Unreadable(e.to_string()),
    };
    let (mut all_ok, mut unreadable) = (true, 0);
    for name in &names {
        let report = store
            .existing(name)
            .and_then(|folder| verify_anchored(&folder, name, anchor, &retired));
        match report {
            Ok(report) => {
                all_ok &= report.ok;
                if json {
                    println!("{}", serde_json::to_string(&report).unwrap_or_default());
                } else {
                    print_verdict(&report);
                }
            }
            Err(e) => {
                unreadable += 1;
                if json {
                    println!(
                        "{}",
                        json!({ "name": name, "ok": false, "error": e.to_string() })
                    );
                } else {
                    println!("{name}: UNREADABLE: {e}");
                }
            }
        }
    }
    if unreadable > 0 {
        Outcome::Unreadable(format!(
            "{unreadable} of {} recordings could not be read",
            names.len()
        ))
    } else if all_ok {
        Outcome::Ok
    } else {
        Outcome::Damaged
    }
}

fn print_verdict(report: &VerifyReport) {
    let chain = &report.chain;
    let head = chain
        .head
        .as_deref()
        .map_or("none", |h| &h[..h.len().min(16)]);
    println!(
        "{}: {} ({} chunk{}; chain {}, head {head}{})",
        report.name,
        if report.ok { "ok" } else { "DAMAGED" },
        report.chunks.len(),
        if report.chunks.len() == 1 { "" } else { "s" },
        chain.status,
        chain
            .anchor
            .map_or(String::new(), |a| format!("; anchor {a}")),
    );
    for chunk in report.chunks.iter().filter(|c| c.status != "ok") {
        let reason = chunk.reason.as_deref().unwrap_or("");
        println!("  {} {}: {reason}", chunk.status, chunk.file);
    }
    if let Some(reason) = &chain.reason {
        println!("  chain broken at {:?}: {reason}", chain.broken_at);
    }
}

/// Per-channel statistics of a recording, from its messages.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChannelStats {
    messages: u64,
    content_bytes: u64,
    first_log_time_ns: u64,
    last_log_time_ns: u64,
}

/// `storagectl show`.
pub fn show(store: &Store, name: &str, json: bool) -> Outcome {
    let folder = match store.existing(name) {
        Ok(folder) => folder,
        Err(e) => return Outcome::Unreadable(e.to_string()),
    };
    let manifest = match Manifest::read(&folder) {
        Ok(manifest) => manifest,
        Err(e) => return Outcome::Unreadable(e.to_string()),
    };
    let every = ReplayOptions {
        rate: 0.0,
        ..ReplayOptions::default()
    };
    let reader = match ReplayReader::open(&folder, every) {
        Ok(reader) => reader,
        Err(e) => return Outcome::Unreadable(e.to_string()),
    };
    let mut channels: BTreeMap<String, ChannelStats> = BTreeMap::new();
    let mut damaged = None;
    for message in reader {
        match message {
            Ok(m) => {
                let stats = channels.entry(m.channel_id).or_insert(ChannelStats {
                    messages: 0,
                    content_bytes: 0,
                    first_log_time_ns: m.log_time_ns,
                    last_log_time_ns: m.log_time_ns,
                });
                stats.messages += 1;
                stats.content_bytes += m.message.content.len() as u64;
                stats.first_log_time_ns = stats.first_log_time_ns.min(m.log_time_ns);
                stats.last_log_time_ns = stats.last_log_time_ns.max(m.log_time_ns);
            }
            Err(e) => {
                damaged = Some(e.to_string());
                break;
            }
        }
    }
    if json {
        let doc = json!({ "manifest": manifest, "channels": channels, "error": damaged });
        println!("{doc}");
    } else {
        print_manifest(&manifest);
        println!("channels:");
        for (id, s) in &channels {
            println!(
                "  {id}: {} messages, {} of content, {} .. {}",
                s.messages,
                human_size(s.content_bytes),
                format_ns(s.first_log_time_ns),
                format_ns(s.last_log_time_ns)
            );
        }
        if let Some(e) = &damaged {
            println!("reading stopped: {e}");
        }
    }
    if damaged.is_some() {
        Outcome::Damaged
    } else {
        Outcome::Ok
    }
}

fn print_manifest(m: &Manifest) {
    println!("name:        {}", m.name);
    println!("participant: {}", m.participant);
    println!("mode:        {}", m.mode);
    println!("start:       {}", format_ns(m.start_time_ns));
    let end = m
        .end_time_ns
        .map_or_else(|| "(being written)".to_owned(), format_ns);
    println!("end:         {end}");
    println!("messages:    {}", m.message_count());
    println!("chain head:  {}", m.head.as_deref().unwrap_or("(none)"));
    println!("chunks:");
    for c in &m.chunks {
        println!(
            "  {:>6} {} {:>10} {:>8} msgs  {} .. {}",
            c.index,
            c.file,
            human_size(c.size),
            c.message_count,
            format_ns(c.first_log_time_ns),
            format_ns(c.last_log_time_ns)
        );
    }
}

/// `storagectl audit`.
pub fn audit(store: &Store, query: &AuditQuery, json: bool) -> Outcome {
    if let Err(e) = store.check_root() {
        return Outcome::Unreadable(e.to_string());
    }
    let reading = match audit_query(&store.audit(), query) {
        Ok(reading) => reading,
        Err(e) => return Outcome::Unreadable(e.to_string()),
    };
    let verdict = &reading.verdict;
    if json {
        println!(
            "{}",
            json!({ "records": reading.records, "verdict": verdict })
        );
    } else {
        for r in &reading.records {
            let chunk = r
                .draft
                .chunk
                .map_or(String::new(), |c| format!(" chunk {c}"));
            let by = r
                .draft
                .replacement
                .as_deref()
                .map_or(String::new(), |n| format!(" by {n}"));
            println!(
                "#{} {} {} {}{chunk}{by} actor={} reason={:?}",
                r.seq,
                format_ns(r.time_ns),
                format!("{:?}", r.action).to_lowercase(),
                r.draft.recording,
                r.draft.actor,
                r.draft.reason
            );
        }
        println!(
            "audit log: {} ({} records{}{})",
            verdict.status,
            verdict.records,
            verdict
                .anchor
                .map_or(String::new(), |a| format!("; anchor {a}")),
            verdict
                .reason
                .as_deref()
                .map_or(String::new(), |r| format!("; {r}")),
        );
    }
    let anchored = verdict.anchor.is_none_or(|a| a != "mismatch");
    if verdict.status == "ok" && anchored {
        Outcome::Ok
    } else {
        Outcome::Damaged
    }
}
