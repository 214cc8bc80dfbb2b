//! Options of one recording (`storage_recording_start`'s `options_json`), on top of the
//! defaults from the context's `recording` configuration. Every refusal names its key.

use serde_json::{Map, Value};

use super::error::RecordingError;
use super::ring::DEFAULT_RING_MAX_BYTES;
use super::writer::ChunkLimits;

/// What to do with a message when the recorder's queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FullPolicy {
    /// Wait for room (the protocol worker slows down to disk speed).
    #[default]
    Block,
    /// Drop the message and count it (reported in events and the stop summary).
    Drop,
}

impl FullPolicy {
    /// Reads `"block"` or `"drop"`.
    pub fn parse(key: &str, value: &Value) -> Result<Self, RecordingError> {
        match value.as_str() {
            Some("block") => Ok(FullPolicy::Block),
            Some("drop") => Ok(FullPolicy::Drop),
            _ => Err(RecordingError::option(
                key,
                "expected \"block\" or \"drop\"",
            )),
        }
    }
}

/// Continuous recording or a ring buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every message goes to disk.
    Continuous,
    /// The last `window_ns` of messages, at most `max_bytes`, kept in memory until sealed.
    Ring {
        /// Time window.
        window_ns: u64,
        /// Byte cap.
        max_bytes: u64,
    },
}

/// Default ring window: 60 s.
pub const DEFAULT_WINDOW_SECS: u64 = 60;
/// Default recorder queue capacity (messages).
pub const DEFAULT_QUEUE_CAPACITY: usize = 8192;
/// Largest recorder queue capacity.
pub const MAX_QUEUE_CAPACITY: usize = 1_000_000;

/// Everything that shapes one recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingOptions {
    /// Channels to record; `None` records every channel.
    pub channels: Option<Vec<String>>,
    /// Also record messages this node sends (wrapped).
    pub record_sent: bool,
    /// Continuous or ring buffer.
    pub mode: Mode,
    /// Capacity of the queue in front of the recorder thread.
    pub queue_capacity: usize,
    /// What a full queue does.
    pub when_full: FullPolicy,
    /// When chunk files are sealed.
    pub chunk_limits: ChunkLimits,
}

impl Default for RecordingOptions {
    fn default() -> Self {
        Self {
            channels: None,
            record_sent: false,
            mode: Mode::Continuous,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            when_full: FullPolicy::Block,
            chunk_limits: ChunkLimits::default(),
        }
    }
}

/// The object of an options document; `None` for empty text or `null` (the defaults).
pub fn options_object(text: &str) -> Result<Option<Map<String, Value>>, RecordingError> {
    let text = text.trim();
    if text.is_empty() || text == "null" {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| RecordingError::option("(document)", e.to_string()))?;
    match value {
        Value::Object(map) => Ok(Some(map)),
        _ => Err(RecordingError::option(
            "(document)",
            "expected a JSON object",
        )),
    }
}

fn positive(key: &str, value: &Value) -> Result<u64, RecordingError> {
    match value.as_u64() {
        Some(n) if n > 0 => Ok(n),
        _ => Err(RecordingError::option(
            key,
            "expected an integer greater than 0",
        )),
    }
}

impl RecordingOptions {
    /// Reads `text` (a JSON object, or empty/`null` for the defaults) over `self`. Keys:
    /// `channels` (array of channel ids, or `"all"`), `record_sent` (bool), `mode`
    /// (`"continuous"` | `"ring"`), `window_secs`, `max_bytes` (ring only),
    /// `queue_capacity`, `when_full` (`"block"` | `"drop"`), `chunk_max_bytes`,
    /// `chunk_max_age_ms`, `flush_interval_ms`.
    pub fn with_json(mut self, text: &str) -> Result<Self, RecordingError> {
        if let Some(map) = options_object(text)? {
            self.apply(&map)?;
        }
        Ok(self)
    }

    fn apply(&mut self, map: &Map<String, Value>) -> Result<(), RecordingError> {
        let mut ring = false;
        let mut window_secs = None;
        let mut max_bytes = None;
        for (key, value) in map {
            match key.as_str() {
                "channels" => self.channels = channels(value)?,
                "record_sent" => {
                    self.record_sent = value
                        .as_bool()
                        .ok_or_else(|| RecordingError::option(key, "expected a boolean"))?;
                }
                "mode" => {
                    ring = match value.as_str() {
                        Some("continuous") => false,
                        Some("ring") => true,
                        _ => {
                            return Err(RecordingError::option(
                                key,
                                "expected \"continuous\" or \"ring\"",
                            ))
                        }
                    };
                }
                "window_secs" => window_secs = Some(positive(key, value)?),
                "max_bytes" => max_bytes = Some(positive(key, value)?),
                "queue_capacity" => {
                    let n = positive(key, value)?;
                    if n > MAX_QUEUE_CAPACITY as u64 {
                        return Err(RecordingError::option(
                            key,
                            format!("must be at most {MAX_QUEUE_CAPACITY}"),
                        ));
                    }
                    self.queue_capacity = n as usize;
                }
                "when_full" => self.when_full = FullPolicy::parse(key, value)?,
                "chunk_max_bytes" => self.chunk_limits.max_bytes = positive(key, value)?,
                "chunk_max_age_ms" => {
                    self.chunk_limits.max_age_ns = positive(key, value)?.saturating_mul(1_000_000);
                }
                "flush_interval_ms" => {
                    self.chunk_limits.flush_interval_ns =
                        positive(key, value)?.saturating_mul(1_000_000);
                }
                other => return Err(RecordingError::option(other, "unknown key")),
            }
        }
        if ring {
            self.mode = Mode::Ring {
                window_ns: window_secs
                    .unwrap_or(DEFAULT_WINDOW_SECS)
                    .saturating_mul(1_000_000_000),
                max_bytes: max_bytes.unwrap_or(DEFAULT_RING_MAX_BYTES),
            };
        } else if window_secs.is_some() {
            return Err(RecordingError::option(
                "window_secs",
                "only for \"mode\": \"ring\"",
            ));
        } else if max_bytes.is_some() {
            return Err(RecordingError::option(
                "max_bytes",
                "only for \"mode\": \"ring\"",
            ));
        }
        Ok(())
    }
}

fn channels(value: &Value) -> Result<Option<Vec<String>>, RecordingError> {
    const KEY: &str = "channels";
    match value {
        Value::String(s) if s == "all" => Ok(None),
        Value::Array(items) => items
            .iter()
            .map(|item| match item.as_str() {
                Some(id) if !id.is_empty() => Ok(id.to_owned()),
                _ => Err(RecordingError::option(
                    KEY,
                    "expected non-empty channel id strings",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(RecordingError::option(
            KEY,
            "expected \"all\" or an array of channel ids",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RecordingOptions, RecordingError> {
        RecordingOptions::default().with_json(text)
    }

    #[test]
    fn empty_gives_the_base_and_keys_reach_their_fields() {
        assert_eq!(parse(""), Ok(RecordingOptions::default()));
        assert_eq!(parse("null"), Ok(RecordingOptions::default()));
        let o = parse(
            r#"{"channels":["a","b"],"record_sent":true,"mode":"ring","window_secs":5,
            "max_bytes":1000,"queue_capacity":7,"when_full":"drop","chunk_max_bytes":99,
            "chunk_max_age_ms":3,"flush_interval_ms":4}"#,
        )
        .expect("valid");
        assert_eq!(o.channels, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert!(o.record_sent);
        assert_eq!(
            o.mode,
            Mode::Ring {
                window_ns: 5_000_000_000,
                max_bytes: 1000
            }
        );
        assert_eq!(o.queue_capacity, 7);
        assert_eq!(o.when_full, FullPolicy::Drop);
        assert_eq!(o.chunk_limits.max_bytes, 99);
        assert_eq!(o.chunk_limits.max_age_ns, 3_000_000);
        assert_eq!(o.chunk_limits.flush_interval_ns, 4_000_000);
        let ring = parse(r#"{"mode":"ring"}"#).expect("ring");
        assert_eq!(
            ring.mode,
            Mode::Ring {
                window_ns: 60_000_000_000,
                max_bytes: 256 * 1024 * 1024
            }
        );
    }

    #[test]
    fn refusals_name_the_key() {
        for (text, key) in [
            (r#"{"bogus":1}"#, "bogus"),
            (r#"{"channels":[1]}"#, "channels"),
            (r#"{"channels":""}"#, "channels"),
            (r#"{"record_sent":1}"#, "record_sent"),
            (r#"{"mode":"x"}"#, "mode"),
            (r#"{"mode":"ring","window_secs":0}"#, "window_secs"),
            (r#"{"window_secs":3}"#, "window_secs"),
            (r#"{"max_bytes":3}"#, "max_bytes"),
            (r#"{"queue_capacity":0}"#, "queue_capacity"),
            (r#"{"queue_capacity":1000001}"#, "queue_capacity"),
            (r#"{"when_full":"wait"}"#, "when_full"),
            (r#"{"chunk_max_bytes":-1}"#, "chunk_max_bytes"),
            (r#"{"flush_interval_ms":0}"#, "flush_interval_ms"),
            (r#"{"flush_interval_ms":"1s"}"#, "flush_interval_ms"),
            ("[1]", "(document)"),
            ("{", "(document)"),
        ] {
            match parse(text) {
                Err(RecordingError::BadOption { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
