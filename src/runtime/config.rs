//! The one JSON configuration document of a context: protocol knobs, timers, queue
//! capacities, persistence and recordings.
//!
//! Every key is optional. The document is declared by the types it is read into, each
//! key spelled exactly like the Rust field it sets:
//!
//! - top level: the [`ProtocolConfig`], [`TimerConfig`] and [`QueueConfig`] fields, side
//!   by side, and the two sections;
//! - `persistence`: [`PersistenceSection`] (`kind`, `path`, `durability`), checked into a
//!   [`PersistenceConfig`];
//! - `recording`: [`RecordingConfig`], where recordings live, the defaults of each
//!   recording, and an [`Autostart`] recording;
//! - `restart`: [`RestartSection`], the worker's restart policy, checked into a
//!   [`RestartPolicy`];
//! - `upload`: [`UploadOptions`], the bucket recordings go up to; present, it starts the
//!   context's background uploader (secrets are redacted when the document is echoed).
//!
//! `crate::strict_json` reads them, so that every refusal (unknown key, wrong type,
//! out-of-range value) names the key by its path; each section's `validate` then checks
//! what one value alone cannot say.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::shorten::shorten;
use crate::strict_json::{self, ReadError, Sections};

use crate::protocol::config::{ConfigError, ProtocolConfig};
use crate::recording::name::{validate_name, MAX_NAME_LEN};
use crate::recording::options::{
    FullPolicy, RecordingOptions, MAX_QUEUE_CAPACITY as MAX_RECORDER_QUEUE,
};
use crate::recording::upload::UploadOptions;
use crate::recording::RecordingError;

use super::restart::{RestartPolicy, RestartSection};

/// Everything a context is configured with, parsed from one JSON object.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ContextConfig {
    /// SDS and SDS-R parameters.
    #[serde(flatten)]
    pub protocol: ProtocolConfig,
    /// Periods of the worker thread's sweeps.
    #[serde(flatten)]
    pub timers: TimerConfig,
    /// Capacities of the worker thread's queues.
    #[serde(flatten)]
    pub queues: QueueConfig,
    /// Where protocol state is persisted.
    #[serde(serialize_with = "PersistenceSection::serialize_config")]
    pub persistence: PersistenceConfig,
    /// Where recordings live, and their defaults.
    pub recording: RecordingConfig,
    /// How many panics of the worker the context survives.
    #[serde(serialize_with = "RestartSection::serialize_policy")]
    pub restart: RestartPolicy,
    /// Where recordings go up to; absent: nothing is uploaded in the background.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadOptions>,
}

/// The `recording` section: the root folder of recordings and the defaults every
/// recording starts from (`storage_recording_start`'s options override them).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct RecordingConfig {
    /// Folder holding one sub-folder per recording; it must exist. Absent: recordings
    /// are off for this context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Messages the queue in front of each recorder thread holds (1 to 1 000 000).
    pub queue_capacity: usize,
    /// What a full recorder queue does: `"block"` (wait for room) or `"drop"` (drop the
    /// message and count it).
    pub when_full: FullPolicy,
    /// Chunk files are sealed at this size, in bytes.
    pub chunk_max_bytes: u64,
    /// ... or at this age, in milliseconds.
    pub chunk_max_age_ms: u64,
    /// No message waits longer than this, in milliseconds, before it is in its file in a
    /// complete, synced MCAP chunk, which crash recovery reseals.
    pub flush_interval_ms: u64,
    /// A recording the context starts by itself (default none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autostart: Option<Autostart>,
}

/// `recording.autostart`: a recording started when the context starts, right after crash
/// recovery, exactly as if `storage_recording_start` had been called then: a `name`, and
/// beside it any of `storage_recording_start`'s options.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(from = "AutostartSection", into = "AutostartSection")]
pub struct Autostart {
    /// Prefix of the recording's name: the recording is `{name}-{unix_ms}`, `unix_ms`
    /// being the context's clock at start, so a restarted context never collides with
    /// the recording of its previous run.
    pub name: String,
    /// The object's other keys, as a JSON object: `storage_recording_start`'s options,
    /// read by the same parser over the section's defaults.
    pub options_json: String,
}

/// `recording.autostart` as written: its `name`, and the recording options beside it
/// (checked by [`Autostart::validate`], which names the offending one).
#[derive(Deserialize, Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
struct AutostartSection {
    /// Prefix of the recording's name (the recording-name alphabet, at most 107
    /// characters): the recording is `{name}-{unix_ms}`.
    name: String,
    /// Any of `storage_recording_start`'s options.
    #[serde(flatten)]
    options: Map<String, Value>,
}

impl From<AutostartSection> for Autostart {
    fn from(section: AutostartSection) -> Self {
        Self {
            name: section.name,
            options_json: Value::Object(section.options).to_string(),
        }
    }
}

impl From<Autostart> for AutostartSection {
    fn from(autostart: Autostart) -> Self {
        Self {
            name: autostart.name,
            options: serde_json::from_str(&autostart.options_json).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
impl schemars::JsonSchema for Autostart {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        AutostartSection::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        AutostartSection::json_schema(generator)
    }
}

/// Longest `recording.autostart.name`: room is left for `-` and any 64-bit time in ms,
/// so every generated name is a valid recording name.
pub(crate) const MAX_AUTOSTART_NAME_LEN: usize = MAX_NAME_LEN - 1 - 20;

impl Autostart {
    /// The name of the recording started at `now_ms` (Unix ms).
    pub fn recording_name(&self, now_ms: u64) -> String {
        format!("{}-{now_ms}", self.name)
    }

    /// Checks the name and the options; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const NAME: &str = "recording.autostart.name";
        validate_name(&self.name).map_err(|e| ConfigError::new(NAME, e.to_string()))?;
        if self.name.len() > MAX_AUTOSTART_NAME_LEN {
            return Err(ConfigError::new(
                NAME,
                format!(
                    "must be at most {MAX_AUTOSTART_NAME_LEN} characters, so that \
                     `-{{unix_ms}}` fits in a recording name"
                ),
            ));
        }
        // Checked now, so a bad option refuses the configuration instead of failing the
        // start; the values do not depend on the base the options apply to.
        match RecordingOptions::default().with_json(&self.options_json) {
            Ok(_) => Ok(()),
            Err(RecordingError::BadOption { key, reason }) => Err(ConfigError::new(
                AUTOSTART,
                format!("`{AUTOSTART}.{}`: {reason}", shorten(&key)),
            )),
            Err(other) => Err(ConfigError::new(AUTOSTART, other.to_string())),
        }
    }
}

/// The key of the autostart object.
const AUTOSTART: &str = "recording.autostart";

impl Default for RecordingConfig {
    fn default() -> Self {
        let base = RecordingOptions::default();
        Self {
            root: None,
            queue_capacity: base.queue_capacity,
            when_full: base.when_full,
            chunk_max_bytes: base.chunk_limits.max_bytes,
            chunk_max_age_ms: base.chunk_limits.max_age_ns / 1_000_000,
            flush_interval_ms: base.chunk_limits.flush_interval_ns / 1_000_000,
            autostart: None,
        }
    }
}

impl RecordingConfig {
    /// The options a recording starts from.
    pub fn base_options(&self) -> RecordingOptions {
        let mut options = RecordingOptions {
            queue_capacity: self.queue_capacity,
            when_full: self.when_full,
            ..RecordingOptions::default()
        };
        options.chunk_limits.max_bytes = self.chunk_max_bytes;
        options.chunk_limits.max_age_ns = self.chunk_max_age_ms.saturating_mul(1_000_000);
        options.chunk_limits.flush_interval_ns = self.flush_interval_ms.saturating_mul(1_000_000);
        options
    }

    /// Checks the values; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.root.as_deref() == Some("") {
            return Err(ConfigError::new("recording.root", "must not be empty"));
        }
        if !(1..=MAX_RECORDER_QUEUE).contains(&self.queue_capacity) {
            return Err(ConfigError::new(
                "recording.queue_capacity",
                format!("must be between 1 and {MAX_RECORDER_QUEUE}"),
            ));
        }
        let positive = [
            ("recording.chunk_max_bytes", self.chunk_max_bytes),
            ("recording.chunk_max_age_ms", self.chunk_max_age_ms),
            ("recording.flush_interval_ms", self.flush_interval_ms),
        ];
        if let Some((key, _)) = positive.into_iter().find(|&(_, value)| value == 0) {
            return Err(ConfigError::new(key, "must be greater than 0"));
        }
        match &self.autostart {
            Some(_) if self.root.is_none() => Err(ConfigError::new(
                AUTOSTART,
                "needs `recording.root`: there is nowhere to record",
            )),
            Some(autostart) => autostart.validate(),
            None => Ok(()),
        }
    }
}

/// Periods of the sweeps the worker thread runs, in milliseconds.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TimerConfig {
    /// Period of sync messages on every channel.
    pub sync_interval_ms: u64,
    /// Period of the outgoing-buffer sweep (resends and expiries; nim-sds's
    /// `bufferSweepInterval`).
    pub outgoing_sweep_interval_ms: u64,
    /// Period of the incoming-buffer sweep (dependency timeouts).
    pub incoming_sweep_interval_ms: u64,
    /// Period of the SDS-R repair sweep.
    pub repair_sweep_interval_ms: u64,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            sync_interval_ms: 30_000,
            outgoing_sweep_interval_ms: 60_000,
            incoming_sweep_interval_ms: 10_000,
            repair_sweep_interval_ms: 5_000,
        }
    }
}

/// Capacities of the worker thread's bounded queues.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct QueueConfig {
    /// Requests waiting for the worker thread (1 to 1 000 000).
    pub request_queue_capacity: usize,
    /// Events waiting to be handed to the host (1 to 1 000 000); beyond it events are
    /// dropped and counted by an `event_queue_overflow` event.
    pub event_queue_capacity: usize,
    /// Bytes of message data the queued requests may hold together: beyond it a host
    /// thread waits, as for a full queue. One request is always let in.
    pub request_queue_max_bytes: usize,
    /// Bytes the queued events may hold together: beyond it events are dropped and
    /// counted, as for a full queue. One event is always let in.
    pub event_queue_max_bytes: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            request_queue_capacity: 1024,
            event_queue_capacity: 4096,
            request_queue_max_bytes: 64 * 1024 * 1024,
            event_queue_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Largest capacity a queue may be configured with.
pub(crate) const MAX_QUEUE_CAPACITY: usize = 1_000_000;

/// Where a context persists its protocol state.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum PersistenceConfig {
    /// Nothing is persisted (default).
    #[default]
    None,
    /// An in-memory store, lost with the process.
    Memory,
    /// A SQLite database file.
    Sqlite {
        /// Path of the database file.
        path: String,
        /// How hard commits are pushed to disk.
        durability: Durability,
    },
}

/// How hard a durable backend pushes each commit to disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum Durability {
    /// Every commit is synced before it returns (SQLite `synchronous = FULL`; default):
    /// survives power loss and OS crashes.
    #[default]
    Full,
    /// Commits may be lost, never corrupted, on power loss (SQLite `synchronous = NORMAL`).
    Normal,
}

/// The backend `persistence.kind` names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum PersistenceKind {
    /// Nothing is persisted.
    #[default]
    None,
    /// State kept for the life of the context (tests).
    Memory,
    /// An embedded SQLite database at `path`.
    Sqlite,
}

/// The `persistence` section as written; [`Self::into_config`] checks which keys go
/// together.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct PersistenceSection {
    /// The backend.
    pub kind: PersistenceKind,
    /// `"sqlite"` only, required: the database file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `"sqlite"` only: what a committed operation survives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub durability: Option<Durability>,
}

impl PersistenceSection {
    /// The configuration the section describes; the error names the key.
    pub fn into_config(self) -> Result<PersistenceConfig, ConfigError> {
        let only_sqlite = "only allowed when persistence.kind is \"sqlite\"";
        match (self.kind, self.path) {
            (PersistenceKind::Sqlite, Some(path)) if path.is_empty() => {
                Err(ConfigError::new("persistence.path", "must not be empty"))
            }
            (PersistenceKind::Sqlite, Some(path)) => Ok(PersistenceConfig::Sqlite {
                path,
                durability: self.durability.unwrap_or_default(),
            }),
            (PersistenceKind::Sqlite, None) => Err(ConfigError::new(
                "persistence.path",
                "required when persistence.kind is \"sqlite\"",
            )),
            (_, Some(_)) => Err(ConfigError::new("persistence.path", only_sqlite)),
            _ if self.durability.is_some() => {
                Err(ConfigError::new("persistence.durability", only_sqlite))
            }
            (PersistenceKind::Memory, None) => Ok(PersistenceConfig::Memory),
            (PersistenceKind::None, None) => Ok(PersistenceConfig::None),
        }
    }

    /// The section that configures `config`.
    pub fn from_config(config: &PersistenceConfig) -> Self {
        match config {
            PersistenceConfig::None => Self::default(),
            PersistenceConfig::Memory => Self {
                kind: PersistenceKind::Memory,
                ..Self::default()
            },
            PersistenceConfig::Sqlite { path, durability } => Self {
                kind: PersistenceKind::Sqlite,
                path: Some(path.clone()),
                durability: Some(*durability),
            },
        }
    }

    fn serialize_config<S: serde::Serializer>(
        config: &PersistenceConfig,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        Self::from_config(config).serialize(serializer)
    }
}

/// The two sections of the document beside its top-level keys.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct NestedSections {
    persistence: PersistenceSection,
    recording: RecordingConfig,
    restart: RestartSection,
    upload: Option<UploadOptions>,
}

impl TimerConfig {
    /// Checks that every interval is greater than 0; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let intervals = [
            ("sync_interval_ms", self.sync_interval_ms),
            (
                "outgoing_sweep_interval_ms",
                self.outgoing_sweep_interval_ms,
            ),
            (
                "incoming_sweep_interval_ms",
                self.incoming_sweep_interval_ms,
            ),
            ("repair_sweep_interval_ms", self.repair_sweep_interval_ms),
        ];
        match intervals.into_iter().find(|&(_, value)| value == 0) {
            Some((key, _)) => Err(ConfigError::new(key, "must be greater than 0")),
            None => Ok(()),
        }
    }
}

impl QueueConfig {
    /// Checks that every capacity is in `1..=MAX_QUEUE_CAPACITY`; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let capacities = [
            ("request_queue_capacity", self.request_queue_capacity),
            ("event_queue_capacity", self.event_queue_capacity),
        ];
        for (key, value) in capacities {
            if !(1..=MAX_QUEUE_CAPACITY).contains(&value) {
                return Err(ConfigError::new(
                    key,
                    format!("must be between 1 and {MAX_QUEUE_CAPACITY}"),
                ));
            }
        }
        let sizes = [
            ("request_queue_max_bytes", self.request_queue_max_bytes),
            ("event_queue_max_bytes", self.event_queue_max_bytes),
        ];
        match sizes.into_iter().find(|&(_, value)| value == 0) {
            Some((key, _)) => Err(ConfigError::new(key, "must be greater than 0")),
            None => Ok(()),
        }
    }
}

impl ContextConfig {
    /// Parses and validates a configuration document; `""` or `{}` give the defaults.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        if text.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
            return Ok(Self::default());
        }
        let document = Scrubbed(strict_json::parse(text).map_err(refusal)?);
        let document = &document.0;
        if !document.is_object() {
            return Err(ConfigError::new(
                DOCUMENT,
                format!(
                    "expected a JSON object, got {}",
                    strict_json::describe(document)
                ),
            ));
        }
        let sections = Sections::new(document);
        let protocol = sections.read().map_err(refusal)?;
        let timers = sections.read().map_err(refusal)?;
        let queues = sections.read().map_err(refusal)?;
        let nested: NestedSections = sections.read().map_err(refusal)?;
        sections.finish().map_err(refusal)?;
        let config = Self {
            protocol,
            timers,
            queues,
            persistence: nested.persistence.into_config()?,
            recording: nested.recording,
            restart: nested.restart.into_policy()?,
            upload: nested.upload,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every section; the error names the first offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.protocol.validate()?;
        self.timers.validate()?;
        self.queues.validate()?;
        if let PersistenceConfig::Sqlite { path, .. } = &self.persistence {
            if path.is_empty() {
                return Err(ConfigError::new("persistence.path", "must not be empty"));
            }
        }
        self.recording.validate()?;
        if let Some(upload) = &self.upload {
            if self.recording.root.is_none() {
                return Err(ConfigError::new(
                    "upload",
                    "needs recording.root: there is nothing to upload without recordings",
                ));
            }
            let checked = upload.retry_policy().and_then(|_| upload.part_size());
            checked.map_err(|e| ConfigError::new("upload", e.message))?;
        }
        Ok(())
    }
}

/// A parsed document whose `upload` strings (secrets among them) are zeroed when it is
/// dropped: they live in memory no longer than the parse, whatever way it ends.
struct Scrubbed(Value);

impl Drop for Scrubbed {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(Value::Object(upload)) = self.0.get_mut("upload") {
            for value in upload.values_mut() {
                if let Value::String(text) = value {
                    text.zeroize();
                }
            }
        }
    }
}

/// Key reported for errors about the document as a whole (malformed JSON, not an object).
const DOCUMENT: &str = "(document)";
/// Key reported for keys the configuration does not know; the reason names them.
const UNKNOWN_KEY: &str = "(unknown key)";

/// The [`ConfigError`] of a refused document.
fn refusal(error: ReadError) -> ConfigError {
    match error {
        ReadError::Document(reason) => ConfigError::new(DOCUMENT, reason),
        ReadError::UnknownKey(path) => {
            ConfigError::new(UNKNOWN_KEY, format!("unknown key `{}`", shorten(&path)))
        }
        ReadError::Invalid { path, reason } => ConfigError::new(shorten(&path), reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::config::LamportUnit;
    use crate::protocol::WireFormat;
    use proptest::prelude::*;
    use serde_json::json;

    /// Every key set to a value other than its default.
    const FULL: &str = r#"{
        "participant_id": "alice",
        "bloom_capacity": 20000,
        "bloom_error_rate": 0.01,
        "max_message_history": 2000,
        "max_history_bytes": 1048576,
        "max_causal_history": 20,
        "resend_interval_ms": 30000,
        "max_resend_attempts": 7,
        "bloom_acks_to_confirm": 3,
        "max_dependency_wait_ms": 120000,
        "lamport_unit": "seconds",
        "repair_t_min_ms": 1000,
        "repair_t_max_ms": 2000,
        "num_response_groups": 4,
        "max_repair_requests": 5,
        "max_channels": 16,
        "max_incoming_buffer": 500,
        "max_incoming_buffer_bytes": 2097152,
        "max_outgoing_buffer": 600,
        "max_repair_buffer": 700,
        "max_wire_message_size": 8388608,
        "memory_budget_bytes": 100000000,
        "max_received_causal_history": 50,
        "max_received_repair_requests": 9,
        "max_id_bytes": 300,
        "max_lamport_lead_ms": 60000,
        "wire_format": "spec",
        "channel_wire_formats": {"robots": "nim"},
        "sync_interval_ms": 1500,
        "outgoing_sweep_interval_ms": 2500,
        "incoming_sweep_interval_ms": 3500,
        "repair_sweep_interval_ms": 4500,
        "request_queue_capacity": 10,
        "event_queue_capacity": 20,
        "request_queue_max_bytes": 30,
        "event_queue_max_bytes": 40,
        "persistence": {"kind": "sqlite", "path": "/var/lib/storage.db", "durability": "normal"},
        "recording": {"root": "/var/lib/rec", "queue_capacity": 100, "when_full": "drop",
            "chunk_max_bytes": 1000, "chunk_max_age_ms": 5000, "flush_interval_ms": 250,
            "autostart": {"name": "robot-1", "channels": ["odom"], "record_sent": true}},
        "restart": {"policy": "bounded", "max_restarts": 3, "within_ms": 60000},
        "upload": {"endpoint": "http://127.0.0.1:9000", "bucket": "fleet", "concurrency": 4}
    }"#;

    fn full_expected() -> ContextConfig {
        ContextConfig {
            protocol: ProtocolConfig {
                participant_id: "alice".into(),
                bloom_capacity: 20_000,
                bloom_error_rate: 0.01,
                max_message_history: 2000,
                max_history_bytes: 1_048_576,
                max_causal_history: 20,
                resend_interval_ms: 30_000,
                max_resend_attempts: 7,
                bloom_acks_to_confirm: 3,
                max_dependency_wait_ms: 120_000,
                lamport_unit: LamportUnit::Seconds,
                repair_t_min_ms: 1000,
                repair_t_max_ms: 2000,
                num_response_groups: 4,
                max_repair_requests: 5,
                max_channels: 16,
                max_incoming_buffer: 500,
                max_incoming_buffer_bytes: 2_097_152,
                max_outgoing_buffer: 600,
                max_repair_buffer: 700,
                max_wire_message_size: 8_388_608,
                memory_budget_bytes: 100_000_000,
                max_received_causal_history: 50,
                max_received_repair_requests: 9,
                max_id_bytes: 300,
                max_lamport_lead_ms: 60_000,
                wire_format: WireFormat::Spec,
                channel_wire_formats: [("robots".to_owned(), WireFormat::Nim)].into(),
            },
            timers: TimerConfig {
                sync_interval_ms: 1500,
                outgoing_sweep_interval_ms: 2500,
                incoming_sweep_interval_ms: 3500,
                repair_sweep_interval_ms: 4500,
            },
            queues: QueueConfig {
                request_queue_capacity: 10,
                event_queue_capacity: 20,
                request_queue_max_bytes: 30,
                event_queue_max_bytes: 40,
            },
            persistence: PersistenceConfig::Sqlite {
                path: "/var/lib/storage.db".into(),
                durability: Durability::Normal,
            },
            recording: RecordingConfig {
                root: Some("/var/lib/rec".into()),
                queue_capacity: 100,
                when_full: FullPolicy::Drop,
                chunk_max_bytes: 1000,
                chunk_max_age_ms: 5000,
                flush_interval_ms: 250,
                autostart: Some(Autostart {
                    name: "robot-1".into(),
                    options_json: json!({"channels": ["odom"], "record_sent": true}).to_string(),
                }),
            },
            restart: RestartPolicy::Bounded {
                max_restarts: 3,
                within_ms: 60_000,
            },
            upload: Some(UploadOptions {
                endpoint: Some("http://127.0.0.1:9000".into()),
                bucket: Some("fleet".into()),
                concurrency: Some(4),
                ..UploadOptions::default()
            }),
        }
    }

    /// The document that configures exactly `config`.
    fn to_json(config: &ContextConfig) -> String {
        serde_json::to_string(config).expect("a configuration serializes")
    }

    /// Every top-level key of the document, as its declarations serialize it.
    fn top_level_keys() -> Vec<String> {
        let mut config = ContextConfig::default();
        config.recording.root = Some("/r".into());
        config.upload = Some(UploadOptions::default());
        let Ok(Value::Object(map)) = serde_json::to_value(&config) else {
            panic!("a configuration serializes to an object");
        };
        map.keys().cloned().collect()
    }

    /// Asserts that `text` is refused under `key` and that the message names `name`.
    fn assert_refused(text: &str, key: &str, name: &str) -> ConfigError {
        let err = match ContextConfig::from_json(text) {
            Ok(config) => panic!("accepted {text}: {config:?}"),
            Err(err) => err,
        };
        assert_eq!(err.key, key, "{text}: {err}");
        assert!(err.to_string().contains(name), "{text}: {err}");
        err
    }

    /// Asserts that `{"<key>": <value>}` is refused naming `key`.
    fn assert_value_refused(key: &str, value: &str) -> ConfigError {
        assert_refused(&format!("{{\"{key}\": {value}}}"), key, key)
    }

    #[test]
    fn empty_text_and_empty_object_give_the_defaults() {
        for text in ["", " \n\t\r ", "{}", " { } "] {
            assert_eq!(ContextConfig::from_json(text), Ok(ContextConfig::default()));
        }
        let defaults = ContextConfig::default();
        assert_eq!(defaults.protocol, ProtocolConfig::default());
        assert_eq!(defaults.timers.sync_interval_ms, 30_000);
        assert_eq!(defaults.timers.outgoing_sweep_interval_ms, 60_000);
        assert_eq!(defaults.timers.incoming_sweep_interval_ms, 10_000);
        assert_eq!(defaults.timers.repair_sweep_interval_ms, 5_000);
        assert_eq!(defaults.queues.request_queue_capacity, 1024);
        assert_eq!(defaults.queues.event_queue_capacity, 4096);
        assert_eq!(defaults.persistence, PersistenceConfig::None);
        assert_eq!(defaults.recording, RecordingConfig::default());
        assert_eq!(defaults.recording.root, None);
        assert_eq!(Durability::default(), Durability::Full);
    }

    #[test]
    fn every_key_reaches_its_field() {
        assert_eq!(ContextConfig::from_json(FULL), Ok(full_expected()));
    }

    #[test]
    fn the_full_document_covers_every_key_and_each_one_matters() {
        let Ok(Value::Object(full)) = serde_json::from_str::<Value>(FULL) else {
            panic!("FULL is not a JSON object");
        };
        let mut in_doc: Vec<&str> = full.keys().map(String::as_str).collect();
        let known = top_level_keys();
        let mut known: Vec<&str> = known.iter().map(String::as_str).collect();
        in_doc.sort_unstable();
        known.sort_unstable();
        assert_eq!(in_doc, known);
        // Dropping any one key changes the result: each was set to a non-default value.
        for key in full.keys() {
            let mut without = full.clone();
            without.remove(key);
            let parsed = ContextConfig::from_json(&Value::Object(without).to_string());
            assert_ne!(parsed, Ok(full_expected()), "{key} has no effect");
        }
    }

    #[test]
    fn restart_policies_and_their_refusals() {
        let parse = |text: &str| ContextConfig::from_json(text).map(|c| c.restart);
        assert_eq!(parse("{}"), Ok(RestartPolicy::Once));
        assert_eq!(parse(r#"{"restart": {}}"#), Ok(RestartPolicy::Once));
        assert_eq!(
            parse(r#"{"restart": {"policy": "once"}}"#),
            Ok(RestartPolicy::Once)
        );
        assert_eq!(
            parse(r#"{"restart": {"policy": "bounded", "max_restarts": 0, "within_ms": 1}}"#),
            Ok(RestartPolicy::Bounded {
                max_restarts: 0,
                within_ms: 1
            })
        );
        for (text, key) in [
            (r#"{"restart": {"policy": "always"}}"#, "restart.policy"),
            (r#"{"restart": {"policy": 1}}"#, "restart.policy"),
            (r#"{"restart": "once"}"#, "restart"),
            (
                r#"{"restart": {"policy": "once", "max_restarts": 2}}"#,
                "restart.max_restarts",
            ),
            (r#"{"restart": {"within_ms": 2}}"#, "restart.within_ms"),
            (
                r#"{"restart": {"policy": "bounded", "within_ms": 2}}"#,
                "restart.max_restarts",
            ),
            (
                r#"{"restart": {"policy": "bounded", "max_restarts": 2}}"#,
                "restart.within_ms",
            ),
            (
                r#"{"restart": {"policy": "bounded", "max_restarts": 2, "within_ms": 0}}"#,
                "restart.within_ms",
            ),
            (
                r#"{"restart": {"policy": "bounded", "max_restarts": -1, "within_ms": 5}}"#,
                "restart.max_restarts",
            ),
        ] {
            assert_refused(text, key, key);
        }
        assert_refused(
            r#"{"restart": {"policy": "once", "backoff_ms": 5}}"#,
            UNKNOWN_KEY,
            "restart.backoff_ms",
        );
    }

    #[test]
    fn persistence_kinds() {
        let parse = |text: &str| ContextConfig::from_json(text).map(|c| c.persistence);
        assert_eq!(parse(r#"{"persistence": {}}"#), Ok(PersistenceConfig::None));
        assert_eq!(
            parse(r#"{"persistence": {"kind": "none"}}"#),
            Ok(PersistenceConfig::None)
        );
        assert_eq!(
            parse(r#"{"persistence": {"kind": "memory"}}"#),
            Ok(PersistenceConfig::Memory)
        );
        assert_eq!(
            parse(r#"{"persistence": {"kind": "sqlite", "path": "a.db"}}"#),
            Ok(PersistenceConfig::Sqlite {
                path: "a.db".into(),
                durability: Durability::Full,
            })
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = assert_refused(r#"{"bloom_capasity": 10}"#, UNKNOWN_KEY, "bloom_capasity");
        assert_eq!(err.reason, "unknown key `bloom_capasity`");
        assert_refused(
            r#"{"persistence": {"kind": "memory", "size": 1}}"#,
            UNKNOWN_KEY,
            "persistence.size",
        );
        // Nested sections are not flattened: a protocol key inside persistence is unknown.
        assert_refused(
            r#"{"persistence": {"bloom_capacity": 1}}"#,
            UNKNOWN_KEY,
            "persistence.bloom_capacity",
        );
        let long = "k".repeat(10_000);
        let err = assert_refused(&format!("{{\"{long}\": 1}}"), UNKNOWN_KEY, "kkkk");
        assert!(err.reason.len() < 200, "{}", err.reason);
    }

    #[test]
    fn wrong_types_are_named() {
        for (key, value) in [
            ("bloom_capacity", r#""10""#),
            ("resend_interval_ms", "true"),
            ("max_channels", "null"),
            ("participant_id", "5"),
            ("bloom_error_rate", r#""0.1""#),
            ("lamport_unit", "1"),
            ("persistence", r#""memory""#),
            ("recording", "[1]"),
            ("recording", "null"),
            ("sync_interval_ms", "[]"),
        ] {
            let err = assert_value_refused(key, value);
            assert!(err.reason.starts_with("expected "), "{err}");
        }
        let text = r#"{"persistence": {"kind": 1}}"#;
        assert_refused(text, "persistence.kind", "persistence.kind");
        let text = r#"{"persistence": {"kind": "sqlite", "path": 1}}"#;
        assert_refused(text, "persistence.path", "persistence.path");
    }

    #[test]
    fn recording_section_refusals_name_the_key() {
        for (text, key) in [
            (r#"{"recording": {"root": 1}}"#, "recording.root"),
            (r#"{"recording": {"root": ""}}"#, "recording.root"),
            (
                r#"{"recording": {"queue_capacity": 0}}"#,
                "recording.queue_capacity",
            ),
            (
                r#"{"recording": {"queue_capacity": -1}}"#,
                "recording.queue_capacity",
            ),
            (
                r#"{"recording": {"when_full": "wait"}}"#,
                "recording.when_full",
            ),
            (
                r#"{"recording": {"chunk_max_bytes": 0}}"#,
                "recording.chunk_max_bytes",
            ),
            (
                r#"{"recording": {"chunk_max_age_ms": "1"}}"#,
                "recording.chunk_max_age_ms",
            ),
            (
                r#"{"recording": {"flush_interval_ms": 0}}"#,
                "recording.flush_interval_ms",
            ),
            (
                r#"{"recording": {"flush_interval_ms": 1.5}}"#,
                "recording.flush_interval_ms",
            ),
        ] {
            assert_refused(text, key, key);
        }
        assert_refused(
            r#"{"recording": {"folder": "x"}}"#,
            UNKNOWN_KEY,
            "recording.folder",
        );
        let config = ContextConfig::from_json(r#"{"recording": {"root": "/r"}}"#);
        let base = config.map(|c| c.recording.base_options());
        assert_eq!(base, Ok(RecordingOptions::default()));
    }

    /// `{"recording": {"root": "/r", "autostart": <autostart>}}`.
    fn with_autostart(autostart: &str) -> String {
        format!(r#"{{"recording": {{"root": "/r", "autostart": {autostart}}}}}"#)
    }

    #[test]
    fn autostart_takes_a_name_and_the_recording_options() {
        let text = with_autostart(r#"{"name": "robot", "mode": "ring", "window_secs": 30}"#);
        let config = ContextConfig::from_json(&text).expect("valid");
        let autostart = config.recording.autostart.clone().expect("autostart");
        assert_eq!(autostart.name, "robot");
        let options = config
            .recording
            .base_options()
            .with_json(&autostart.options_json);
        assert_eq!(
            options.map(|o| o.mode),
            Ok(crate::recording::options::Mode::Ring {
                window_ns: 30_000_000_000,
                max_bytes: crate::recording::ring::DEFAULT_RING_MAX_BYTES,
            })
        );
        assert_eq!(
            autostart.recording_name(1_700_000_000_123),
            "robot-1700000000123"
        );
        // A name alone records every channel with the section's defaults.
        let config = ContextConfig::from_json(&with_autostart(r#"{"name": "r"}"#));
        let autostart = config.map(|c| c.recording.autostart);
        assert_eq!(
            autostart,
            Ok(Some(Autostart {
                name: "r".into(),
                options_json: "{}".into(),
            }))
        );
        // The longest name still leaves room for any time.
        let longest = "n".repeat(MAX_AUTOSTART_NAME_LEN);
        let config =
            ContextConfig::from_json(&with_autostart(&format!(r#"{{"name": "{longest}"}}"#)));
        let generated = config.map(|c| c.recording.autostart.map(|a| a.recording_name(u64::MAX)));
        let generated = generated.ok().flatten().expect("accepted");
        assert_eq!(validate_name(&generated), Ok(()));
    }

    #[test]
    fn autostart_refusals_name_the_key() {
        let too_long = format!(
            r#"{{"name": "{}"}}"#,
            "n".repeat(MAX_AUTOSTART_NAME_LEN + 1)
        );
        for (autostart, key, named) in [
            (r#""run""#, AUTOSTART, AUTOSTART),
            (r#"{}"#, "recording.autostart.name", "required"),
            (r#"{"name": 1}"#, "recording.autostart.name", "a string"),
            (
                r#"{"name": "../up"}"#,
                "recording.autostart.name",
                "invalid recording name",
            ),
            (
                r#"{"name": ".."}"#,
                "recording.autostart.name",
                "recording.autostart.name",
            ),
            (r#"{"name": ""}"#, "recording.autostart.name", "empty"),
            (&too_long, "recording.autostart.name", "at most 107"),
            (
                r#"{"name": "r", "bogus": 1}"#,
                AUTOSTART,
                "`recording.autostart.bogus`: unknown key",
            ),
            (
                r#"{"name": "r", "channels": 1}"#,
                AUTOSTART,
                "recording.autostart.channels",
            ),
            (
                r#"{"name": "r", "window_secs": 5}"#,
                AUTOSTART,
                "recording.autostart.window_secs",
            ),
        ] {
            assert_refused(&with_autostart(autostart), key, named);
        }
        // Starting needs somewhere to record.
        let err = assert_refused(
            r#"{"recording": {"autostart": {"name": "r"}}}"#,
            AUTOSTART,
            "recording.root",
        );
        assert!(err.reason.contains("needs"), "{err}");
        let mut config = ContextConfig::default();
        config.recording.autostart = Some(Autostart {
            name: "r".into(),
            options_json: String::new(),
        });
        assert_eq!(
            config.validate().map_err(|e| e.key.clone()),
            Err(AUTOSTART.to_owned())
        );
    }

    #[test]
    fn integers_out_of_range_are_named() {
        let err = assert_value_refused("max_channels", "-1");
        assert_eq!(err.reason, "must not be negative");
        let err = assert_value_refused("max_channels", "-0.5");
        assert_eq!(err.reason, "must not be negative");
        let err = assert_value_refused("bloom_capacity", "1.5");
        assert_eq!(err.reason, "must be a whole number");
        let err = assert_value_refused("max_resend_attempts", "4294967296");
        assert_eq!(err.reason, "must be at most 4294967295");
        let err = assert_value_refused("repair_t_max_ms", "18446744073709551616");
        assert!(err.reason.starts_with("must be at most"), "{err}");
        let err = assert_value_refused("max_dependency_wait_ms", "1e30");
        assert!(err.reason.starts_with("must be at most"), "{err}");
        let err = assert_value_refused("max_causal_history", "10.0");
        assert!(err.reason.contains("without fraction"), "{err}");
        // The largest values that fit are accepted.
        let text =
            r#"{"max_resend_attempts": 4294967295, "resend_interval_ms": 18446744073709551615}"#;
        let config = ContextConfig::from_json(text);
        let fields = config.map(|c| {
            (
                c.protocol.max_resend_attempts,
                c.protocol.resend_interval_ms,
            )
        });
        assert_eq!(fields, Ok((u32::MAX, u64::MAX)));
    }

    #[test]
    fn bad_enum_strings_are_named() {
        let err = assert_value_refused("lamport_unit", r#""minutes""#);
        assert!(
            err.reason.contains("\"milliseconds\", \"seconds\""),
            "{err}"
        );
        let text = r#"{"persistence": {"kind": "postgres"}}"#;
        assert_refused(text, "persistence.kind", "persistence.kind");
        let text = r#"{"persistence": {"kind": "sqlite", "path": "a", "durability": "off"}}"#;
        assert_refused(text, "persistence.durability", "persistence.durability");
    }

    #[test]
    fn persistence_path_and_durability_rules() {
        let text = r#"{"persistence": {"kind": "sqlite"}}"#;
        assert_refused(text, "persistence.path", "persistence.path");
        let text = r#"{"persistence": {"kind": "sqlite", "path": ""}}"#;
        assert_refused(text, "persistence.path", "persistence.path");
        let text = r#"{"persistence": {"kind": "memory", "path": "a.db"}}"#;
        assert_refused(text, "persistence.path", "persistence.path");
        let text = r#"{"persistence": {"path": "a.db"}}"#;
        assert_refused(text, "persistence.path", "persistence.path");
        let text = r#"{"persistence": {"kind": "memory", "durability": "full"}}"#;
        assert_refused(text, "persistence.durability", "persistence.durability");
    }

    #[test]
    fn invalid_protocol_values_are_named() {
        assert_value_refused("bloom_error_rate", "0");
        assert_value_refused("bloom_error_rate", "1");
        assert_value_refused("bloom_error_rate", "1.5");
        assert_value_refused("bloom_capacity", "0");
        assert_value_refused("bloom_capacity", "10000001");
        assert_value_refused("num_response_groups", "0");
        let text = r#"{"repair_t_min_ms": 10, "repair_t_max_ms": 5}"#;
        assert_refused(text, "repair_t_min_ms", "repair_t_min_ms");
    }

    #[test]
    fn invalid_timers_and_queues_are_named() {
        for key in [
            "sync_interval_ms",
            "outgoing_sweep_interval_ms",
            "incoming_sweep_interval_ms",
            "repair_sweep_interval_ms",
        ] {
            let err = assert_value_refused(key, "0");
            assert_eq!(err.reason, "must be greater than 0");
        }
        for key in ["request_queue_capacity", "event_queue_capacity"] {
            assert_value_refused(key, "0");
            assert_value_refused(key, "1000001");
            let text = format!("{{\"{key}\": 1000000}}");
            assert!(ContextConfig::from_json(&text).is_ok(), "{key}");
        }
    }

    #[test]
    fn documents_that_are_not_objects_are_refused() {
        let err = assert_refused(r#"{"bloom_capacity": 10,}"#, DOCUMENT, DOCUMENT);
        assert!(err.reason.contains("line 1 column"), "{err}");
        let err = assert_refused("{\n  \"a\": \n}", DOCUMENT, DOCUMENT);
        assert!(err.reason.contains("line 3 column"), "{err}");
        for text in ["[]", "1", "null", r#""{}""#] {
            let err = assert_refused(text, DOCUMENT, DOCUMENT);
            assert!(err.reason.starts_with("expected a JSON object"), "{err}");
        }
        // Trailing content after the object is malformed JSON, not ignored.
        assert_refused("{} {}", DOCUMENT, DOCUMENT);
    }

    #[test]
    fn validate_checks_configs_built_in_code() {
        assert_eq!(full_expected().validate(), Ok(()));
        let mut config = ContextConfig::default();
        config.recording.root = Some(String::new());
        assert_eq!(
            config.validate().map_err(|e| e.key.clone()),
            Err("recording.root".to_owned())
        );
        config.recording = RecordingConfig::default();
        config.recording.queue_capacity = 0;
        assert_eq!(
            config.validate().map_err(|e| e.key.clone()),
            Err("recording.queue_capacity".to_owned())
        );
        config.recording = RecordingConfig::default();
        config.persistence = PersistenceConfig::Sqlite {
            path: String::new(),
            durability: Durability::Full,
        };
        assert_eq!(
            config.validate().map_err(|e| e.key.clone()),
            Err("persistence.path".to_owned())
        );
    }

    /// A scalar, array or object that might appear as a value in a document.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-z]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,10}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A key the configuration knows, a persistence key, or noise.
    fn any_key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(top_level_keys()),
            prop::sample::select(vec!["kind", "path", "durability"]).prop_map(String::from),
            "[a-z_]{1,16}",
        ]
    }

    /// A valid autostart: a name, and some of the recording options.
    fn any_autostart() -> impl Strategy<Value = Autostart> {
        (
            "[A-Za-z0-9_-][A-Za-z0-9._-]{0,106}",
            prop::option::of(prop::collection::vec("[a-z]{1,8}", 0..4)),
            prop::option::of(any::<bool>()),
            prop::option::of(1..=MAX_RECORDER_QUEUE),
        )
            .prop_map(|(name, channels, record_sent, queue_capacity)| {
                let mut options = Map::new();
                if let Some(channels) = channels {
                    options.insert("channels".into(), json!(channels));
                }
                if let Some(record_sent) = record_sent {
                    options.insert("record_sent".into(), json!(record_sent));
                }
                if let Some(capacity) = queue_capacity {
                    options.insert("queue_capacity".into(), json!(capacity));
                }
                Autostart {
                    name,
                    options_json: Value::Object(options).to_string(),
                }
            })
    }

    /// A valid configuration with values spread over each field's range.
    fn any_config() -> impl Strategy<Value = ContextConfig> {
        let persistence = prop_oneof![
            Just(PersistenceConfig::None),
            Just(PersistenceConfig::Memory),
            (".{1,40}", any::<bool>()).prop_map(|(path, normal)| PersistenceConfig::Sqlite {
                path,
                durability: if normal {
                    Durability::Normal
                } else {
                    Durability::Full
                },
            }),
        ];
        let recording = (
            prop::option::of(".{1,20}"),
            1..=MAX_RECORDER_QUEUE,
            any::<bool>(),
            1..u64::MAX,
            1..u64::MAX,
            1..u64::MAX,
            prop::option::of(any_autostart()),
        )
            .prop_map(
                |(
                    root,
                    queue_capacity,
                    drop,
                    chunk_max_bytes,
                    chunk_max_age_ms,
                    flush_interval_ms,
                    autostart,
                )| {
                    RecordingConfig {
                        // An autostart needs a root.
                        autostart: autostart.filter(|_| root.is_some()),
                        root,
                        queue_capacity,
                        when_full: if drop {
                            FullPolicy::Drop
                        } else {
                            FullPolicy::Block
                        },
                        chunk_max_bytes,
                        chunk_max_age_ms,
                        flush_interval_ms,
                    }
                },
            );
        (
            any::<String>(),
            1u32..1_000_000,
            any::<[u64; 24]>(),
            any::<bool>(),
            persistence,
            recording,
        )
            .prop_map(|(id, rate, n, seconds, persistence, recording)| {
                let size = |i: usize| usize::try_from(n[i]).unwrap_or(usize::MAX).max(1);
                let small = |i: usize| u32::try_from(n[i] >> 32).unwrap_or(u32::MAX).max(1);
                let queue = |i: usize| size(i) % MAX_QUEUE_CAPACITY + 1;
                let (t_min, t_max) = (n[10].min(n[11]), n[10].max(n[11]));
                let mut protocol = ProtocolConfig {
                    participant_id: id,
                    bloom_capacity: size(0) % 10_000_000 + 1,
                    bloom_error_rate: f64::from(rate) / 1e6,
                    max_message_history: size(1),
                    max_history_bytes: size(2),
                    max_causal_history: size(3) % 1000,
                    resend_interval_ms: n[4].max(1),
                    max_resend_attempts: small(5) - 1,
                    bloom_acks_to_confirm: small(6),
                    max_dependency_wait_ms: n[7],
                    lamport_unit: if seconds {
                        LamportUnit::Seconds
                    } else {
                        LamportUnit::Milliseconds
                    },
                    repair_t_min_ms: t_min,
                    repair_t_max_ms: t_max,
                    num_response_groups: small(12),
                    max_repair_requests: size(13) % 100,
                    max_channels: size(14),
                    max_incoming_buffer: size(15),
                    max_incoming_buffer_bytes: size(16),
                    max_outgoing_buffer: size(17),
                    max_repair_buffer: size(18),
                    max_wire_message_size: 0,
                    memory_budget_bytes: size(19),
                    max_received_causal_history: 0,
                    max_received_repair_requests: 0,
                    max_id_bytes: 0,
                    max_lamport_lead_ms: n[20] ^ n[21],
                    wire_format: if n[22] % 2 == 0 {
                        WireFormat::Nim
                    } else {
                        WireFormat::Spec
                    },
                    channel_wire_formats: if n[23] % 2 == 0 {
                        Default::default()
                    } else {
                        [("browser".to_owned(), WireFormat::Spec)].into()
                    },
                };
                protocol.max_received_causal_history =
                    protocol.max_causal_history + size(16) % 5000;
                protocol.max_received_repair_requests =
                    protocol.max_repair_requests + size(17) % 500;
                protocol.max_id_bytes = protocol.participant_id.len().max(1) + size(18) % 5000;
                protocol.max_wire_message_size =
                    protocol.largest_wrapped_message() + size(15) % 1_000_000;
                ContextConfig {
                    protocol,
                    timers: TimerConfig {
                        sync_interval_ms: n[20].max(1),
                        outgoing_sweep_interval_ms: n[21].max(1),
                        incoming_sweep_interval_ms: n[22].max(1),
                        repair_sweep_interval_ms: n[23].max(1),
                    },
                    queues: QueueConfig {
                        request_queue_capacity: queue(8),
                        event_queue_capacity: queue(9),
                        request_queue_max_bytes: size(10),
                        event_queue_max_bytes: size(11),
                    },
                    persistence,
                    recording,
                    restart: if n[12] % 2 == 0 {
                        RestartPolicy::Once
                    } else {
                        RestartPolicy::Bounded {
                            max_restarts: (n[13] % 10) as u32,
                            within_ms: n[14].max(1),
                        }
                    },
                    upload: None,
                }
            })
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = ContextConfig::from_json(&text);
        }

        #[test]
        fn arbitrary_objects_never_panic(
            entries in prop::collection::vec((any_key(), any_value()), 0..8),
            nested in prop::collection::vec((any_key(), any_value()), 0..4),
        ) {
            let mut doc: Map<String, Value> = entries.into_iter().collect();
            doc.insert("persistence".into(), Value::Object(nested.into_iter().collect()));
            let _ = ContextConfig::from_json(&Value::Object(doc).to_string());
        }

        #[test]
        fn written_configs_parse_back(config in any_config()) {
            prop_assert_eq!(config.validate(), Ok(()));
            prop_assert_eq!(ContextConfig::from_json(&to_json(&config)), Ok(config));
        }
    }
}
