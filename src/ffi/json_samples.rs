//! One sample of every JSON document the C API hands out and of every kind of
//! configuration refusal, written by the production writers into `tests/json-samples/`,
//! and `docs/json.md`, the reference for C users, generated from the typed definitions
//! (their serde and doc-comment schemas, through schemars) and those samples.
//!
//! Both are committed: the Go and Python tests parse every sample with their binding's
//! own parser (so a binding that falls behind fails, with or without cargo), and a
//! change of any document shows in review. `samples_and_reference_are_current` fails
//! when either has drifted from the code; `UPDATE_DOCS=1 cargo test --lib json_samples`
//! rewrites them.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::json;
use crate::protocol::budget::Usage;
use crate::protocol::channel::{ChannelCounters, RefusalCounts};
use crate::protocol::event::Event;
use crate::protocol::manager::{ChannelStats, UnwrapStatus, Unwrapped};
use crate::protocol::message::{HistoryEntry, SdsMessage};
use crate::recording::audit::{AuditAction, AuditDraft, AuditReading, AuditRecord, AuditVerdict};
use crate::recording::manifest::{ChunkEntry, Manifest};
use crate::recording::recorder::{RecorderSummary, SealedChunk};
use crate::recording::recovery::RecoveryAction;
use crate::recording::store::ListedRecording;
use crate::recording::verify::{ChunkVerdict, VerifyReport};
use crate::runtime::config::ContextConfig;
use crate::runtime::request::RuntimeEvent;

fn entry(id: &str, hint: &[u8], sender: &str) -> HistoryEntry {
    HistoryEntry {
        message_id: id.into(),
        retrieval_hint: hint.to_vec(),
        sender_id: sender.into(),
    }
}

fn protocol_events() -> Vec<Event> {
    vec![
        Event::MessageReady {
            channel_id: "fleet".into(),
            message_id: "msg-2".into(),
            sender_id: "robot-1".into(),
            lamport_timestamp: 1_700_000_000_123,
            content: b"hello".to_vec(),
        },
        Event::MessageSent {
            channel_id: "fleet".into(),
            message_id: "msg-1".into(),
        },
        Event::PossiblyAcknowledged {
            channel_id: "fleet".into(),
            message_id: "msg-1".into(),
            hits: 1,
        },
        Event::Resend {
            channel_id: "fleet".into(),
            message_id: "msg-1".into(),
            attempt: 2,
            bytes: vec![10, 5, 109, 115, 103, 45, 49],
        },
        Event::Expired {
            channel_id: "fleet".into(),
            message_id: "msg-1".into(),
        },
        Event::MissingDependencies {
            channel_id: "fleet".into(),
            message_id: "msg-9".into(),
            missing: vec![
                entry("msg-7", b"store:7", "robot-2"),
                entry("msg-8", b"", ""),
            ],
        },
        Event::Lost {
            channel_id: "fleet".into(),
            message_id: "msg-9".into(),
            missing: vec!["msg-7".into(), "msg-8".into()],
        },
        Event::RepairReady {
            channel_id: "fleet".into(),
            message_id: "msg-3".into(),
            bytes: vec![10, 5, 109, 115, 103, 45, 51],
        },
        Event::PeriodicSync {
            channel_id: "fleet".into(),
        },
        Event::LimitReached {
            channel_id: "fleet".into(),
            refused: 3,
            reason: "incoming buffer of channel `fleet` is full (1000 messages or 67108864 bytes)"
                .into(),
        },
    ]
}

fn manifest() -> Manifest {
    let mut m = Manifest::new("run-42", "robot-1", "continuous", 1_700_000_000_000_000_000);
    m.channels = vec!["fleet".into()];
    m.end_time_ns = Some(1_700_000_060_000_000_000);
    m.chunks = vec![ChunkEntry {
        index: 0,
        file: "chunk-000000-0123abcd.mcap".into(),
        sha256: "0123abcd".repeat(8),
        size: 4096,
        message_count: 12,
        first_log_time_ns: 1_700_000_000_500_000_000,
        last_log_time_ns: 1_700_000_059_000_000_000,
        prev_hash: Some("0".repeat(64)),
        ..ChunkEntry::default()
    }];
    m.head = Some("5d".repeat(32));
    m
}

/// The supersession record of `run-41`, replaced by `run-42`.
fn audit_record() -> AuditRecord {
    AuditRecord {
        seq: 1,
        time_ns: 1_700_000_100_000_000_000,
        action: AuditAction::Supersede,
        draft: AuditDraft {
            recording: "run-41".into(),
            chunk: None,
            target_hash: Some("7e".repeat(32)),
            replacement: Some("run-42".into()),
            actor: "operator-7".into(),
            reason: "re-recorded after a calibration fault".into(),
        },
        prev_hash: "0".repeat(64),
        hash: "a1".repeat(32),
    }
}

fn stats() -> ChannelStats {
    ChannelStats {
        lamport_timestamp: 1_700_000_000_123,
        history_len: 12,
        outgoing_len: 2,
        incoming_len: 1,
        incoming_bytes: 420,
        outgoing_repair_len: 0,
        incoming_repair_len: 1,
        memory: Usage {
            base: 20_480,
            history: 6_000,
            buffered: 420,
            repair: 96,
        },
        manager_memory: Usage {
            base: 40_960,
            history: 12_000,
            buffered: 420,
            repair: 96,
        },
        memory_budget: 268_435_456,
        counters: ChannelCounters {
            delivered: 12,
            acknowledged: 9,
            possibly_acknowledged: 1,
            resends: 2,
            expired: 0,
            lost: 0,
            evicted: 0,
            duplicates: 3,
            repairs_requested: 1,
            repairs_sent: 0,
            dropped_by_limits: 4,
            refusals: RefusalCounts {
                too_large: 1,
                too_many_entries: 0,
                id_too_long: 0,
                buffer_full: 3,
                memory_budget: 0,
                too_many_channels: 0,
                repair_entries: 0,
            },
        },
    }
}

fn unwrapped() -> Unwrapped {
    Unwrapped {
        channel_id: "fleet".into(),
        message_id: "msg-9".into(),
        sender_id: "robot-2".into(),
        content: b"hello".to_vec(),
        status: UnwrapStatus::Buffered,
        missing: vec![entry("msg-7", b"store:7", "robot-2")],
    }
}

/// Every sample: a path under the samples folder and its bytes.
/// The results of the `storage_upload_*` requests.
fn upload_results() -> Vec<(String, Vec<u8>)> {
    use crate::recording::manifest::DeadLetter;
    use crate::recording::upload::{
        ChunkAction, ChunkUpload, LocalState, ManifestAction, Orphan, OrphanSide, ReconcileAction,
        ReconcileReport, ReconcileRow, RemoteState, UploadReport,
    };
    use crate::runtime::uploader::{ChunkStatus, QueueView, UploadStatus};
    let key = |i: u64, sha8: &str| format!("fleet/robot-7/run-42/chunks/chunk-{i:06}-{sha8}.mcap");
    let report = UploadReport {
        recording: "run-42".into(),
        chunks: vec![
            ChunkUpload {
                index: 0,
                key: key(0, "0123abcd"),
                action: ChunkAction::AlreadyUploaded,
                bytes_sent: 0,
                reason: None,
            },
            ChunkUpload {
                index: 1,
                key: key(1, "fedcba98"),
                action: ChunkAction::Uploaded,
                bytes_sent: 67_108_864,
                reason: None,
            },
        ],
        manifest_key: "fleet/robot-7/run-42/manifest.json".into(),
        manifest: ManifestAction::Uploaded,
        bytes_sent: 67_108_864,
    };
    let status = UploadStatus {
        recording: "run-42".into(),
        manifest_key: "fleet/robot-7/run-42/manifest.json".into(),
        active: true,
        chunks: vec![
            ChunkStatus {
                index: 0,
                key: key(0, "0123abcd"),
                size: 67_108_864,
                uploaded_at_ns: Some(1_700_000_060_000_000_000),
                etag: Some("9e107d9d372bb6826bd81d3542a419d6".into()),
                dead_letter: None,
            },
            ChunkStatus {
                index: 1,
                key: key(1, "fedcba98"),
                size: 1_048_576,
                uploaded_at_ns: None,
                etag: None,
                dead_letter: Some(DeadLetter {
                    at_ns: 1_700_000_120_000_000_000,
                    reason: "the local file is corrupt: the file does not match its manifest \
                             entry (SHA-256 or size)"
                        .into(),
                }),
            },
        ],
        queue: QueueView {
            queued: false,
            uploading: false,
            paused: None,
            retry_at_ms: None,
        },
    };
    let reconciled = ReconcileReport {
        recording: "run-42".into(),
        chunks: vec![
            ReconcileRow {
                index: 0,
                key: key(0, "0123abcd"),
                local: LocalState::Ok,
                remote: RemoteState::Different,
                action: ReconcileAction::Reuploaded,
            },
            ReconcileRow {
                index: 1,
                key: key(1, "fedcba98"),
                local: LocalState::Corrupt,
                remote: RemoteState::Same,
                action: ReconcileAction::Downloaded,
            },
        ],
        manifest: ManifestAction::Uploaded,
        orphans: vec![Orphan {
            side: OrphanSide::Remote,
            name: "fleet/robot-7/run-42/chunks/chunk-000007-00ff00ff.mcap".into(),
            size: 4096,
        }],
        orphans_not_shown: 0,
    };
    vec![
        (
            "native/result/upload_recording.json".into(),
            json::upload_report_result(&report),
        ),
        (
            "native/result/upload_status.json".into(),
            json::upload_status_result(&status),
        ),
        (
            "native/result/upload_reconcile.json".into(),
            json::reconcile_result(&reconciled),
        ),
    ]
}

pub(crate) fn samples() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut add = |path: String, bytes: Vec<u8>| out.push((path, bytes));
    for event in protocol_events() {
        let text = json::native_event(&event);
        let kind = event_type(text.as_bytes());
        add(format!("native/event/{kind}.json"), text.into_bytes());
        if let Some(text) = json::libsds_event(&event) {
            add(format!("libsds/event/{kind}.json"), text.into_bytes());
        }
    }
    add(
        "native/event/event_queue_overflow.json".into(),
        json::native_event_queue_overflow(17).into_bytes(),
    );
    add(
        "native/event/persistence_warning.json".into(),
        json::native_runtime_event(&RuntimeEvent::PersistenceWarning {
            channel_id: "fleet".into(),
            message: "sqlite database `state.db`: disk I/O error".into(),
        })
        .expect("a native event"),
    );
    let message = SdsMessage {
        message_id: "msg-2".into(),
        lamport_timestamp: 1_700_000_000_123,
        causal_history: vec![],
        channel_id: "fleet".into(),
        content: b"hello".to_vec(),
        bloom_filter: vec![],
        sender_id: "robot-1".into(),
        repair_request: vec![],
    };
    let runtime = [
        RuntimeEvent::RecordingDropped {
            name: "run-42".into(),
            dropped: 5,
        },
        RuntimeEvent::RecordingFailed {
            name: "run-42".into(),
            message: "cannot write `chunks/.chunk-000001.mcap.active`: No space left on device"
                .into(),
        },
        RuntimeEvent::RecordingRecovered(RecoveryAction {
            recording: "run-41".into(),
            file: ".chunk-000003.mcap.active".into(),
            action: "recovered",
            messages: 120,
            detail: "120 messages resealed into chunk-000003-89abcdef.mcap".into(),
        }),
        RuntimeEvent::RecordingStarted {
            name: "robot-1-1700000000000".into(),
        },
        RuntimeEvent::ChunkSealed(SealedChunk {
            recording: "run-42".into(),
            index: 0,
            sha256: "0123abcd".repeat(8),
            head: "5d".repeat(32),
        }),
        RuntimeEvent::WorkerRestarted {
            reason: "panic in a wrap request: index out of bounds".into(),
            restart_count: 1,
            failed_requests: 1,
            state_lost: false,
            channels_reloaded: vec!["fleet".into()],
            channels_lost: vec![],
            recordings_reopened: vec!["run-42".into()],
        },
        RuntimeEvent::ReplayMessage {
            replay_id: 1,
            channel_id: "sim/fleet".into(),
            message,
            log_time_ns: 1_700_000_000_500_000_000,
        },
        RuntimeEvent::ReplayFinished {
            replay_id: 1,
            messages: 12,
            cancelled: false,
            error: None,
        },
        RuntimeEvent::UploadProgress(crate::runtime::uploader::UploadProgress {
            bytes_sent: 201_326_592,
            chunks_done: 3,
            chunks_pending: 2,
        }),
        RuntimeEvent::ChunkUploaded {
            recording: "run-42".into(),
            index: 0,
            key: "fleet/robot-7/run-42/chunks/chunk-000000-0123abcd.mcap".into(),
            bytes_sent: 67_108_864,
        },
        RuntimeEvent::ChunkDeadLettered {
            recording: "run-42".into(),
            index: 1,
            reason: "the local file is corrupt: the file does not match its manifest entry \
                     (SHA-256 or size)"
                .into(),
        },
        RuntimeEvent::UploadPaused {
            reason: "put `fleet/robot-7/run-42/chunks/chunk-000002-fedcba98.mcap`: the server \
                     answered 404 (NoSuchBucket)"
                .into(),
        },
        RuntimeEvent::UploadResumed,
    ];
    for event in runtime {
        let text = json::native_runtime_event(&event).expect("a native event");
        add(format!("native/event/{}.json", event_type(&text)), text);
    }
    add(
        "native/result/unwrap.json".into(),
        json::native_unwrap_result(&unwrapped()).into_bytes(),
    );
    add(
        "native/result/channel_stats.json".into(),
        json::channel_stats("fleet", &stats()).into_bytes(),
    );
    let summary = RecorderSummary {
        name: "run-42".into(),
        written: 12,
        dropped: 0,
        head: manifest().head,
        manifest: Some(manifest()),
    };
    add(
        "native/result/recording_stop.json".into(),
        json::recording_stop_result(&summary),
    );
    add(
        "native/result/recording_seal.json".into(),
        json::recording_seal_result(&manifest()),
    );
    let listed = vec![
        ListedRecording {
            name: "run-42".into(),
            active: false,
            manifest: Some(manifest()),
            error: None,
            superseded: None,
            erased: None,
        },
        ListedRecording {
            name: "broken".into(),
            active: false,
            manifest: None,
            error: Some("manifest `broken/manifest.json` is unreadable: EOF".into()),
            superseded: None,
            erased: None,
        },
        ListedRecording {
            name: "run-41".into(),
            active: false,
            manifest: None,
            error: None,
            superseded: Some(audit_record()),
            erased: None,
        },
    ];
    add(
        "native/result/recordings_list.json".into(),
        json::recordings_list_result(&listed),
    );
    let report = VerifyReport {
        name: "run-42".into(),
        ok: false,
        chunks: vec![
            ChunkVerdict {
                file: "chunk-000000-0123abcd.mcap".into(),
                status: "ok",
                reason: None,
            },
            ChunkVerdict {
                file: "chunk-000001-fedcba98.mcap".into(),
                status: "corrupt",
                reason: Some("SHA-256 does not match the file name".into()),
            },
        ],
        chain: crate::recording::verify::ChainVerdict {
            status: "ok",
            head: Some("5d".repeat(32)),
            broken_at: None,
            reason: None,
            anchor: Some("head"),
        },
    };
    add(
        "native/result/recording_verify.json".into(),
        json::recording_verify_result(&report),
    );
    for (path, bytes) in upload_results() {
        add(path, bytes);
    }
    add(
        "native/result/recording_supersede.json".into(),
        json::audit_record_result(&audit_record()),
    );
    let erased = AuditRecord {
        seq: 2,
        action: AuditAction::Erase,
        draft: AuditDraft {
            replacement: None,
            reason: "retention period over".into(),
            ..audit_record().draft
        },
        prev_hash: "a1".repeat(32),
        hash: "b2".repeat(32),
        ..audit_record()
    };
    add(
        "native/result/recording_erase.json".into(),
        json::audit_record_result(&erased),
    );
    let reading = AuditReading {
        records: vec![audit_record(), erased],
        verdict: AuditVerdict {
            status: "ok",
            records: 2,
            head: Some("b2".repeat(32)),
            broken_at: None,
            reason: None,
            torn_tail: false,
            anchor: Some("head"),
        },
    };
    add(
        "native/result/audit_query.json".into(),
        json::audit_query_result(&reading),
    );
    add(
        "native/result/replay_start.json".into(),
        json::replay_start_result(1),
    );
    add(
        "libsds/result/unwrap.json".into(),
        json::libsds_unwrap_result(&unwrapped()),
    );
    add(
        "libsds/result/wrap.txt".into(),
        json::libsds_wrap_result(&[10, 5, 109, 115, 103]),
    );
    add("config/defaults.json".into(), pretty(&defaults_document()));
    for (name, config) in config_refusals() {
        let message = match ContextConfig::from_json(config) {
            Ok(accepted) => panic!("{name} accepted: {accepted:?}"),
            Err(e) => e.to_string(),
        };
        let status = super::status::storage_status::STORAGE_INVALID_CONFIG as i32;
        let doc = json!({"config": config, "status": status, "message": message});
        add(format!("config-error/{name}.json"), pretty(&doc));
    }
    out
}

/// `value` as indented JSON, ending with a newline.
fn pretty(value: &impl serde::Serialize) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).expect("a sample serializes");
    text.push(b'\n');
    text
}

/// The `eventType` of an event document.
fn event_type(document: &[u8]) -> String {
    let value: Value = serde_json::from_slice(document).expect("an event is JSON");
    value["eventType"]
        .as_str()
        .expect("an eventType")
        .to_owned()
}

/// The configuration document with every key at its default (with a recording root and
/// an autostart, which have none).
fn defaults_document() -> Value {
    let mut config = ContextConfig::default();
    config.recording.root = Some("/var/lib/robot/recordings".into());
    config.recording.autostart = Some(crate::runtime::config::Autostart {
        name: "robot-1".into(),
        options_json: r#"{"channels": ["odom"], "record_sent": true}"#.into(),
    });
    // Every key of the upload section, so that bindings can check they declare them.
    config.upload = Some(crate::recording::upload::UploadOptions {
        endpoint: Some("https://s3.eu-west-1.amazonaws.com".into()),
        bucket: Some("fleet-recordings".into()),
        region: Some("eu-west-1".into()),
        prefix: Some("fleet".into()),
        path_style: Some(true),
        origin: Some("robot-1".into()),
        access_key_id: Some("AKIAEXAMPLE".into()),
        secret_access_key: Some(String::from("shown redacted").into()),
        session_token: Some(String::from("shown redacted").into()),
        access_key_id_env: Some("FLEET_KEY_ID".into()),
        secret_access_key_env: Some("FLEET_SECRET".into()),
        secret_access_key_file: Some("/run/secrets/s3".into()),
        session_token_env: Some("FLEET_TOKEN".into()),
        part_size_bytes: Some(16 * 1024 * 1024),
        request_timeout_ms: Some(60_000),
        concurrency: Some(2),
        retry_initial_ms: Some(1_000),
        retry_max_ms: Some(300_000),
        dead_letter_after_ms: Some(86_400_000),
    });
    serde_json::to_value(&config).expect("a configuration serializes")
}

/// One refused configuration of every kind.
fn config_refusals() -> Vec<(&'static str, &'static str)> {
    vec![
        ("malformed", r#"{"bloom_capacity": 10,}"#),
        ("not_an_object", "[]"),
        ("unknown_key", r#"{"bloom_capasity": 10}"#),
        (
            "unknown_nested_key",
            r#"{"persistence": {"kind": "memory", "size": 1}}"#,
        ),
        ("wrong_type", r#"{"bloom_capacity": "10"}"#),
        ("negative", r#"{"max_channels": -1}"#),
        ("fraction", r#"{"bloom_capacity": 1.5}"#),
        ("exponent", r#"{"max_causal_history": 1e1}"#),
        ("too_large", r#"{"max_resend_attempts": 4294967296}"#),
        ("bad_choice", r#"{"lamport_unit": "minutes"}"#),
        ("bad_wire_format", r#"{"wire_format": "json"}"#),
        (
            "bad_channel_wire_format",
            r#"{"channel_wire_formats": {"room": "xml"}}"#,
        ),
        ("out_of_range", r#"{"bloom_error_rate": 1.5}"#),
        (
            "inconsistent",
            r#"{"repair_t_min_ms": 10, "repair_t_max_ms": 5}"#,
        ),
        ("zero_interval", r#"{"sync_interval_ms": 0}"#),
        ("queue_capacity", r#"{"event_queue_capacity": 1000001}"#),
        (
            "persistence_kind",
            r#"{"persistence": {"kind": "postgres"}}"#,
        ),
        (
            "persistence_path_missing",
            r#"{"persistence": {"kind": "sqlite"}}"#,
        ),
        (
            "persistence_path_not_allowed",
            r#"{"persistence": {"kind": "memory", "path": "a.db"}}"#,
        ),
        (
            "persistence_durability",
            r#"{"persistence": {"kind": "sqlite", "path": "a", "durability": "off"}}"#,
        ),
        ("recording_not_object", r#"{"recording": null}"#),
        ("recording_root_empty", r#"{"recording": {"root": ""}}"#),
        (
            "recording_when_full",
            r#"{"recording": {"when_full": "wait"}}"#,
        ),
        (
            "recording_flush_interval",
            r#"{"recording": {"flush_interval_ms": 1.5}}"#,
        ),
        (
            "autostart_without_root",
            r#"{"recording": {"autostart": {"name": "r"}}}"#,
        ),
        (
            "autostart_name_missing",
            r#"{"recording": {"root": "/r", "autostart": {}}}"#,
        ),
        (
            "autostart_name_invalid",
            r#"{"recording": {"root": "/r", "autostart": {"name": "../up"}}}"#,
        ),
        (
            "autostart_option",
            r#"{"recording": {"root": "/r", "autostart": {"name": "r", "channels": 1}}}"#,
        ),
        (
            "autostart_unknown_option",
            r#"{"recording": {"root": "/r", "autostart": {"name": "r", "bogus": 1}}}"#,
        ),
        (
            "long_unknown_key",
            r#"{"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk": 1}"#,
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// The reference
// ---------------------------------------------------------------------------------------

/// The JSON schema schemars derives for `T` from its serde attributes and doc comments.
fn schema_of<T: schemars::JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

/// A doc comment as one line of Markdown: rustdoc links become plain code.
fn prose(value: &Value) -> String {
    let text = value.as_str().unwrap_or("").replace('\n', " ");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("[`") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find("`]") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        out.push_str(&after[..end + 1]);
        rest = &after[end + 2..];
        // Drop a link target: `(...)`.
        if rest.starts_with('(') {
            rest = rest.find(')').map_or("", |close| &rest[close + 1..]);
        }
    }
    out.push_str(rest);
    out.replace('|', "\\|")
}

/// Renders schemas as Markdown tables, collecting the object types they refer to.
struct Renderer<'a> {
    defs: &'a Map<String, Value>,
    /// Object types referred to and not yet rendered, by name.
    pending: Vec<String>,
    /// A document the library reads: `null` is never allowed (an absent key is).
    read: bool,
    rendered: Vec<String>,
}

impl<'a> Renderer<'a> {
    fn new(schema: &'a Value) -> Self {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        Self {
            defs: schema["$defs"]
                .as_object()
                .unwrap_or_else(|| EMPTY.get_or_init(Map::new)),
            pending: Vec::new(),
            rendered: Vec::new(),
            read: false,
        }
    }

    /// A renderer of a document the library reads.
    fn reading(schema: &'a Value) -> Self {
        Self {
            read: true,
            ..Self::new(schema)
        }
    }

    /// The schema `schema` refers to, if it is a reference.
    fn resolve(&self, schema: &'a Value) -> (Option<&'a str>, &'a Value) {
        match schema["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            Some(name) => (Some(name), self.defs.get(name).unwrap_or(&Value::Null)),
            None => (None, schema),
        }
    }

    /// A short description of the JSON type `schema` allows.
    fn type_of(&mut self, schema: &'a Value) -> String {
        let (name, schema) = self.resolve(schema);
        if let (Some(name), true) = (name, schema.get("properties").is_some()) {
            if !self.rendered.iter().chain(&self.pending).any(|n| n == name) {
                self.pending.push(name.to_owned());
            }
            return format!("object ([{name}](#{}))", name.to_lowercase());
        }
        if let Some(value) = schema.get("const") {
            return format!("`{value}`");
        }
        if let Some(values) = schema["enum"].as_array() {
            let names: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
            return names.join(" \\| ");
        }
        let read = self.read;
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema[key].as_array() {
                let types: Vec<String> = options
                    .iter()
                    .filter(|o| !(read && o["type"] == "null"))
                    .map(|o| self.type_of(o))
                    .collect();
                return types.join(" or ");
            }
        }
        let kind = |kind: &str| match kind {
            "integer" if schema["minimum"] == json!(0) => "integer ≥ 0".to_owned(),
            "string" if schema["contentEncoding"] == "base64" => "base64 string".to_owned(),
            other => other.to_owned(),
        };
        match &schema["type"] {
            Value::String(k) if k == "array" => {
                let items = self.type_of(&schema["items"]);
                format!("array of {items}")
            }
            Value::String(k) if k == "object" && schema["additionalProperties"].is_object() => {
                let values = self.type_of(&schema["additionalProperties"]);
                format!("object of {values}")
            }
            Value::String(k) => kind(k),
            Value::Array(kinds) => {
                let kinds: Vec<String> = kinds
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|k| !(read && *k == "null"))
                    .map(kind)
                    .collect();
                kinds.join(" or ")
            }
            _ => "any JSON value".to_owned(),
        }
    }

    /// The keys of an object schema: required ones in declaration order, then the rest
    /// alphabetically.
    fn keys(schema: &Value) -> Vec<String> {
        let mut keys: Vec<String> = schema["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(properties) = schema["properties"].as_object() {
            for key in properties.keys() {
                if !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
        }
        keys
    }

    /// A table of the object's keys; with `defaults`, a column of their default values.
    fn table(&mut self, schema: &'a Value, defaults: Option<&Value>) -> String {
        let mut out = String::from(match defaults {
            Some(_) => "| key | type | default | meaning |\n| --- | --- | --- | --- |\n",
            None => "| key | type | meaning |\n| --- | --- | --- |\n",
        });
        for key in Self::keys(schema) {
            let property = &schema["properties"][&key];
            let ty = self.type_of(property);
            let meaning = prose(&property["description"]);
            match defaults {
                Some(defaults) => {
                    let default = match defaults.get(&key) {
                        Some(Value::Object(_)) | None => "—".to_owned(),
                        Some(value) => format!("`{value}`"),
                    };
                    out.push_str(&format!("| `{key}` | {ty} | {default} | {meaning} |\n"));
                }
                None => out.push_str(&format!("| `{key}` | {ty} | {meaning} |\n")),
            }
        }
        out
    }

    /// Tables of the object types referred to so far (and those they refer to).
    fn referred_types(&mut self) -> String {
        let mut out = String::new();
        while let Some(name) = self.pending.first().cloned() {
            self.pending.remove(0);
            self.rendered.push(name.clone());
            let defs = self.defs;
            let schema = &defs[&name];
            out.push_str(&format!(
                "#### {name}\n\n{}\n\n",
                prose(&schema["description"])
            ));
            out.push_str(&self.table(schema, None));
            out.push('\n');
        }
        out
    }
}

/// A sample, as a fenced example.
fn example(samples: &BTreeMap<String, Vec<u8>>, path: &str) -> String {
    let text = samples
        .get(path)
        .map(|b| String::from_utf8_lossy(b).into_owned());
    format!(
        "Example (`tests/json-samples/{path}`):\n\n```json\n{}\n```\n\n",
        text.unwrap_or_default().trim_end()
    )
}

/// One document: its heading, description, key table, referred types and an example.
fn document<T: schemars::JsonSchema>(
    out: &mut String,
    heading: &str,
    intro: &str,
    samples: &BTreeMap<String, Vec<u8>>,
    sample: &str,
) {
    let schema = schema_of::<T>();
    let mut renderer = Renderer::new(&schema);
    out.push_str(&format!(
        "### {heading}\n\n{intro}{}\n\n",
        prose(&schema["description"])
    ));
    out.push_str(&renderer.table(&schema, None));
    out.push('\n');
    out.push_str(&example(samples, sample));
    out.push_str(&renderer.referred_types());
}

/// Every event of a folder of samples, each with the variant of `schema` (a tagged or
/// untagged enum of objects) it is an instance of.
fn variants(out: &mut String, schema: &Value, samples: &BTreeMap<String, Vec<u8>>, folder: &str) {
    let mut renderer = Renderer::new(schema);
    let prefix = format!("{folder}/");
    for (path, bytes) in samples.range(prefix.clone()..) {
        let Some(name) = path.strip_prefix(&prefix) else {
            break;
        };
        let sample: Value = serde_json::from_slice(bytes).unwrap_or_default();
        let Some(variant) = renderer.variant_of(schema, &sample) else {
            continue;
        };
        let kind = sample["eventType"].as_str().unwrap_or(name);
        out.push_str(&format!(
            "### `{kind}`\n\n{}\n\n",
            prose(&variant["description"])
        ));
        out.push_str(&renderer.table(variant, None));
        out.push('\n');
        out.push_str(&example(samples, path));
    }
    out.push_str(&renderer.referred_types());
}

/// `docs/json.md`.
fn reference(samples: &BTreeMap<String, Vec<u8>>) -> String {
    use crate::protocol::config::ProtocolConfig;
    use crate::recording::options::StartOptions;
    use crate::recording::replay::ReplayOptions;
    use crate::runtime::config::{PersistenceSection, QueueConfig, RecordingConfig, TimerConfig};
    let mut out = String::from(
        "<!-- Generated from the typed definitions by `src/ffi/json_samples.rs`: do not \
         edit; run `UPDATE_DOCS=1 cargo test --lib json_samples`. -->\n\n\
         # JSON documents\n\n\
         Every JSON document libstorage reads or hands out, for C users: the \
         configuration and options it reads, the events and results of the native API \
         (`include/storage.h`) and of the libsds API (`include/libsds.h`). Documents are \
         compact UTF-8 JSON objects; in the native dialect keys are camelCase, events \
         carry an `eventType`, binary payloads are base64 (standard alphabet, padded) and \
         key order is unspecified. Integers are JSON numbers of up to 64 bits (`integer ≥ \
         0`: unsigned). Every example is a sample the tests write, in `tests/json-samples/`; \
         the Go and Python bindings' tests parse every one of them.\n\n\
         ## Configuration (`storage_new`)\n\n\
         One JSON object, every key optional (`\"\"`, `NULL` or `{}` for the defaults). A \
         key the library does not know, or a value of the wrong type or out of range, is \
         refused with `STORAGE_INVALID_CONFIG` and a message naming the key by its path \
         (`invalid configuration `persistence.durability`: ...`). A present key is read \
         as its type: `null` is refused, not taken as the default. Integers are written \
         without fraction or exponent.\n\n",
    );
    let defaults = defaults_document();
    out.push_str("### Top-level keys\n\n");
    for (intro, schema) in [
        ("Protocol (SDS and SDS-R):", schema_of::<ProtocolConfig>()),
        ("Timers of the worker thread:", schema_of::<TimerConfig>()),
        ("Queues of the worker thread:", schema_of::<QueueConfig>()),
    ] {
        out.push_str(&format!("{intro}\n\n"));
        out.push_str(&Renderer::reading(&schema).table(&schema, Some(&defaults)));
        out.push('\n');
    }
    out.push_str("And the sections below, `persistence`, `recording` and `restart`.\n\n");
    for (heading, intro, schema, defaults) in [
        (
            "`persistence`",
            "Where protocol state is kept. `path` is required for `\"sqlite\"` and \
             refused otherwise, as is `durability`.",
            schema_of::<PersistenceSection>(),
            &defaults["persistence"],
        ),
        (
            "`recording`",
            "Where recordings live, the defaults of every recording \
             (`storage_recording_start`'s options override them) and a recording to start \
             with the context.",
            schema_of::<RecordingConfig>(),
            &defaults["recording"],
        ),
        (
            "`restart`",
            "How many panics of the worker the context survives: `\"once\"` (default, one \
             restart in its life) or `\"bounded\"` (`max_restarts` within any `within_ms`; \
             both required, and refused with `\"once\"`). A panic fails the request it \
             ran with `STORAGE_PANIC`, reloads the state from persistence and emits \
             `worker_restarted`; beyond the budget the context fails.",
            schema_of::<crate::runtime::restart::RestartSection>(),
            &defaults["restart"],
        ),
    ] {
        let mut renderer = Renderer::reading(&schema);
        out.push_str(&format!("### {heading}\n\n{intro}\n\n"));
        out.push_str(&renderer.table(&schema, Some(defaults)));
        out.push('\n');
        out.push_str(&renderer.referred_types());
    }
    out.push_str("`recording.autostart` may also hold any key of the recording options below.\n\n");
    out.push_str(&example(samples, "config/defaults.json"));
    out.push_str("### Refusals\n\nOne sample of every kind of refusal (`tests/json-samples/config-error/`):\n\n| document | message |\n| --- | --- |\n");
    for (path, bytes) in samples.range("config-error/".to_owned()..) {
        if !path.starts_with("config-error/") {
            break;
        }
        let doc: Value = serde_json::from_slice(bytes).unwrap_or_default();
        let cell = |v: &Value| v.as_str().unwrap_or("").replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | `{}` |\n",
            cell(&doc["config"]),
            cell(&doc["message"])
        ));
    }
    out.push_str("\n## Options\n\n");
    let options = [
        (
            "Recording options (`storage_recording_start`)",
            schema_of::<StartOptions>(),
        ),
        (
            "Replay options (`storage_replay_start`)",
            schema_of::<ReplayOptions>(),
        ),
    ];
    for (heading, schema) in &options {
        let mut renderer = Renderer::reading(schema);
        out.push_str(&format!(
            "### {heading}\n\n{} `NULL`, `\"\"` or `null` for the defaults; refusals are \
             `STORAGE_RECORDING_INVALID` naming the key.\n\n",
            prose(&schema["description"])
        ));
        out.push_str(&renderer.table(schema, None));
        out.push('\n');
        out.push_str(&renderer.referred_types());
    }
    out.push_str(
        "## Native events\n\nWhat the event callback receives, or `storage_next_event` \
         hands out (status `STORAGE_OK`). A host should ignore event types and keys it \
         does not know.\n\n",
    );
    variants(
        &mut out,
        &schema_of::<super::json::NativeEvent<'static>>(),
        samples,
        "native/event",
    );
    out.push_str("## Native results\n\nWhat a request's callback receives with `STORAGE_OK`. On failure it receives another status and a UTF-8 message instead. `storage_wrap`, `storage_wrap_ephemeral` and `storage_build_sync_message` answer raw wire bytes; the other requests answer nothing.\n\n");
    document::<super::json::UnwrapResult<'static>>(
        &mut out,
        "`storage_unwrap`",
        "",
        samples,
        "native/result/unwrap.json",
    );
    document::<super::json::ChannelStatsResult<'static>>(
        &mut out,
        "`storage_channel_stats`",
        "",
        samples,
        "native/result/channel_stats.json",
    );
    document::<crate::recording::recorder::RecorderSummary>(
        &mut out,
        "`storage_recording_stop`",
        "",
        samples,
        "native/result/recording_stop.json",
    );
    document::<crate::recording::manifest::Manifest>(
        &mut out,
        "`storage_recording_seal`",
        "The new recording's manifest (`manifest.json`; keys snake_case, as in the file). ",
        samples,
        "native/result/recording_seal.json",
    );
    document::<super::json::RecordingList<'static>>(
        &mut out,
        "`storage_recordings_list`",
        "",
        samples,
        "native/result/recordings_list.json",
    );
    document::<crate::recording::verify::VerifyReport>(
        &mut out,
        "`storage_recording_verify`",
        "",
        samples,
        "native/result/recording_verify.json",
    );
    document::<crate::recording::audit::AuditRecord>(
        &mut out,
        "`storage_recording_supersede`",
        "The audit record appended (keys snake_case, as in `audit.log`). ",
        samples,
        "native/result/recording_supersede.json",
    );
    document::<crate::recording::audit::AuditRecord>(
        &mut out,
        "`storage_recording_erase`",
        "The audit record appended (keys snake_case, as in `audit.log`). ",
        samples,
        "native/result/recording_erase.json",
    );
    document::<super::json::AuditQueryResult<'static>>(
        &mut out,
        "`storage_audit_query`",
        "",
        samples,
        "native/result/audit_query.json",
    );
    document::<super::json::ReplayStarted>(
        &mut out,
        "`storage_replay_start`",
        "",
        samples,
        "native/result/replay_start.json",
    );
    document::<crate::recording::upload::UploadReport>(
        &mut out,
        "`storage_upload_recording`",
        "",
        samples,
        "native/result/upload_recording.json",
    );
    document::<super::json::UploadStatusResult<'static>>(
        &mut out,
        "`storage_upload_status`",
        "",
        samples,
        "native/result/upload_status.json",
    );
    document::<crate::recording::upload::ReconcileReport>(
        &mut out,
        "`storage_upload_reconcile` and `storage_upload_restore`",
        "",
        samples,
        "native/result/upload_reconcile.json",
    );
    out.push_str("## libsds API\n\nThe exact documents libsds 0.3.x writes, keys in exactly the order shown.\n\n");
    variants(
        &mut out,
        &schema_of::<super::json::LibsdsEvent<'static>>(),
        samples,
        "libsds/event",
    );
    out.push_str(&format!(
        "### `periodic_sync`\n\nThe sync timer fired (no channel).\n\n{}",
        example(samples, "libsds/event/periodic_sync.json")
    ));
    document::<super::json::LibsdsUnwrapResult<'static>>(
        &mut out,
        "`SdsUnwrapReceivedMessage`",
        "",
        samples,
        "libsds/result/unwrap.json",
    );
    out.push_str(&format!(
        "### `SdsWrapOutgoingMessage`\n\nNot JSON: the wrapped bytes as comma-separated \
         decimal numbers, no spaces.\n\nExample (`tests/json-samples/libsds/result/wrap.txt`): \
         `{}`\n",
        String::from_utf8_lossy(samples.get("libsds/result/wrap.txt").map_or(&[][..], |b| b))
    ));
    out
}

/// The repository's root folder.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir`, by path relative to it.
fn files_under(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, &format!("{name}/"), out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.insert(name, bytes);
        }
    }
}

#[test]
fn samples_and_reference_are_current() {
    let samples: BTreeMap<String, Vec<u8>> = samples().into_iter().collect();
    let reference = reference(&samples);
    let folder = root().join("tests/json-samples");
    let docs = root().join("docs/json.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let _ = std::fs::remove_dir_all(&folder);
        for (path, bytes) in &samples {
            let path = folder.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("create the samples folder");
            }
            std::fs::write(path, bytes).expect("write a sample");
        }
        std::fs::create_dir_all(root().join("docs")).expect("create docs/");
        std::fs::write(&docs, &reference).expect("write docs/json.md");
        return;
    }
    let mut on_disk = BTreeMap::new();
    files_under(&folder, "", &mut on_disk);
    let hint = "run `UPDATE_DOCS=1 cargo test --lib json_samples` and commit the result";
    for (path, bytes) in &samples {
        let current = on_disk.remove(path);
        assert!(
            current.as_deref() == Some(bytes.as_slice()),
            "tests/json-samples/{path} is missing or out of date: {hint}"
        );
    }
    assert!(
        on_disk.is_empty(),
        "stale samples {:?}: {hint}",
        on_disk.keys().collect::<Vec<_>>()
    );
    let current = std::fs::read_to_string(&docs).unwrap_or_default();
    assert!(current == reference, "docs/json.md is out of date: {hint}");
}

impl<'a> Renderer<'a> {
    /// The option of `schema`'s `oneOf` (or `schema` itself) that `sample` is an
    /// instance of.
    fn variant_of(&self, schema: &'a Value, sample: &Value) -> Option<&'a Value> {
        let (_, schema) = self.resolve(schema);
        match schema["oneOf"].as_array() {
            Some(options) => options
                .iter()
                .map(|option| self.resolve(option).1)
                .find(|option| self.check_keys(sample, option, "").is_ok()),
            None => self.check_keys(sample, schema, "").ok().map(|()| schema),
        }
    }

    /// Whether `sample` has exactly the keys `schema` allows and requires, recursively.
    fn check_keys(&self, sample: &Value, schema: &Value, at: &str) -> Result<(), String> {
        let (_, schema) = self.resolve(schema);
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema[key].as_array() {
                return match options
                    .iter()
                    .find(|o| self.check_keys(sample, o, at).is_ok())
                {
                    Some(_) => Ok(()),
                    None => Err(format!("{at}: matches none of the definition's forms")),
                };
            }
        }
        if let Some(value) = schema.get("const") {
            return (value == sample)
                .then_some(())
                .ok_or_else(|| format!("{at}: is not {value}"));
        }
        match sample {
            Value::Object(map) => {
                let Some(properties) = schema["properties"].as_object() else {
                    return Ok(());
                };
                let open = schema["additionalProperties"] == json!(true);
                for (key, value) in map {
                    match properties.get(key) {
                        Some(property) => {
                            self.check_keys(value, property, &format!("{at}.{key}"))?
                        }
                        None if open => {}
                        None => return Err(format!("{at}: key `{key}` is not in the definition")),
                    }
                }
                for required in schema["required"].as_array().into_iter().flatten() {
                    let required = required.as_str().unwrap_or("");
                    if !map.contains_key(required) {
                        return Err(format!("{at}: `{required}` missing"));
                    }
                }
                Ok(())
            }
            Value::Array(items) => items
                .iter()
                .try_for_each(|item| self.check_keys(item, &schema["items"], at)),
            _ => Ok(()),
        }
    }
}

#[test]
fn every_document_has_a_sample_and_every_sample_its_definition() {
    let samples: BTreeMap<String, Vec<u8>> = samples().into_iter().collect();
    let events = schema_of::<super::json::NativeEvent<'static>>();
    let kinds: Vec<&str> = events["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["properties"]["eventType"]["const"].as_str())
        .collect();
    let sampled: Vec<&str> = samples
        .keys()
        .filter_map(|p| p.strip_prefix("native/event/")?.strip_suffix(".json"))
        .collect();
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, sampled, "one sample per native event type");
    let definitions = [
        ("native/event/", events.clone()),
        (
            "native/result/unwrap",
            schema_of::<super::json::UnwrapResult<'static>>(),
        ),
        (
            "native/result/channel_stats",
            schema_of::<super::json::ChannelStatsResult<'static>>(),
        ),
        (
            "native/result/recording_stop",
            schema_of::<crate::recording::recorder::RecorderSummary>(),
        ),
        (
            "native/result/recording_seal",
            schema_of::<crate::recording::manifest::Manifest>(),
        ),
        (
            "native/result/recordings_list",
            schema_of::<super::json::RecordingList<'static>>(),
        ),
        (
            "native/result/recording_verify",
            schema_of::<crate::recording::verify::VerifyReport>(),
        ),
        (
            "native/result/recording_supersede",
            schema_of::<crate::recording::audit::AuditRecord>(),
        ),
        (
            "native/result/recording_erase",
            schema_of::<crate::recording::audit::AuditRecord>(),
        ),
        (
            "native/result/audit_query",
            schema_of::<super::json::AuditQueryResult<'static>>(),
        ),
        (
            "native/result/replay_start",
            schema_of::<super::json::ReplayStarted>(),
        ),
        (
            "native/result/upload_recording",
            schema_of::<crate::recording::upload::UploadReport>(),
        ),
        (
            "native/result/upload_status",
            schema_of::<super::json::UploadStatusResult<'static>>(),
        ),
        (
            "native/result/upload_reconcile",
            schema_of::<crate::recording::upload::ReconcileReport>(),
        ),
        (
            "libsds/event/",
            schema_of::<super::json::LibsdsEvent<'static>>(),
        ),
        (
            "libsds/result/unwrap",
            schema_of::<super::json::LibsdsUnwrapResult<'static>>(),
        ),
    ];
    for (path, bytes) in &samples {
        if !path.starts_with("native/") && !path.starts_with("libsds/") {
            continue;
        }
        if path.ends_with(".txt") || path == "libsds/event/periodic_sync.json" {
            continue;
        }
        let (_, schema) = definitions
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
            .unwrap_or_else(|| panic!("{path} has no definition"));
        let sample: Value = serde_json::from_slice(bytes).expect("a sample is JSON");
        let renderer = Renderer::new(schema);
        assert!(
            renderer.variant_of(schema, &sample).is_some(),
            "{path} does not match its definition: {:?}",
            renderer.check_keys(&sample, schema, path)
        );
    }
}
