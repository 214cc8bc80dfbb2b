//! Replay planning: which recorded messages come back, in what order, under what channel
//! name and when. The runtime paces and delivers them.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::RecordingError;
use super::manifest::Manifest;
use super::scan::{McapScan, ScanMode};
use super::store::CHUNKS_DIR;
use crate::protocol::message::SdsMessage;
use crate::protocol::wire::decode_stored_message;

/// How a recording is replayed: the options document of `storage_replay_start`, every
/// key optional.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ReplayOptions {
    /// Only these channels (default: all).
    pub include: Option<Vec<String>>,
    /// Never these channels.
    pub exclude: Vec<String>,
    /// Skip messages logged before this time (Unix ns).
    pub start_time_ns: Option<u64>,
    /// Skip messages logged after this time (Unix ns).
    pub end_time_ns: Option<u64>,
    /// Speed factor: 1 = recorded pace (default), 2 = twice as fast, 0 = as fast as
    /// possible.
    pub rate: f64,
    /// Start over at the end, until stopped.
    #[serde(rename = "loop")]
    pub looped: bool,
    /// Channel renames applied to replayed messages (recorded id → replayed id, not
    /// empty).
    pub remap: HashMap<String, String>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            include: None,
            exclude: Vec::new(),
            start_time_ns: None,
            end_time_ns: None,
            rate: 1.0,
            looped: false,
            remap: HashMap::new(),
        }
    }
}

impl ReplayOptions {
    /// Reads options from JSON (empty or `null`: defaults); the error names the key.
    pub fn from_json(text: &str) -> Result<Self, RecordingError> {
        let options: Self = super::options::read_options(text)?;
        if !(options.rate.is_finite() && options.rate >= 0.0) {
            return Err(RecordingError::option("rate", "must be a number ≥ 0"));
        }
        if let Some(from) = options
            .remap
            .iter()
            .find_map(|(from, to)| to.is_empty().then_some(from))
        {
            let key = format!("remap.{}", crate::shorten::shorten(from));
            return Err(RecordingError::option(&key, "must not be empty"));
        }
        Ok(options)
    }

    fn keeps(&self, channel_id: &str, log_time_ns: u64) -> bool {
        self.include
            .as_ref()
            .is_none_or(|list| list.iter().any(|c| c == channel_id))
            && !self.exclude.iter().any(|c| c == channel_id)
            && self.start_time_ns.is_none_or(|t| log_time_ns >= t)
            && self.end_time_ns.is_none_or(|t| log_time_ns <= t)
    }

    /// How long after the replay's start a message logged `since_first_ns` after the
    /// first replayed one is due; `None` when the rate is 0 (no pacing).
    pub fn due_after_ns(&self, since_first_ns: u64) -> Option<u64> {
        (self.rate > 0.0).then(|| (since_first_ns as f64 / self.rate) as u64)
    }
}

/// A message read back for replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayedMessage {
    /// The channel it is replayed on (after remapping).
    pub channel_id: String,
    /// The recorded message (its `channel_id` as recorded).
    pub message: SdsMessage,
    /// Its recorded `log_time` (Unix ns).
    pub log_time_ns: u64,
}

/// Reads a recording's messages in time order (chunk after chunk, each in file order:
/// chunks are written one after the other, so their times do not overlap), filtered,
/// trimmed and remapped. The first error ends the iteration.
pub struct ReplayReader {
    chunks_dir: PathBuf,
    files: std::vec::IntoIter<String>,
    scan: Option<McapScan<BufReader<File>>>,
    options: ReplayOptions,
    failed: bool,
}

impl ReplayReader {
    /// Opens the recording in `folder` (reads its manifest).
    pub fn open(folder: &Path, options: ReplayOptions) -> Result<Self, RecordingError> {
        let manifest = Manifest::read(folder)?;
        let mut chunks = manifest.chunks;
        chunks.sort_by_key(|c| c.index);
        // Chunks wholly outside the trim window are not opened.
        let files: Vec<String> = chunks
            .into_iter()
            .filter(|c| {
                options
                    .start_time_ns
                    .is_none_or(|t| c.last_log_time_ns >= t)
                    && options.end_time_ns.is_none_or(|t| c.first_log_time_ns <= t)
            })
            .map(|c| c.file)
            .collect();
        Ok(Self {
            chunks_dir: folder.join(CHUNKS_DIR),
            files: files.into_iter(),
            scan: None,
            options,
            failed: false,
        })
    }

    fn fail(&mut self, error: RecordingError) -> Option<Result<ReplayedMessage, RecordingError>> {
        self.failed = true;
        Some(Err(error))
    }
}

impl Iterator for ReplayReader {
    type Item = Result<ReplayedMessage, RecordingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let Some(scan) = &mut self.scan else {
                let file = self.files.next()?;
                let path = self.chunks_dir.join(&file);
                match File::open(&path) {
                    Ok(f) => {
                        let reader = BufReader::with_capacity(256 * 1024, f);
                        self.scan = Some(McapScan::new(reader, &path, ScanMode::Sealed));
                    }
                    Err(e) => return self.fail(RecordingError::io("open", &path, e)),
                }
                continue;
            };
            let scanned = match scan.next() {
                None => {
                    self.scan = None;
                    continue;
                }
                Some(Err(e)) => return self.fail(e),
                Some(Ok(m)) => m,
            };
            if !self.options.keeps(&scanned.topic, scanned.log_time_ns) {
                continue;
            }
            let message = match decode_stored_message(&scanned.data) {
                Ok(m) => m,
                Err(e) => {
                    let reason = format!("undecodable message on `{}`: {e}", scanned.topic);
                    return self.fail(RecordingError::Mcap {
                        path: self.chunks_dir.display().to_string(),
                        reason,
                    });
                }
            };
            let channel_id = self
                .options
                .remap
                .get(&scanned.topic)
                .cloned()
                .unwrap_or(scanned.topic);
            return Some(Ok(ReplayedMessage {
                channel_id,
                message,
                log_time_ns: scanned.log_time_ns,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_refusals_name_the_key() {
        let o = ReplayOptions::from_json(
            r#"{"include":["a"],"exclude":["b"],"start_time_ns":5,"end_time_ns":9,
            "rate":2.5,"loop":true,"remap":{"a":"z"}}"#,
        )
        .expect("valid");
        assert_eq!(o.include, Some(vec!["a".to_owned()]));
        assert_eq!(o.exclude, ["b"]);
        assert_eq!((o.start_time_ns, o.end_time_ns), (Some(5), Some(9)));
        assert_eq!(o.rate, 2.5);
        assert!(o.looped);
        assert_eq!(o.remap["a"], "z");
        assert!(o.keeps("a", 5) && !o.keeps("a", 4) && !o.keeps("a", 10) && !o.keeps("b", 6));
        for (text, key) in [
            (r#"{"rate":-1}"#, "rate"),
            (r#"{"include":"a"}"#, "include"),
            (r#"{"remap":{"a":1}}"#, "remap.a"),
            (r#"{"remap":{"a":""}}"#, "remap.a"),
            (r#"{"loop":1}"#, "loop"),
            (r#"{"start_time_ns":-3}"#, "start_time_ns"),
            (r#"{"speed":1}"#, "speed"),
        ] {
            match ReplayOptions::from_json(text) {
                Err(RecordingError::BadOption { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn pacing_scales_with_the_rate() {
        let mut o = ReplayOptions::default();
        assert_eq!(o.due_after_ns(1_000), Some(1_000));
        o.rate = 2.0;
        assert_eq!(o.due_after_ns(1_000), Some(500));
        o.rate = 0.0;
        assert_eq!(o.due_after_ns(1_000), None);
    }
}
