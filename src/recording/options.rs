//! Options of one recording (`storage_recording_start`'s `options_json`), on top of the
//! defaults from the context's `recording` configuration. Every refusal names its key.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::error::RecordingError;
use super::ring::DEFAULT_RING_MAX_BYTES;
use super::writer::ChunkLimits;
use crate::strict_json::{self, ReadError};

/// What to do with a message when the recorder's queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum FullPolicy {
    /// Wait for room (the protocol worker slows down to disk speed).
    #[default]
    Block,
    /// Drop the message and count it (reported in events and the stop summary).
    Drop,
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
pub(crate) const DEFAULT_WINDOW_SECS: u64 = 60;
/// Default recorder queue capacity (messages).
pub(crate) const DEFAULT_QUEUE_CAPACITY: usize = 8192;
/// Largest recorder queue capacity.
pub(crate) const MAX_QUEUE_CAPACITY: usize = 1_000_000;

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

/// The options document of `storage_recording_start` (also the keys of
/// `recording.autostart` beside its `name`). Every key is optional and overrides the
/// recording's default, which the context's `recording` section sets.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct StartOptions {
    /// The channels to record: `"all"` (default) or an array of channel ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Channels>,
    /// Also record the messages this context sends (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_sent: Option<bool>,
    /// `"continuous"` (default: every message goes to disk) or `"ring"` (the last
    /// window kept in memory until sealed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ModeName>,
    /// Ring buffer only: the window kept, in seconds (default 60).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_secs: Option<u64>,
    /// Ring buffer only: the most bytes kept (default 256 MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// Messages the queue in front of the recorder thread holds (1 to 1 000 000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_capacity: Option<usize>,
    /// What a full queue does: `"block"` (wait for room) or `"drop"` (drop and count).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when_full: Option<FullPolicy>,
    /// Chunk files are sealed at this size, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_max_bytes: Option<u64>,
    /// ... or at this age, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk_max_age_ms: Option<u64>,
    /// No message waits longer than this, in milliseconds, before it is in its file in a
    /// complete, synced MCAP chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush_interval_ms: Option<u64>,
}

/// `mode` of a recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum ModeName {
    /// Every message goes to disk.
    Continuous,
    /// The last window of messages is kept in memory until sealed.
    Ring,
}

/// `channels` of a recording: `"all"`, or the channel ids to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channels {
    /// Every channel.
    All,
    /// Only these (non-empty) channel ids.
    Only(Vec<String>),
}

impl Serialize for Channels {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Channels::All => serializer.serialize_str("all"),
            Channels::Only(ids) => ids.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Channels {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Reads `"all"` or an array of non-empty ids.
        struct ChannelsVisitor;

        impl<'de> Visitor<'de> for ChannelsVisitor {
            type Value = Channels;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"all\" or an array of channel ids")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Channels, E> {
                match s {
                    "all" => Ok(Channels::All),
                    _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
                }
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Channels, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = items.next_element::<String>()? {
                    if id.is_empty() {
                        return Err(de::Error::custom("channel ids must not be empty"));
                    }
                    ids.push(id);
                }
                Ok(Channels::Only(ids))
            }
        }

        deserializer.deserialize_any(ChannelsVisitor)
    }
}

#[cfg(test)]
impl schemars::JsonSchema for Channels {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Channels".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`\"all\"` or an array of channel ids",
            "oneOf": [{"const": "all"}, {"type": "array", "items": {"type": "string"}}]
        })
    }
}

/// An options document (a JSON object, or empty text or `null` for none), read as `T`;
/// refusals are [`RecordingError::BadOption`] naming the key.
pub(crate) fn read_options<T: Default + serde::de::DeserializeOwned>(
    text: &str,
) -> Result<T, RecordingError> {
    let text = text.trim();
    if text.is_empty() || text == "null" {
        return Ok(T::default());
    }
    let value = strict_json::parse(text).map_err(bad_option)?;
    if !value.is_object() {
        return Err(RecordingError::option(DOCUMENT, "expected a JSON object"));
    }
    strict_json::read(&value).map_err(bad_option)
}

/// Key reported for errors about an options document as a whole.
const DOCUMENT: &str = "(document)";

/// The [`RecordingError::BadOption`] of a refused options document.
fn bad_option(error: ReadError) -> RecordingError {
    match error {
        ReadError::Document(reason) => RecordingError::option(DOCUMENT, reason),
        ReadError::UnknownKey(path) => RecordingError::option(&path, "unknown key"),
        ReadError::Invalid { path, reason } => RecordingError::option(&path, reason),
    }
}

/// `value`, refused under `key` unless greater than 0.
fn positive(key: &str, value: u64) -> Result<u64, RecordingError> {
    if value > 0 {
        Ok(value)
    } else {
        Err(RecordingError::option(key, "must be greater than 0"))
    }
}

impl RecordingOptions {
    /// Reads `text` (a `StartOptions` JSON object, or empty/`null` for the defaults)
    /// over `self`.
    pub fn with_json(self, text: &str) -> Result<Self, RecordingError> {
        self.with(&read_options(text)?)
    }

    /// `self` with the keys `options` sets.
    pub fn with(mut self, options: &StartOptions) -> Result<Self, RecordingError> {
        if let Some(channels) = &options.channels {
            self.channels = match channels {
                Channels::All => None,
                Channels::Only(ids) => Some(ids.clone()),
            };
        }
        if let Some(record_sent) = options.record_sent {
            self.record_sent = record_sent;
        }
        if let Some(capacity) = options.queue_capacity {
            if !(1..=MAX_QUEUE_CAPACITY).contains(&capacity) {
                return Err(RecordingError::option(
                    "queue_capacity",
                    format!("must be between 1 and {MAX_QUEUE_CAPACITY}"),
                ));
            }
            self.queue_capacity = capacity;
        }
        if let Some(when_full) = options.when_full {
            self.when_full = when_full;
        }
        if let Some(bytes) = options.chunk_max_bytes {
            self.chunk_limits.max_bytes = positive("chunk_max_bytes", bytes)?;
        }
        if let Some(ms) = options.chunk_max_age_ms {
            self.chunk_limits.max_age_ns =
                positive("chunk_max_age_ms", ms)?.saturating_mul(1_000_000);
        }
        if let Some(ms) = options.flush_interval_ms {
            self.chunk_limits.flush_interval_ns =
                positive("flush_interval_ms", ms)?.saturating_mul(1_000_000);
        }
        let window_secs = options
            .window_secs
            .map(|s| positive("window_secs", s))
            .transpose()?;
        let max_bytes = options
            .max_bytes
            .map(|b| positive("max_bytes", b))
            .transpose()?;
        if options.mode == Some(ModeName::Ring) {
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
        } else if options.mode == Some(ModeName::Continuous) {
            self.mode = Mode::Continuous;
        }
        Ok(self)
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
