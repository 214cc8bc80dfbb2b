//! `manifest.json`: what a recording holds, rewritten atomically after every seal.
//!
//! Fields this build does not know (written by a newer one, or added by hand) are kept on
//! read and written back unchanged.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::RecordingError;

/// File name of the manifest inside a recording folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Temporary file the manifest is written to before it is renamed into place.
const MANIFEST_TMP: &str = ".manifest.json.tmp";
/// The manifest format this build writes.
pub(crate) const MANIFEST_FORMAT: u32 = 1;
/// Largest manifest read: a bound on what a hostile file can make us allocate.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// The index of a recording.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Manifest {
    /// Manifest format version (`MANIFEST_FORMAT`).
    pub format: u32,
    /// The recording's name (its folder name).
    pub name: String,
    /// Participant id of the context that recorded it.
    pub participant: String,
    /// `"continuous"` or `"ring"` (a sealed ring-buffer window).
    pub mode: String,
    /// SDS channel ids that have messages in the recording, in order of first message.
    pub channels: Vec<String>,
    /// When recording started (Unix ns).
    pub start_time_ns: u64,
    /// When recording ended (Unix ns); `None` while it is being written.
    pub end_time_ns: Option<u64>,
    /// Sealed chunk files, in index order.
    pub chunks: Vec<ChunkEntry>,
    /// Hash-chain head: SHA-256 (lower-case hex) of the last entry's canonical bytes
    /// (see `recording::chain`); absent in an empty or a legacy (pre-chain) manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Fields this build does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One sealed chunk file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ChunkEntry {
    /// Position of the chunk in the recording, from 0.
    pub index: u64,
    /// File name inside `chunks/`: `chunk-{index:06}-{sha8}.mcap`.
    pub file: String,
    /// Full SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// File size in bytes.
    pub size: u64,
    /// Messages in the file.
    pub message_count: u64,
    /// Earliest `log_time` (Unix ns).
    pub first_log_time_ns: u64,
    /// Latest `log_time` (Unix ns).
    pub last_log_time_ns: u64,
    /// Hash-chain link: SHA-256 (lower-case hex) of the previous entry's canonical bytes,
    /// 64 zeros for the first chunk; absent in a legacy (pre-chain) manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    /// When the file was found in the upload bucket with this SHA-256 (Unix ns); absent
    /// until then. Not part of the chain: uploading changes no history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at_ns: Option<u64>,
    /// The uploaded object's ETag, as the bucket gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Set when the background uploader gave up on the chunk (its file is corrupt, the
    /// bucket refused it, or it kept failing): it is not tried again until an upload is
    /// asked for by name. Not part of the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_dead_letter: Option<DeadLetter>,
    /// Fields this build does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why the background uploader gave up on a chunk, and when.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct DeadLetter {
    /// When (Unix ns).
    pub at_ns: u64,
    /// Why (never a credential).
    pub reason: String,
}

/// What an uploader records of one chunk in its manifest entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadMark {
    /// The bucket holds the file: when it was found or put there, and its ETag.
    Uploaded {
        /// Unix ns.
        at_ns: u64,
        /// The object's ETag.
        etag: String,
    },
    /// Given up on, for now.
    DeadLettered(DeadLetter),
    /// A dead letter lifted: the chunk is to be tried again.
    Retry,
}

impl ChunkEntry {
    /// Records `mark`: an upload clears a dead letter; a dead letter or a retry never
    /// touches an upload already recorded. Returns whether the entry changed.
    pub fn apply(&mut self, mark: &UploadMark) -> bool {
        let before = (
            self.uploaded_at_ns,
            self.etag.clone(),
            self.upload_dead_letter.clone(),
        );
        match mark {
            UploadMark::Uploaded { at_ns, etag } => {
                self.uploaded_at_ns = Some(*at_ns);
                self.etag = Some(etag.clone());
                self.upload_dead_letter = None;
            }
            UploadMark::DeadLettered(letter) if self.uploaded_at_ns.is_none() => {
                self.upload_dead_letter = Some(letter.clone());
            }
            UploadMark::DeadLettered(_) => {}
            UploadMark::Retry => self.upload_dead_letter = None,
        }
        before
            != (
                self.uploaded_at_ns,
                self.etag.clone(),
                self.upload_dead_letter.clone(),
            )
    }

    /// Whether an uploader has work to do for this chunk: not in the bucket, not given up.
    pub fn awaits_upload(&self) -> bool {
        self.uploaded_at_ns.is_none() && self.upload_dead_letter.is_none()
    }
}

impl Manifest {
    /// Records `mark` on the chunk at `index` whose file has SHA-256 `sha256` (a chunk
    /// replaced since is left alone). Returns whether an entry changed.
    pub fn apply_mark(&mut self, index: u64, sha256: &str, mark: &UploadMark) -> bool {
        self.chunks
            .iter_mut()
            .find(|c| c.index == index && c.sha256 == sha256)
            .is_some_and(|c| c.apply(mark))
    }

    /// A manifest for a new, empty recording.
    pub fn new(name: &str, participant: &str, mode: &str, start_time_ns: u64) -> Self {
        Self {
            format: MANIFEST_FORMAT,
            name: name.to_owned(),
            participant: participant.to_owned(),
            mode: mode.to_owned(),
            start_time_ns,
            ..Self::default()
        }
    }

    /// Adds `channel_id` to [`Manifest::channels`] unless it is there.
    pub fn note_channel(&mut self, channel_id: &str) {
        if !self.channels.iter().any(|c| c == channel_id) {
            self.channels.push(channel_id.to_owned());
        }
    }

    /// Messages in all sealed chunks.
    pub fn message_count(&self) -> u64 {
        self.chunks.iter().map(|c| c.message_count).sum()
    }

    /// Reads `folder/manifest.json`. Never panics, whatever the file holds.
    pub fn read(folder: &Path) -> Result<Self, RecordingError> {
        let path = folder.join(MANIFEST_FILE);
        let bad = |reason: String| RecordingError::BadManifest {
            path: path.display().to_string(),
            reason,
        };
        let file = File::open(&path).map_err(|e| RecordingError::io("open", &path, e))?;
        let mut text = Vec::new();
        file.take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| RecordingError::io("read", &path, e))?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(bad(format!("larger than {MAX_MANIFEST_BYTES} bytes")));
        }
        let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(bad(format!("unknown format {}", manifest.format)));
        }
        Ok(manifest)
    }

    /// Writes `folder/manifest.json` atomically: a temporary file, fsynced, renamed over
    /// the old one, then the folder fsynced, so a crash leaves the old or the new manifest,
    /// never a torn one.
    pub fn write(&self, folder: &Path) -> Result<(), RecordingError> {
        let tmp = folder.join(MANIFEST_TMP);
        let path = folder.join(MANIFEST_FILE);
        let mut text =
            serde_json::to_vec_pretty(self).map_err(|e| RecordingError::BadManifest {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        text.push(b'\n');
        let mut file = File::create(&tmp).map_err(|e| RecordingError::io("create", &tmp, e))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .map_err(|e| RecordingError::io("write", &tmp, e))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(|e| RecordingError::io("rename", &tmp, e))?;
        sync_folder(folder)
    }
}

/// Fsyncs a folder so that renames and creations inside it survive a crash.
pub(crate) fn sync_folder(folder: &Path) -> Result<(), RecordingError> {
    File::open(folder)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| RecordingError::io("sync folder", folder, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_folder(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("manifest-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp folder");
        dir
    }

    #[test]
    fn round_trips_and_keeps_unknown_fields() {
        let dir = temp_folder("unknown");
        let text = r#"{"format":1,"name":"r","participant":"p","mode":"continuous",
            "channels":["c"],"start_time_ns":5,"end_time_ns":null,"future":{"x":[1,2]},
            "chunks":[{"index":0,"file":"chunk-000000-abcdef01.mcap","sha256":"ab",
            "size":10,"message_count":2,"first_log_time_ns":1,"last_log_time_ns":2,
            "note":"kept"}]}"#;
        fs::write(dir.join(MANIFEST_FILE), text).expect("write");
        let mut m = Manifest::read(&dir).expect("read");
        assert_eq!(m.extra["future"], serde_json::json!({"x": [1, 2]}));
        assert_eq!(m.chunks[0].extra["note"], "kept");
        m.end_time_ns = Some(9);
        m.write(&dir).expect("write");
        let back = Manifest::read(&dir).expect("read back");
        assert_eq!(back, m);
        assert!(!dir.join(MANIFEST_TMP).exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_garbage_and_unknown_formats() {
        let dir = temp_folder("garbage");
        for text in [
            "",
            "{",
            "[]",
            r#"{"format":2,"name":"r","participant":"","mode":"",
            "channels":[],"start_time_ns":0,"end_time_ns":null,"chunks":[]}"#,
        ] {
            fs::write(dir.join(MANIFEST_FILE), text).expect("write");
            assert!(matches!(
                Manifest::read(&dir),
                Err(RecordingError::BadManifest { .. })
            ));
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
