//! The audit log of a recordings root: an append-only, hash-chained record of every
//! recording (or chunk) retired by supersession and of every erasure of files.
//!
//! `audit.log` holds one JSON object per line ([`AuditRecord`]). Each record carries
//! `prev_hash`, the previous record's `hash` (64 zeros for the first), and `hash`, the
//! SHA-256 of its canonical bytes: a fixed binary encoding (integers unsigned 64-bit
//! big-endian, each string preceded by its byte length as such an integer, an optional
//! value preceded by one byte, 0 = absent, 1 = present):
//!
//! ```text
//! "libstorage-audit-v1"   19 ASCII bytes
//! seq  time_ns            u64, u64
//! action  recording       strings
//! chunk                   optional u64
//! target_hash             optional string
//! replacement             optional string
//! actor  reason           strings
//! prev_hash               32 raw bytes
//! ```
//!
//! A record is appended in one write followed by an fsync, under an exclusive lock of
//! the log, and only then is the operation it records carried out. `audit.head` (written
//! atomically after each append) holds the last record's `seq` and `hash`, so a log cut at
//! a record boundary is seen as truncated. A crash in the middle of an append leaves a
//! torn last line without its newline: the record was never acknowledged, reads ignore
//! it and [`AuditLog::repair`] cuts it off, never touching a complete record. A crash
//! between the append and the head write leaves the head one record behind, which is
//! accepted and caught up by the next append or repair.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chain::{decode_hash, hash_hex, put_str, put_u64, GENESIS};
use super::error::RecordingError;

/// File name of the audit log under the recordings root.
pub const AUDIT_FILE: &str = "audit.log";
/// File name of the audit log's head under the recordings root.
const HEAD_FILE: &str = "audit.head";
/// Temporary file the head is written to before it is renamed into place.
const HEAD_TMP: &str = ".audit.head.tmp";
/// Largest audit log read: a bound on what a hostile file can make us allocate.
const MAX_AUDIT_BYTES: u64 = 256 * 1024 * 1024;
/// Longest actor, reason or replacement accepted from a caller, in bytes.
pub(crate) const MAX_FIELD_BYTES: usize = 4096;
/// Domain tag at the start of a record's canonical bytes.
const RECORD_TAG: &[u8] = b"libstorage-audit-v1";

/// What a record says was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum AuditAction {
    /// A recording (or one of its chunks) was retired, its files kept.
    Supersede,
    /// A superseded recording's files were deleted.
    Erase,
}

impl AuditAction {
    fn as_str(self) -> &'static str {
        match self {
            AuditAction::Supersede => "supersede",
            AuditAction::Erase => "erase",
        }
    }
}

/// One line of `audit.log`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct AuditRecord {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When (Unix ns, the context's clock).
    pub time_ns: u64,
    /// `"supersede"` or `"erase"`.
    pub action: AuditAction,
    /// What was done to what, by whom and why (its fields are inline in the JSON line).
    #[serde(flatten)]
    pub draft: AuditDraft,
    /// The previous record's `hash` (64 zeros for the first record).
    pub prev_hash: String,
    /// SHA-256 of this record's canonical bytes (see the module docs).
    pub hash: String,
}

/// What a caller asks to record; the log fills in `seq`, the time and the hashes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct AuditDraft {
    /// The recording concerned.
    pub recording: String,
    /// The chunk index, when one chunk is superseded.
    pub chunk: Option<u64>,
    /// What was superseded or erased: the chunk's SHA-256, or the recording's chain head
    /// (absent for a recording with no chained chunk).
    pub target_hash: Option<String>,
    /// The recording that replaces it, if any.
    pub replacement: Option<String>,
    /// Who: the caller-given actor, or the context's participant id.
    pub actor: String,
    /// Why, as the caller gave it.
    pub reason: String,
}

/// The verdict on the audit log's own chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct AuditVerdict {
    /// `"ok"`, `"broken"` (a record was edited, removed, inserted or reordered) or
    /// `"truncated"` (records the head file vouches for are gone).
    pub status: &'static str,
    /// Complete records read.
    pub records: u64,
    /// The last record's hash, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// `seq` of the first record that does not check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<u64>,
    /// What does not match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A torn last line (a crash in the middle of an append; ignored, repaired at start).
    pub torn_tail: bool,
    /// With an anchored head: `"head"`, `"prefix"` or `"mismatch"` (as for recordings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<&'static str>,
}

/// The audit log's records as read, and the verdict on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReading {
    /// Every complete record that checks, in order (up to a break).
    pub records: Vec<AuditRecord>,
    /// The verdict.
    pub verdict: AuditVerdict,
}

/// The audit log of one recordings root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditLog {
    root: PathBuf,
}

/// `{"seq","hash"}` of `audit.head`.
#[derive(Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

/// The canonical bytes of `record` (its `hash` field is not part of them).
fn canonical_bytes(record: &AuditRecord, prev: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(RECORD_TAG);
    put_u64(&mut out, record.seq);
    put_u64(&mut out, record.time_ns);
    put_str(&mut out, record.action.as_str());
    let draft = &record.draft;
    put_str(&mut out, &draft.recording);
    match draft.chunk {
        Some(chunk) => {
            out.push(1);
            put_u64(&mut out, chunk);
        }
        None => out.push(0),
    }
    for optional in [&draft.target_hash, &draft.replacement] {
        match optional {
            Some(text) => {
                out.push(1);
                put_str(&mut out, text);
            }
            None => out.push(0),
        }
    }
    put_str(&mut out, &draft.actor);
    put_str(&mut out, &draft.reason);
    out.extend_from_slice(prev);
    out
}

fn record_hash(record: &AuditRecord, prev: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(canonical_bytes(record, prev)).into()
}

impl AuditLog {
    /// The audit log under recordings root `root` (created on the first append).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self) -> PathBuf {
        self.root.join(AUDIT_FILE)
    }

    /// Appends a record of `action` at `time_ns` and returns it, fsynced. Refuses to
    /// append to a log whose chain does not check.
    pub fn append(
        &self,
        action: AuditAction,
        draft: AuditDraft,
        time_ns: u64,
    ) -> Result<AuditRecord, RecordingError> {
        for (key, text) in [
            ("actor", &draft.actor),
            ("reason", &draft.reason),
            ("recording", &draft.recording),
        ] {
            if text.len() > MAX_FIELD_BYTES {
                return Err(RecordingError::option(
                    key,
                    format!("longer than {MAX_FIELD_BYTES} bytes"),
                ));
            }
        }
        let path = self.path();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| RecordingError::io("open", &path, e))?;
        file.lock()
            .map_err(|e| RecordingError::io("lock", &path, e))?;
        let reading = self.repair_locked(&mut file)?;
        if reading.verdict.status != "ok" {
            return Err(RecordingError::AuditBroken(
                reading.verdict.reason.unwrap_or_default(),
            ));
        }
        let last = reading.records.last();
        let prev = last.and_then(|r| decode_hash(&r.hash)).unwrap_or(GENESIS);
        let mut record = AuditRecord {
            seq: last.map_or(1, |r| r.seq.saturating_add(1)),
            time_ns,
            action,
            draft,
            prev_hash: hash_hex(&prev),
            hash: String::new(),
        };
        record.hash = hash_hex(&record_hash(&record, &prev));
        let mut line = serde_json::to_vec(&record).map_err(|e| RecordingError::Io {
            action: "encode",
            path: crate::shorten::shorten_path(&path),
            reason: e.to_string(),
        })?;
        line.push(b'\n');
        file.write_all(&line)
            .and_then(|()| file.sync_all())
            .map_err(|e| RecordingError::io("append", &path, e))?;
        self.write_head(record.seq, &record.hash)?;
        Ok(record)
    }

    /// Reads and checks the log (a missing log is an empty, intact one), checking its
    /// head against `anchor` when given.
    pub fn read(&self, anchor: Option<&str>) -> Result<AuditReading, RecordingError> {
        let path = self.path();
        let bytes = match File::open(&path) {
            Ok(file) => read_bounded(file, &path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(RecordingError::io("open", &path, e)),
        };
        let mut reading = self.check(&bytes);
        if let Some(anchor) = anchor {
            let wanted = decode_hash(&anchor.to_ascii_lowercase());
            let hashes: Vec<Option<[u8; 32]>> = reading
                .records
                .iter()
                .map(|r| decode_hash(&r.hash))
                .collect();
            reading.verdict.anchor = Some(match wanted {
                Some(w) if reading.verdict.status == "ok" && hashes.last() == Some(&Some(w)) => {
                    "head"
                }
                Some(w) if hashes.contains(&Some(w)) => "prefix",
                _ => "mismatch",
            });
        }
        Ok(reading)
    }

    /// Cuts off a torn last line left by a crash during an append and brings the head
    /// file up to date. Returns whether a torn line was removed. Never removes or
    /// rewrites a complete record.
    pub fn repair(&self) -> Result<bool, RecordingError> {
        let path = self.path();
        let mut file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(RecordingError::io("open", &path, e)),
        };
        file.lock()
            .map_err(|e| RecordingError::io("lock", &path, e))?;
        let torn = self.read(None)?.verdict.torn_tail;
        self.repair_locked(&mut file)?;
        Ok(torn)
    }

    /// With the log's lock held: reads it, cuts a torn tail, catches the head up.
    fn repair_locked(&self, file: &mut File) -> Result<AuditReading, RecordingError> {
        let path = self.path();
        let bytes = read_bounded(&*file, &path)?;
        let reading = self.check(&bytes);
        if reading.verdict.torn_tail {
            let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            file.set_len(keep as u64)
                .and_then(|()| file.sync_all())
                .map_err(|e| RecordingError::io("truncate", &path, e))?;
        }
        if reading.verdict.status == "ok" {
            if let Some(last) = reading.records.last() {
                if self.read_head().ok().flatten().map(|h| h.seq) != Some(last.seq) {
                    self.write_head(last.seq, &last.hash)?;
                }
            }
        }
        Ok(reading)
    }

    fn read_head(&self) -> Result<Option<Head>, String> {
        match fs::read(self.root.join(HEAD_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("{HEAD_FILE} is unreadable: {e}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {HEAD_FILE}: {e}")),
        }
    }

    fn write_head(&self, seq: u64, hash: &str) -> Result<(), RecordingError> {
        let tmp = self.root.join(HEAD_TMP);
        let text = serde_json::json!({"seq": seq, "hash": hash}).to_string();
        let mut file = File::create(&tmp).map_err(|e| RecordingError::io("create", &tmp, e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| RecordingError::io("write", &tmp, e))?;
        drop(file);
        let path = self.root.join(HEAD_FILE);
        fs::rename(&tmp, &path).map_err(|e| RecordingError::io("rename", &tmp, e))?;
        super::manifest::sync_folder(&self.root)
    }

    /// Checks the chain of `bytes` (the whole log) and its head file.
    fn check(&self, bytes: &[u8]) -> AuditReading {
        let mut verdict = AuditVerdict {
            status: "ok",
            records: 0,
            head: None,
            broken_at: None,
            reason: None,
            torn_tail: false,
            anchor: None,
        };
        let mut records: Vec<AuditRecord> = Vec::new();
        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        // The piece after the last newline: empty, or a torn append.
        if lines.pop().is_some_and(|tail| !tail.is_empty()) {
            verdict.torn_tail = true;
        }
        let mut prev = GENESIS;
        for (i, line) in lines.iter().enumerate() {
            let seq = i as u64 + 1;
            let problem = match serde_json::from_slice::<AuditRecord>(line) {
                Err(e) => Some(format!("record {seq} is not an audit record: {e}")),
                Ok(record) => {
                    let computed = hash_hex(&record_hash(&record, &prev));
                    if record.seq != seq {
                        Some(format!("record {seq} says it is record {}", record.seq))
                    } else if decode_hash(&record.prev_hash) != Some(prev) {
                        Some(format!(
                            "record {seq}: prev_hash is not the hash of the record before it"
                        ))
                    } else if record.hash != computed {
                        Some(format!(
                            "record {seq}: hash {} is not the hash of its contents {computed} \
                             (the record was edited)",
                            record.hash
                        ))
                    } else {
                        prev = decode_hash(&record.hash).unwrap_or(GENESIS);
                        records.push(record);
                        None
                    }
                }
            };
            if let Some(reason) = problem {
                verdict.status = "broken";
                verdict.broken_at = Some(seq);
                verdict.reason = Some(reason);
                break;
            }
        }
        verdict.records = records.len() as u64;
        verdict.head = records.last().map(|r| r.hash.clone());
        if verdict.status == "ok" {
            let count = records.len() as u64;
            match self.read_head() {
                Err(reason) => {
                    verdict.status = "broken";
                    verdict.reason = Some(reason);
                }
                Ok(None) if count > 1 => {
                    verdict.status = "truncated";
                    verdict.reason = Some(format!("{HEAD_FILE} is missing"));
                }
                Ok(None) => {}
                Ok(Some(head)) if head.seq > count => {
                    verdict.status = "truncated";
                    verdict.reason = Some(format!(
                        "{HEAD_FILE} vouches for {} records, the log holds {count}",
                        head.seq
                    ));
                }
                Ok(Some(head)) => {
                    let at = head
                        .seq
                        .checked_sub(1)
                        .and_then(|i| records.get(i as usize));
                    if head.seq != 0 && at.map(|r| r.hash.as_str()) != Some(head.hash.as_str()) {
                        verdict.status = "broken";
                        verdict.broken_at = Some(head.seq);
                        verdict.reason = Some(format!(
                            "record {} is not the one {HEAD_FILE} vouches for",
                            head.seq
                        ));
                    }
                }
            }
        }
        AuditReading { records, verdict }
    }
}

fn read_bounded(file: impl Read, path: &Path) -> Result<Vec<u8>, RecordingError> {
    let mut bytes = Vec::new();
    file.take(MAX_AUDIT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| RecordingError::io("read", path, e))?;
    if bytes.len() as u64 > MAX_AUDIT_BYTES {
        return Err(RecordingError::AuditBroken(format!(
            "{AUDIT_FILE} is larger than {MAX_AUDIT_BYTES} bytes"
        )));
    }
    Ok(bytes)
}

/// Which records [`query`] keeps: each given field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Records of this recording only.
    pub recording: Option<String>,
    /// Records by this actor only.
    pub actor: Option<String>,
    /// Records at or after this time (Unix ns).
    pub since_ns: Option<u64>,
    /// Records at or before this time (Unix ns).
    pub until_ns: Option<u64>,
    /// A head of the audit log the host stored elsewhere, to check the log against.
    pub anchor: Option<String>,
}

impl AuditQuery {
    /// Parses the query document (empty text: everything). Unknown keys are refused.
    pub fn from_json(text: &str) -> Result<Self, RecordingError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(text).map_err(|e| RecordingError::option("query", e.to_string()))
    }

    /// Whether `record` matches.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.recording
            .as_ref()
            .is_none_or(|r| *r == record.draft.recording)
            && self.actor.as_ref().is_none_or(|a| *a == record.draft.actor)
            && self.since_ns.is_none_or(|t| record.time_ns >= t)
            && self.until_ns.is_none_or(|t| record.time_ns <= t)
    }
}

/// The records matching `query`, and the verdict on the whole log.
pub fn query(log: &AuditLog, query: &AuditQuery) -> Result<AuditReading, RecordingError> {
    let mut reading = log.read(query.anchor.as_deref())?;
    reading.records.retain(|r| query.matches(r));
    Ok(reading)
}
