//! Crash recovery: run when a context with a recordings root starts. For every recording
//! nobody is writing (its lock is free):
//!
//! - an `.active` chunk file left by a crash is moved to `quarantine/`; the complete MCAP
//!   chunks it holds (CRC-checked) are written to a new sealed chunk and listed in the
//!   manifest, after which the quarantined copy is removed. If nothing is recoverable,
//!   the file stays in `quarantine/`.
//! - a sealed chunk missing from the manifest (a crash between the rename and the
//!   manifest write) is listed if its hash matches its name and it reads cleanly, else
//!   quarantined.
//! - a recording without an end time gets the last message's log time as its end.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::Path;

use serde::Serialize;

use super::chunk_writer::{parse_active_file_name, parse_sealed_file_name};
use super::error::RecordingError;
use super::frame::Frame;
use super::manifest::Manifest;
use super::scan::{McapScan, ScanMode};
use super::store::{lock_folder, Store, CHUNKS_DIR, QUARANTINE_DIR};
use super::writer::{ChunkLimits, RecordingWriter};

/// What recovery did to one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryAction {
    /// Recording name.
    pub recording: String,
    /// The file acted on (inside `chunks/`).
    pub file: String,
    /// `"recovered"` (messages moved into a sealed chunk), `"listed"` (sealed chunk added
    /// to the manifest), `"quarantined"`, `"repaired"` (a torn audit record cut off) or
    /// `"failed"`.
    pub action: &'static str,
    /// Messages saved.
    pub messages: u64,
    /// Details.
    pub detail: String,
}

/// Recovers every recording under `store` that nobody is writing.
pub fn recover_store(store: &Store) -> Vec<RecoveryAction> {
    let Ok(listed) = store.folders() else {
        return Vec::new();
    };
    let mut actions = Vec::new();
    // A crash in the middle of an audit append leaves a torn last line: cut it off.
    match store.audit().repair() {
        Ok(false) => {}
        Ok(true) => actions.push(RecoveryAction {
            recording: String::new(),
            file: super::audit::AUDIT_FILE.into(),
            action: "repaired",
            messages: 0,
            detail: "torn last audit record (never acknowledged) cut off".into(),
        }),
        Err(error) => actions.push(RecoveryAction {
            recording: String::new(),
            file: super::audit::AUDIT_FILE.into(),
            action: "failed",
            messages: 0,
            detail: error.to_string(),
        }),
    }
    // A folder without a manifest is one being created right now (or abandoned before
    // anything was recorded): nothing to recover.
    for recording in listed.iter().filter(|r| !r.active && r.manifest.is_some()) {
        let Ok(folder) = store.folder(&recording.name) else {
            continue;
        };
        if let Err(error) = recover_folder(&folder, &recording.name, &mut actions) {
            actions.push(RecoveryAction {
                recording: recording.name.clone(),
                file: String::new(),
                action: "failed",
                messages: 0,
                detail: error.to_string(),
            });
        }
    }
    actions
}

/// Recovers one recording folder (see the module documentation).
pub(crate) fn recover_folder(
    folder: &Path,
    name: &str,
    actions: &mut Vec<RecoveryAction>,
) -> Result<(), RecordingError> {
    let Some(lock) = lock_folder(folder)? else {
        return Ok(());
    };
    let manifest = Manifest::read(folder)?;
    let chunks_dir = folder.join(CHUNKS_DIR);
    let mut files: Vec<String> = fs::read_dir(&chunks_dir)
        .map_err(|e| RecordingError::io("list", &chunks_dir, e))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    files.sort();
    let unlisted: Vec<&String> = files
        .iter()
        .filter(|f| parse_sealed_file_name(f).is_some())
        .filter(|f| !manifest.chunks.iter().any(|c| &&c.file == f))
        .collect();
    let active: Vec<&String> = files
        .iter()
        .filter(|f| parse_active_file_name(f).is_some())
        .collect();
    let needs_end = manifest.end_time_ns.is_none();
    if unlisted.is_empty() && active.is_empty() && !needs_end {
        return Ok(());
    }
    let mut writer = RecordingWriter::resume(
        folder.to_owned(),
        manifest,
        lock,
        ChunkLimits {
            max_bytes: u64::MAX,
            max_age_ns: u64::MAX,
            // The resealed chunk is synced when it is sealed, right after.
            flush_interval_ns: u64::MAX,
        },
    )?;
    let act = |file: &str, action, messages, detail: String| RecoveryAction {
        recording: name.to_owned(),
        file: file.to_owned(),
        action,
        messages,
        detail,
    };
    for file in unlisted {
        let action = list_sealed(&mut writer, &chunks_dir, file)?;
        actions.push(match action {
            Ok(messages) => act(
                file,
                "listed",
                messages,
                "sealed chunk added to the manifest".into(),
            ),
            Err(reason) => {
                quarantine(folder, file)?;
                act(file, "quarantined", 0, reason)
            }
        });
    }
    for file in active {
        let moved = quarantine(folder, file)?;
        let frames = salvage(&moved);
        if frames.is_empty() {
            actions.push(act(file, "quarantined", 0, "no complete MCAP chunk".into()));
            continue;
        }
        for frame in &frames {
            writer.write(frame, frame.log_time_ns)?;
        }
        writer.seal_current()?;
        fs::remove_file(&moved).map_err(|e| RecordingError::io("remove", &moved, e))?;
        let count = frames.len() as u64;
        actions.push(act(
            file,
            "recovered",
            count,
            "complete chunks resealed".into(),
        ));
    }
    let end = writer
        .manifest()
        .chunks
        .iter()
        .map(|c| c.last_log_time_ns)
        .max()
        .unwrap_or(writer.manifest().start_time_ns);
    let end = writer.manifest().end_time_ns.unwrap_or(end);
    writer.finish(end)?;
    Ok(())
}

/// Adds a sealed chunk the manifest misses, if it verifies: `Ok(Err(reason))` if not.
fn list_sealed(
    writer: &mut RecordingWriter,
    chunks_dir: &Path,
    file: &str,
) -> Result<Result<u64, String>, RecordingError> {
    let Some((index, sha8)) = parse_sealed_file_name(file) else {
        return Ok(Err("not a chunk name".into()));
    };
    let path = chunks_dir.join(file);
    let (sha256, size) = match super::verify::hash_file(&path) {
        Ok(hash) => hash,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let reader = match File::open(&path) {
        Ok(f) => BufReader::new(f),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let mut entry = super::manifest::ChunkEntry {
        index,
        file: file.to_owned(),
        sha256,
        size,
        ..Default::default()
    };
    for message in McapScan::new(reader, &path, ScanMode::Sealed) {
        let message = match message {
            Ok(m) => m,
            Err(e) => return Ok(Err(e.to_string())),
        };
        if entry.message_count == 0 {
            entry.first_log_time_ns = message.log_time_ns;
        }
        entry.first_log_time_ns = entry.first_log_time_ns.min(message.log_time_ns);
        entry.last_log_time_ns = entry.last_log_time_ns.max(message.log_time_ns);
        entry.message_count += 1;
    }
    if !entry.sha256.starts_with(sha8) {
        return Ok(Err("SHA-256 does not match the name".into()));
    }
    if !writer.add_chunk(entry)? {
        return Ok(Err(
            "its index is not after the last listed chunk: listing it would rewrite the chain"
                .into(),
        ));
    }
    Ok(Ok(writer
        .manifest()
        .chunks
        .last()
        .map_or(0, |c| c.message_count)))
}

/// Moves `chunks/file` to `quarantine/file`; returns the new path.
fn quarantine(folder: &Path, file: &str) -> Result<std::path::PathBuf, RecordingError> {
    let dir = folder.join(QUARANTINE_DIR);
    fs::create_dir_all(&dir).map_err(|e| RecordingError::io("create folder", &dir, e))?;
    let from = folder.join(CHUNKS_DIR).join(file);
    let to = dir.join(file.trim_start_matches('.'));
    fs::rename(&from, &to).map_err(|e| RecordingError::io("quarantine", &from, e))?;
    super::manifest::sync_folder(&dir)?;
    super::manifest::sync_folder(&folder.join(CHUNKS_DIR))?;
    Ok(to)
}

/// The messages of the complete, CRC-checked MCAP chunks of a cut-short file.
fn salvage(path: &Path) -> Vec<Frame> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    McapScan::new(BufReader::new(file), path, ScanMode::Salvage)
        .map_while(Result::ok)
        .map(|m| Frame {
            channel_id: m.topic,
            data: m.data,
            log_time_ns: m.log_time_ns,
            publish_time_ns: m.publish_time_ns,
        })
        .collect()
}
