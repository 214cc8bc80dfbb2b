//! Integrity check of a recording: every chunk's SHA-256 against its name and the
//! manifest, its size and message count, every MCAP CRC, the hash chain of the manifest
//! (`recording::chain`), optionally against a head the host anchored elsewhere, and the
//! audit log's supersession records of chunks retired as corrupt.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::audit::{AuditAction, AuditRecord};
use super::chain::{self, ChainCheck};
use super::chunk_writer::{hex_lower, parse_active_file_name, parse_sealed_file_name};
use super::error::RecordingError;
use super::manifest::{ChunkEntry, Manifest};
use super::scan::{McapScan, ScanMode};
use super::store::CHUNKS_DIR;

/// The verdict on one chunk file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ChunkVerdict {
    /// File name inside `chunks/`.
    pub file: String,
    /// `"ok"`, `"corrupt"`, `"missing"` (listed, not on disk), `"unlisted"` (on disk, not
    /// in the manifest), `"active"` (being written, or left by a crash) or `"superseded"`
    /// (corrupt or missing, and retired by a supersession record in the audit log for
    /// this very entry: the record's reason is the `reason`).
    pub status: &'static str,
    /// What is wrong, for anything but `"ok"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The verdict on a recording's hash chain: distinct from the verdicts on its files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ChainVerdict {
    /// `"ok"` (every link holds), `"broken"` (a chunk was removed, inserted, reordered or
    /// substituted, or the head edited) or `"legacy"` (a manifest from before chains:
    /// nothing to check).
    pub status: &'static str,
    /// The manifest's head (lower-case hex), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Index of the first chunk whose link does not hold (absent when it is the head).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<u64>,
    /// What does not match, for `"broken"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With an anchored head: `"head"` (it is the head), `"prefix"` (it is the hash of
    /// an earlier chunk: the recording grew since, its history unchanged) or
    /// `"mismatch"` (the chain does not contain it: history was rewritten).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<&'static str>,
}

/// The verdict on a recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct VerifyReport {
    /// Recording name.
    pub name: String,
    /// True when every listed chunk is ok (or superseded), nothing is unlisted, the chain
    /// is not broken and an anchored head, if given, is in the chain.
    pub ok: bool,
    /// One verdict per chunk, listed ones first in manifest order.
    pub chunks: Vec<ChunkVerdict>,
    /// The hash chain's verdict.
    pub chain: ChainVerdict,
}

/// Hashes everything read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Checks recording `name` in `folder`. Fails only if the manifest is unreadable; every
/// problem with a chunk is a verdict in the report. Never panics on hostile files.
pub fn verify_folder(folder: &Path, name: &str) -> Result<VerifyReport, RecordingError> {
    verify_anchored(folder, name, None, &[])
}

/// [`verify_folder`], also checking the chain against `anchor` (a head the host stored
/// elsewhere, lower-case hex) when given, and reporting a bad chunk as `"superseded"`
/// when `retired` holds a supersession record of this recording's chunk with this
/// index and SHA-256.
pub fn verify_anchored(
    folder: &Path,
    name: &str,
    anchor: Option<&str>,
    retired: &[AuditRecord],
) -> Result<VerifyReport, RecordingError> {
    let manifest = Manifest::read(folder)?;
    let chunks_dir = folder.join(CHUNKS_DIR);
    let mut chunks: Vec<ChunkVerdict> = manifest
        .chunks
        .iter()
        .map(|entry| {
            let problem = check_chunk(&chunks_dir, entry).err();
            let record = retired.iter().find(|r| {
                r.action == AuditAction::Supersede
                    && r.draft.recording == name
                    && r.draft.chunk == Some(entry.index)
                    && r.draft.target_hash.as_deref() == Some(entry.sha256.as_str())
            });
            let status = match (&problem, record) {
                (None, _) => "ok",
                (Some(_), Some(_)) => "superseded",
                (Some(Problem::Missing), None) => "missing",
                (Some(Problem::Corrupt(_)), None) => "corrupt",
            };
            let reason = match (problem, record) {
                (None, _) => None,
                (Some(p), Some(r)) => Some(format!("{p}; superseded: {}", r.draft.reason)),
                (Some(p), None) => Some(p.to_string()),
            };
            ChunkVerdict {
                file: entry.file.clone(),
                status,
                reason,
            }
        })
        .collect();
    if let Ok(entries) = fs::read_dir(&chunks_dir) {
        let mut extra: Vec<ChunkVerdict> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|file| !manifest.chunks.iter().any(|c| &c.file == file))
            .filter_map(|file| {
                let status = if parse_active_file_name(&file).is_some() {
                    "active"
                } else if parse_sealed_file_name(&file).is_some() {
                    "unlisted"
                } else {
                    return None;
                };
                Some(ChunkVerdict {
                    reason: Some(format!("{file} is not in the manifest")),
                    file,
                    status,
                })
            })
            .collect();
        extra.sort_by(|a, b| a.file.cmp(&b.file));
        chunks.extend(extra);
    }
    let chain = chain_verdict(&manifest, anchor);
    let ok = chunks
        .iter()
        .all(|c| matches!(c.status, "ok" | "active" | "superseded"))
        && chain.status != "broken"
        && chain.anchor != Some("mismatch");
    Ok(VerifyReport {
        name: name.to_owned(),
        ok,
        chunks,
        chain,
    })
}

/// The chain's verdict, checked against `anchor` if given.
fn chain_verdict(manifest: &Manifest, anchor: Option<&str>) -> ChainVerdict {
    let mut verdict = ChainVerdict {
        status: "ok",
        head: manifest.head.clone(),
        broken_at: None,
        reason: None,
        anchor: None,
    };
    let hashes = match chain::check(manifest) {
        ChainCheck::Intact(hashes) => hashes,
        ChainCheck::Legacy => {
            verdict.status = "legacy";
            Vec::new()
        }
        ChainCheck::Broken { at, reason } => {
            verdict.status = "broken";
            verdict.broken_at = manifest.chunks.get(at).map(|c| c.index);
            verdict.reason = Some(reason);
            Vec::new()
        }
    };
    if let Some(anchor) = anchor {
        let wanted = chain::decode_hash(&anchor.to_ascii_lowercase());
        verdict.anchor = Some(match wanted {
            Some(w) if hashes.last() == Some(&w) => "head",
            Some(w) if hashes.contains(&w) => "prefix",
            _ => "mismatch",
        });
    }
    verdict
}

enum Problem {
    Missing,
    Corrupt(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => f.write_str("the file does not exist"),
            Problem::Corrupt(reason) => f.write_str(reason),
        }
    }
}

fn check_chunk(chunks_dir: &Path, entry: &ChunkEntry) -> Result<(), Problem> {
    let corrupt = |reason: String| Err(Problem::Corrupt(reason));
    let Some((index, sha8)) = parse_sealed_file_name(&entry.file) else {
        return corrupt(format!("`{}` is not a chunk file name", entry.file));
    };
    if index != entry.index {
        return corrupt(format!(
            "name says index {index}, manifest says {}",
            entry.index
        ));
    }
    let path = chunks_dir.join(&entry.file);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Problem::Missing),
        Err(e) => return corrupt(format!("cannot open: {e}")),
    };
    let mut source = HashingReader {
        inner: io::BufReader::with_capacity(256 * 1024, file),
        hasher: Sha256::new(),
        read: 0,
    };
    let mut messages = 0u64;
    for message in McapScan::new(&mut source, &path, ScanMode::Sealed) {
        if let Err(e) = message {
            return corrupt(e.to_string());
        }
        messages += 1;
    }
    // The reader may stop before the end of the file; the hash covers all of it.
    if let Err(e) = io::copy(&mut source, &mut io::sink()) {
        return corrupt(format!("cannot read: {e}"));
    }
    let sha256 = hex_lower(&source.hasher.finalize());
    if !sha256.starts_with(sha8) {
        return corrupt(format!("SHA-256 {sha256} does not match the name's {sha8}"));
    }
    if sha256 != entry.sha256 {
        return corrupt(format!(
            "SHA-256 {sha256} does not match the manifest's {}",
            entry.sha256
        ));
    }
    if source.read != entry.size {
        return corrupt(format!(
            "{} bytes, the manifest says {}",
            source.read, entry.size
        ));
    }
    if messages != entry.message_count {
        return corrupt(format!(
            "{messages} messages, the manifest says {}",
            entry.message_count
        ));
    }
    Ok(())
}

/// SHA-256 (lower-case hex) and size of a file.
pub(crate) fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut source = HashingReader {
        inner: File::open(path)?,
        hasher: Sha256::new(),
        read: 0,
    };
    io::copy(&mut source, &mut io::sink())?;
    Ok((hex_lower(&source.hasher.finalize()), source.read))
}
