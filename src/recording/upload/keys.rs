//! Where a recording lives in a bucket. The keys are deterministic, so that any machine
//! finds (and a restarted upload re-finds) every object from the manifest alone:
//!
//! ```text
//! {prefix}/{origin}/{recording}/chunks/chunk-{index:06}-{sha8}.mcap
//! {prefix}/{origin}/{recording}/manifest.json
//! ```
//!
//! `prefix` is optional (then the keys start with `{origin}/`); `origin` is the
//! participant or machine id that recorded it; `sha8` is the first 8 hex digits of the
//! chunk file's SHA-256, as in its local file name. The chunk key is built from the
//! manifest entry's index and hash, never from its file name, so a hostile manifest cannot
//! name a key outside the recording.

use super::UploadError;
use crate::recording::manifest::ChunkEntry;
use crate::recording::name::validate_name;

/// The object keys of one origin's recordings under an optional prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectKeys {
    /// `{prefix}/{origin}` or `{origin}`.
    base: String,
}

impl ObjectKeys {
    /// Keys under `prefix` (leading and trailing `/` ignored; its segments must be
    /// non-empty and not `.` or `..`) for recordings of `origin` (a valid recording
    /// name: letters, digits, `-`, `_`, `.`).
    pub fn new(prefix: Option<&str>, origin: &str) -> Result<Self, UploadError> {
        validate_name(origin)
            .map_err(|e| UploadError::config("origin", format!("not a usable key part: {e}")))?;
        let prefix = prefix.map(|p| p.trim_matches('/')).unwrap_or("");
        if prefix.is_empty() {
            return Ok(Self {
                base: origin.to_owned(),
            });
        }
        if prefix
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.chars().any(char::is_control))
        {
            return Err(UploadError::config(
                "prefix",
                "segments must be non-empty and not `.` or `..`",
            ));
        }
        Ok(Self {
            base: format!("{prefix}/{origin}"),
        })
    }

    /// `{base}/{recording}/`: everything of one recording starts with it.
    pub fn recording(&self, recording: &str) -> String {
        format!("{}/{recording}/", self.base)
    }

    /// The key of a sealed chunk; `None` when the entry's hash is not 64 hex digits.
    pub fn chunk(&self, recording: &str, entry: &ChunkEntry) -> Option<String> {
        let hash = entry.sha256.as_str();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(format!(
            "{}chunks/chunk-{:06}-{}.mcap",
            self.recording(recording),
            entry.index,
            &hash[..8]
        ))
    }

    /// The key of the recording's manifest.
    pub fn manifest(&self, recording: &str) -> String {
        format!("{}manifest.json", self.recording(recording))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, sha256: &str) -> ChunkEntry {
        ChunkEntry {
            index,
            file: "../../../etc/passwd".into(),
            sha256: sha256.into(),
            ..ChunkEntry::default()
        }
    }

    #[test]
    fn keys_follow_the_documented_layout() {
        let hash = "0123abcd".repeat(8);
        let keys = ObjectKeys::new(Some("/fleet/eu/"), "robot-7").expect("keys");
        assert_eq!(
            keys.chunk("run-42", &entry(3, &hash)).as_deref(),
            Some("fleet/eu/robot-7/run-42/chunks/chunk-000003-0123abcd.mcap")
        );
        assert_eq!(
            keys.manifest("run-42"),
            "fleet/eu/robot-7/run-42/manifest.json"
        );
        let bare = ObjectKeys::new(None, "robot-7").expect("keys");
        assert_eq!(bare.manifest("r"), "robot-7/r/manifest.json");
        assert_eq!(ObjectKeys::new(Some(""), "robot-7"), Ok(bare));
    }

    #[test]
    fn hostile_parts_are_refused() {
        assert!(ObjectKeys::new(None, "../x").is_err());
        assert!(ObjectKeys::new(None, "").is_err());
        assert!(ObjectKeys::new(Some("a//b"), "r").is_err());
        assert!(ObjectKeys::new(Some("a/../b"), "r").is_err());
        let keys = ObjectKeys::new(None, "r").expect("keys");
        assert_eq!(keys.chunk("x", &entry(0, "zz")), None);
        assert_eq!(keys.chunk("x", &entry(0, &"g".repeat(64))), None);
    }
}
