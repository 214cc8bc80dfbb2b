//! The JSON documents the C API hands to hosts, each declared once here as a typed
//! definition that serde writes, in two dialects. `docs/json.md`, the reference for C
//! users, is generated from these definitions and the samples the tests write
//! (`src/ffi/json_samples.rs`).
//!
//! - **Native** (`storage_*` API, see `DESIGN.md`, "C API conventions"): every document is
//!   an object with camelCase keys; events carry an `eventType` field; binary payloads are
//!   base64 (standard alphabet, padded). Key order is unspecified; the documents keep the
//!   order they always had (events: `eventType` first, then declaration order; the rare
//!   documents once built as `serde_json::Value`s, sorted). The events of the message
//!   path and the unwrap result are written from their definition by the fast writer of
//!   [`super::json_writer`] (2-3 times faster than serde_json, whose string escaping
//!   scans every base64 character), which tests check against serde's output of the
//!   same definition, byte for byte.
//! - **libsds** (drop-in `Sds*` API): the exact compact documents nim-sds 0.3.x produces
//!   (`shared/fixtures/libsds-abi.md`), keys in the order libsds writes them, which is the
//!   declaration order here. The unwrap result's `message`, an array of byte values, is
//!   written by a fast writer ([`libsds_unwrap_result`]) that a test checks against its
//!   definition byte for byte; the wrap result is decimal text, not JSON.

use std::ffi::CStr;

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;

use super::json_writer::{object_bytes, push_array, push_decimal_list, push_json_str, JsonObject};
use crate::protocol::budget::Usage;
use crate::protocol::channel::ChannelCounters;
use crate::protocol::event::Event;
use crate::protocol::manager::{ChannelStats, UnwrapStatus, Unwrapped};
use crate::protocol::message::HistoryEntry;
use crate::recording::audit::{AuditReading, AuditRecord, AuditVerdict};
use crate::recording::manifest::Manifest;
use crate::recording::recorder::RecorderSummary;
use crate::recording::store::ListedRecording;
use crate::recording::upload::{ReconcileReport, UploadReport};
use crate::recording::verify::VerifyReport;
use crate::runtime::request::RuntimeEvent;
use crate::runtime::uploader::{ChunkStatus, UploadStatus};

// ---------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------

/// Bytes, written as a base64 string (standard alphabet, padded).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Base64<'a>(pub &'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Base64Display::new(self.0, &BASE64))
    }
}

#[cfg(test)]
impl schemars::JsonSchema for Base64<'_> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Base64".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "contentEncoding": "base64"})
    }
}

/// A dependency of a message, as native documents list it in `missingDeps`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct Dependency<'a> {
    /// Id of the message depended on.
    pub message_id: &'a str,
    /// Where the host may fetch it (the hint its sender attached; empty if none).
    pub retrieval_hint: Base64<'a>,
    /// Its sender's participant id (empty if unknown).
    pub sender_id: &'a str,
}

/// `missingDeps` of native documents: every entry a [`Dependency`].
#[derive(Clone, Copy)]
pub(crate) struct Dependencies<'a>(pub &'a [HistoryEntry]);

impl Serialize for Dependencies<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for entry in self.0 {
            seq.serialize_element(&Dependency {
                message_id: &entry.message_id,
                retrieval_hint: Base64(&entry.retrieval_hint),
                sender_id: &entry.sender_id,
            })?;
        }
        seq.end()
    }
}

#[cfg(test)]
impl schemars::JsonSchema for Dependencies<'_> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Dependencies".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<Dependency<'static>>>::json_schema(generator)
    }
}

/// A document as compact JSON, keys in declaration order.
fn to_bytes<T: Serialize>(document: &T, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut out, document) {
        Ok(()) => out,
        // The definitions here only hold strings, numbers and sequences of them, which
        // serde_json always writes; were that ever broken, the host still gets JSON.
        Err(error) => {
            serde_json::json!({ "error": format!("cannot format the document: {error}") })
                .to_string()
                .into_bytes()
        }
    }
}

/// A document as compact JSON, keys sorted at every level, as the documents once built
/// with `serde_json::json!` always were.
fn to_sorted_bytes<T: Serialize>(document: &T) -> Vec<u8> {
    match serde_json::to_value(document) {
        Ok(value) => value.to_string().into_bytes(),
        Err(_) => to_bytes(document, 0),
    }
}

/// The text of a document written by [`to_bytes`] (always UTF-8; were that ever broken,
/// invalid bytes would become U+FFFD rather than a panic).
fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
}

// ---------------------------------------------------------------------------------------
// Native dialect
// ---------------------------------------------------------------------------------------

/// An event of a native context, as the host receives it (`storage_next_event`, or the
/// event callback): `eventType` names the variant, the other keys are its fields.
#[derive(Serialize)]
#[serde(
    tag = "eventType",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) enum NativeEvent<'a> {
    /// A received message is delivered: every message of its causal history was
    /// delivered before.
    MessageReady {
        /// Channel of the message.
        channel_id: &'a str,
        /// Id of the delivered message.
        message_id: &'a str,
        /// Participant that sent it (empty if the sender runs without SDS-R).
        sender_id: &'a str,
        /// Its Lamport timestamp (a signed 64-bit integer).
        lamport_timestamp: i64,
        /// Its content.
        content: Base64<'a>,
    },
    /// An outgoing message is acknowledged: a peer listed it in its causal history, or
    /// `bloom_acks_to_confirm` independent bloom filters contained it.
    MessageSent {
        /// Channel of the message.
        channel_id: &'a str,
        /// Id of the acknowledged message.
        message_id: &'a str,
    },
    /// A peer's bloom filter contains an outgoing message, which is therefore probably
    /// (not certainly) received; it stays unacknowledged until confirmed.
    PossiblyAcknowledged {
        /// Channel of the message.
        channel_id: &'a str,
        /// Id of the message.
        message_id: &'a str,
        /// Independent bloom hits so far.
        hits: u32,
    },
    /// An unacknowledged message is due again: broadcast `message`.
    Resend {
        /// Channel of the message.
        channel_id: &'a str,
        /// Id of the message.
        message_id: &'a str,
        /// Which resend this is (1 for the first).
        attempt: u32,
        /// The wire bytes to broadcast (wrapped with the channel's current bloom filter).
        message: Base64<'a>,
    },
    /// An outgoing message exhausted its resends (`max_resend_attempts`) unacknowledged.
    MessageExpired {
        /// Channel of the message.
        channel_id: &'a str,
        /// Id of the message.
        message_id: &'a str,
    },
    /// A received message is buffered because some of its dependencies are missing.
    MissingDependencies {
        /// Channel of the message.
        channel_id: &'a str,
        /// Id of the buffered message.
        message_id: &'a str,
        /// The dependencies not yet delivered, with their retrieval hints.
        missing_deps: Dependencies<'a>,
    },
    /// A buffered message waited longer than `max_dependency_wait_ms` (or was evicted
    /// for the memory budget) and was dropped.
    MessageLost {
        /// Channel of the message.
        channel_id: &'a str,
        /// Id of the dropped message.
        message_id: &'a str,
        /// Ids of the dependencies that never arrived (strings, not objects).
        missing_deps: &'a [String],
    },
    /// SDS-R: broadcast `message`, which a peer asked to repair.
    RepairReady {
        /// Channel of the message.
        channel_id: &'a str,
        /// Id of the repaired message.
        message_id: &'a str,
        /// The wire bytes to broadcast.
        message: Base64<'a>,
    },
    /// Time to send a sync message on this channel (`storage_build_sync_message`).
    PeriodicSync {
        /// The channel to sync.
        channel_id: &'a str,
    },
    /// Received messages were refused because a limit was reached; at most one per
    /// channel per second.
    LimitReached {
        /// Channel of the refused messages; empty for messages refused before their
        /// channel was known.
        channel_id: &'a str,
        /// Messages refused since the previous `limit_reached` of this channel.
        refused: u64,
        /// Why the latest was refused.
        reason: &'a str,
    },
    /// The event queue (`event_queue_capacity`, `event_queue_max_bytes`) was full:
    /// events were dropped. Comes where the dropped events would have been.
    EventQueueOverflow {
        /// Events dropped.
        dropped: u64,
    },
    /// Saving the channel's state failed; the operation still succeeded (the state is
    /// in memory and the next save retries).
    PersistenceWarning {
        /// The channel whose state was being saved.
        channel_id: &'a str,
        /// The backend's message.
        message: &'a str,
    },
    /// A recorder dropped messages (`"when_full": "drop"`); at most once a second.
    RecordingDropped {
        /// Recording name.
        name: &'a str,
        /// Messages dropped so far.
        dropped: u64,
    },
    /// A writer error (disk full, folder gone) stopped the recording.
    RecordingFailed {
        /// Recording name.
        name: &'a str,
        /// What went wrong.
        message: &'a str,
    },
    /// As the context starts, crash recovery acted on a file left by an earlier run
    /// (one event per file).
    RecordingRecovered {
        /// Recording name.
        name: &'a str,
        /// The file acted on (inside `chunks/`; empty when `action` is `failed`).
        file: &'a str,
        /// `recovered` (messages saved into a new sealed chunk), `listed` (a sealed
        /// chunk added to the manifest), `quarantined` (nothing recoverable; the file
        /// is in `quarantine/`) or `failed` (`detail` says why).
        action: &'a str,
        /// Messages saved.
        messages: u64,
        /// Details.
        detail: &'a str,
    },
    /// The context started its `recording.autostart` recording, under this name.
    RecordingStarted {
        /// Recording name (`{autostart name}-{unix ms}`).
        name: &'a str,
    },
    /// A recorder sealed a chunk and linked it onto the recording's hash chain: `head` is
    /// the new head, for the host to anchor elsewhere (its database, a remote log) and
    /// later give to `storage_recording_verify_anchored`.
    ChunkSealed {
        /// Recording name (for a ring seal: the recording written).
        name: &'a str,
        /// The chunk's index in the recording, from 0.
        index: u64,
        /// The chunk file's SHA-256 (lower-case hex).
        sha256: &'a str,
        /// The chain's head with this chunk (lower-case hex).
        head: &'a str,
    },
    /// A replayed message (`storage_replay_start`).
    ReplayMessage {
        /// The replay, as `storage_replay_start` answered.
        replay_id: u64,
        /// Channel it is replayed on (after `remap`).
        channel_id: &'a str,
        /// Id of the message.
        message_id: &'a str,
        /// Participant that sent it.
        sender_id: &'a str,
        /// Its Lamport timestamp.
        lamport_timestamp: i64,
        /// Its content.
        content: Base64<'a>,
        /// When it was recorded (Unix ns).
        log_time_ns: u64,
    },
    /// The worker panicked and restarted under the restart policy: the requests it was
    /// running failed with `STORAGE_PANIC`, in-memory state was dropped and the channels
    /// reloaded from persistence; queued requests then run in order.
    WorkerRestarted {
        /// What panicked, and the panic's message.
        reason: &'a str,
        /// Restarts in the life of the context, this one included.
        restart_count: u64,
        /// Requests failed with `STORAGE_PANIC` by this panic.
        failed_requests: u64,
        /// `none` persistence: the protocol state is lost.
        state_lost: bool,
        /// Channels reloaded from persistence.
        channels_reloaded: &'a [String],
        /// Channels in memory before the panic that could not be reloaded (every one when
        /// the state is lost).
        channels_lost: &'a [String],
        /// Recordings being made: each sealed its open chunk (a `chunk_sealed` event
        /// follows) and goes on recording into a new chunk.
        recordings_reopened: &'a [String],
    },
    /// A replay ended: every message replayed, cancelled, or failed.
    ReplayFinished {
        /// The replay.
        replay_id: u64,
        /// Messages replayed.
        messages: u64,
        /// Stopped by `storage_replay_stop` (or the context's end).
        cancelled: bool,
        /// Why it failed, if it did (`null` otherwise).
        error: Option<&'a str>,
    },
    /// The background uploader's progress, after each chunk and each pass over a
    /// recording.
    UploadProgress {
        /// Bytes sent since the context started.
        bytes_sent: u64,
        /// Chunks put in the bucket (or found there) since the context started.
        chunks_done: u64,
        /// Chunks known to await upload.
        chunks_pending: u64,
    },
    /// A chunk is in the bucket (sent now, or found there) and marked in its manifest.
    ChunkUploaded {
        /// Recording name.
        name: &'a str,
        /// The chunk's index.
        index: u64,
        /// Its object key.
        key: &'a str,
        /// Bytes sent for it (0 when the bucket already had it).
        bytes_sent: u64,
    },
    /// The uploader gave up on a chunk (its file is corrupt, the bucket refused it, or
    /// it kept failing for `upload.dead_letter_after_ms`): its manifest entry says so,
    /// and it is tried again only by `storage_upload_recording`.
    ChunkDeadLettered {
        /// Recording name.
        name: &'a str,
        /// The chunk's index.
        index: u64,
        /// Why.
        reason: &'a str,
    },
    /// The upload queue paused: the bucket is missing, or the credentials are refused.
    /// It keeps trying at the backoff's pace; `upload_resumed` follows when it works.
    UploadPaused {
        /// What the bucket said (never a credential).
        reason: &'a str,
    },
    /// The upload queue runs again after `upload_paused`.
    UploadResumed {},
}

impl<'a> From<&'a Event> for NativeEvent<'a> {
    fn from(event: &'a Event) -> Self {
        match event {
            Event::MessageReady {
                channel_id,
                message_id,
                sender_id,
                lamport_timestamp,
                content,
            } => NativeEvent::MessageReady {
                channel_id,
                message_id,
                sender_id,
                lamport_timestamp: *lamport_timestamp,
                content: Base64(content),
            },
            Event::MessageSent {
                channel_id,
                message_id,
            } => NativeEvent::MessageSent {
                channel_id,
                message_id,
            },
            Event::PossiblyAcknowledged {
                channel_id,
                message_id,
                hits,
            } => NativeEvent::PossiblyAcknowledged {
                channel_id,
                message_id,
                hits: *hits,
            },
            Event::Resend {
                channel_id,
                message_id,
                attempt,
                bytes,
            } => NativeEvent::Resend {
                channel_id,
                message_id,
                attempt: *attempt,
                message: Base64(bytes),
            },
            Event::Expired {
                channel_id,
                message_id,
            } => NativeEvent::MessageExpired {
                channel_id,
                message_id,
            },
            Event::MissingDependencies {
                channel_id,
                message_id,
                missing,
            } => NativeEvent::MissingDependencies {
                channel_id,
                message_id,
                missing_deps: Dependencies(missing),
            },
            Event::Lost {
                channel_id,
                message_id,
                missing,
            } => NativeEvent::MessageLost {
                channel_id,
                message_id,
                missing_deps: missing,
            },
            Event::RepairReady {
                channel_id,
                message_id,
                bytes,
            } => NativeEvent::RepairReady {
                channel_id,
                message_id,
                message: Base64(bytes),
            },
            Event::PeriodicSync { channel_id } => NativeEvent::PeriodicSync { channel_id },
            Event::LimitReached {
                channel_id,
                refused,
                reason,
            } => NativeEvent::LimitReached {
                channel_id,
                refused: *refused,
                reason,
            },
        }
    }
}

impl<'a> NativeEvent<'a> {
    /// The native event of a runtime event; `None` for the sync tick (native hosts get
    /// one `periodic_sync` per channel instead).
    pub(crate) fn of(event: &'a RuntimeEvent) -> Option<Self> {
        Some(match event {
            RuntimeEvent::Protocol(event) => event.into(),
            RuntimeEvent::SyncTick => return None,
            RuntimeEvent::PersistenceWarning {
                channel_id,
                message,
            } => NativeEvent::PersistenceWarning {
                channel_id,
                message,
            },
            RuntimeEvent::RecordingDropped { name, dropped } => NativeEvent::RecordingDropped {
                name,
                dropped: *dropped,
            },
            RuntimeEvent::RecordingFailed { name, message } => {
                NativeEvent::RecordingFailed { name, message }
            }
            RuntimeEvent::RecordingRecovered(action) => NativeEvent::RecordingRecovered {
                name: &action.recording,
                file: &action.file,
                action: action.action,
                messages: action.messages,
                detail: &action.detail,
            },
            RuntimeEvent::RecordingStarted { name } => NativeEvent::RecordingStarted { name },
            RuntimeEvent::ChunkSealed(chunk) => NativeEvent::ChunkSealed {
                name: &chunk.recording,
                index: chunk.index,
                sha256: &chunk.sha256,
                head: &chunk.head,
            },
            RuntimeEvent::WorkerRestarted {
                reason,
                restart_count,
                failed_requests,
                state_lost,
                channels_reloaded,
                channels_lost,
                recordings_reopened,
            } => NativeEvent::WorkerRestarted {
                reason,
                restart_count: *restart_count,
                failed_requests: *failed_requests,
                state_lost: *state_lost,
                channels_reloaded,
                channels_lost,
                recordings_reopened,
            },
            RuntimeEvent::ReplayMessage {
                replay_id,
                channel_id,
                message,
                log_time_ns,
            } => NativeEvent::ReplayMessage {
                replay_id: *replay_id,
                channel_id,
                message_id: &message.message_id,
                sender_id: &message.sender_id,
                lamport_timestamp: message.lamport_timestamp,
                content: Base64(&message.content),
                log_time_ns: *log_time_ns,
            },
            RuntimeEvent::ReplayFinished {
                replay_id,
                messages,
                cancelled,
                error,
            } => NativeEvent::ReplayFinished {
                replay_id: *replay_id,
                messages: *messages,
                cancelled: *cancelled,
                error: error.as_deref(),
            },
            RuntimeEvent::UploadProgress(progress) => NativeEvent::UploadProgress {
                bytes_sent: progress.bytes_sent,
                chunks_done: progress.chunks_done,
                chunks_pending: progress.chunks_pending,
            },
            RuntimeEvent::ChunkUploaded {
                recording,
                index,
                key,
                bytes_sent,
            } => NativeEvent::ChunkUploaded {
                name: recording,
                index: *index,
                key,
                bytes_sent: *bytes_sent,
            },
            RuntimeEvent::ChunkDeadLettered {
                recording,
                index,
                reason,
            } => NativeEvent::ChunkDeadLettered {
                name: recording,
                index: *index,
                reason,
            },
            RuntimeEvent::UploadPaused { reason } => NativeEvent::UploadPaused { reason },
            RuntimeEvent::UploadResumed => NativeEvent::UploadResumed {},
        })
    }

    /// The event's JSON: the events of the message path by the fast writer, the
    /// others by serde.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        match self.write_fast() {
            Some(bytes) => bytes,
            // The recording and replay events were always written with sorted keys.
            None => to_sorted_bytes(self),
        }
    }

    /// The event's JSON, serialized by serde from the definition: what
    /// [`Self::write_fast`] must write, byte for byte.
    pub(crate) fn to_json_by_serde(&self) -> Vec<u8> {
        match self.write_fast() {
            Some(_) => to_bytes(self, 128),
            None => to_sorted_bytes(self),
        }
    }

    /// The fast writer (see [`super::json_writer`]) for the events of the message path,
    /// keys in the definition's order; `None` for the others. Checked against serde by
    /// `fast_writer_writes_what_serde_writes`.
    fn write_fast(&self) -> Option<Vec<u8>> {
        let capacity = match self {
            NativeEvent::MessageReady { content, .. } => 160 + content.0.len() / 3 * 4,
            NativeEvent::Resend { message, .. } | NativeEvent::RepairReady { message, .. } => {
                128 + message.0.len() / 3 * 4
            }
            _ => 128,
        };
        let mut fast = true;
        let bytes = object_bytes(capacity, |o| match *self {
            NativeEvent::MessageReady {
                channel_id,
                message_id,
                sender_id,
                lamport_timestamp,
                content,
            } => {
                o.str("eventType", "message_ready")
                    .str("channelId", channel_id)
                    .str("messageId", message_id)
                    .str("senderId", sender_id)
                    .int("lamportTimestamp", lamport_timestamp)
                    .base64("content", content.0);
            }
            NativeEvent::MessageSent {
                channel_id,
                message_id,
            } => {
                o.str("eventType", "message_sent")
                    .str("channelId", channel_id)
                    .str("messageId", message_id);
            }
            NativeEvent::PossiblyAcknowledged {
                channel_id,
                message_id,
                hits,
            } => {
                o.str("eventType", "possibly_acknowledged")
                    .str("channelId", channel_id)
                    .str("messageId", message_id)
                    .int("hits", hits);
            }
            NativeEvent::Resend {
                channel_id,
                message_id,
                attempt,
                message,
            } => {
                o.str("eventType", "resend")
                    .str("channelId", channel_id)
                    .str("messageId", message_id)
                    .int("attempt", attempt)
                    .base64("message", message.0);
            }
            NativeEvent::MessageExpired {
                channel_id,
                message_id,
            } => {
                o.str("eventType", "message_expired")
                    .str("channelId", channel_id)
                    .str("messageId", message_id);
            }
            NativeEvent::MissingDependencies {
                channel_id,
                message_id,
                missing_deps,
            } => {
                o.str("eventType", "missing_dependencies")
                    .str("channelId", channel_id)
                    .str("messageId", message_id)
                    .with("missingDeps", |out| missing_deps.write_fast(out));
            }
            NativeEvent::MessageLost {
                channel_id,
                message_id,
                missing_deps,
            } => {
                o.str("eventType", "message_lost")
                    .str("channelId", channel_id)
                    .str("messageId", message_id)
                    .with("missingDeps", |out| {
                        push_array(out, missing_deps, |out, id| push_json_str(out, id))
                    });
            }
            NativeEvent::RepairReady {
                channel_id,
                message_id,
                message,
            } => {
                o.str("eventType", "repair_ready")
                    .str("channelId", channel_id)
                    .str("messageId", message_id)
                    .base64("message", message.0);
            }
            NativeEvent::PeriodicSync { channel_id } => {
                o.str("eventType", "periodic_sync")
                    .str("channelId", channel_id);
            }
            NativeEvent::LimitReached {
                channel_id,
                refused,
                reason,
            } => {
                o.str("eventType", "limit_reached")
                    .str("channelId", channel_id)
                    .int("refused", refused)
                    .str("reason", reason);
            }
            NativeEvent::EventQueueOverflow { dropped } => {
                o.str("eventType", "event_queue_overflow")
                    .int("dropped", dropped);
            }
            NativeEvent::PersistenceWarning {
                channel_id,
                message,
            } => {
                o.str("eventType", "persistence_warning")
                    .str("channelId", channel_id)
                    .str("message", message);
            }
            NativeEvent::RecordingDropped { .. }
            | NativeEvent::RecordingFailed { .. }
            | NativeEvent::RecordingRecovered { .. }
            | NativeEvent::RecordingStarted { .. }
            | NativeEvent::ChunkSealed { .. }
            | NativeEvent::WorkerRestarted { .. }
            | NativeEvent::ReplayMessage { .. }
            | NativeEvent::ReplayFinished { .. }
            | NativeEvent::UploadProgress { .. }
            | NativeEvent::ChunkUploaded { .. }
            | NativeEvent::ChunkDeadLettered { .. }
            | NativeEvent::UploadPaused { .. }
            | NativeEvent::UploadResumed { .. } => fast = false,
        });
        fast.then_some(bytes)
    }
}

impl Dependencies<'_> {
    /// The fast writer of `missingDeps` ([`Dependency`] entries).
    fn write_fast(&self, out: &mut Vec<u8>) {
        push_array(out, self.0, |out, dep| {
            let mut o = JsonObject::begin(out);
            o.str("messageId", &dep.message_id)
                .base64("retrievalHint", &dep.retrieval_hint)
                .str("senderId", &dep.sender_id);
            o.end();
        });
    }
}

/// The `status` of an unwrap result, as [`UnwrapStatus`]'s definition names it.
fn status_name(status: UnwrapStatus) -> &'static str {
    match status {
        UnwrapStatus::Delivered => "delivered",
        UnwrapStatus::Buffered => "buffered",
        UnwrapStatus::Duplicate => "duplicate",
        UnwrapStatus::Sync => "sync",
        UnwrapStatus::Ephemeral => "ephemeral",
    }
}

/// The native JSON for a protocol event (`NativeEvent`).
pub fn native_event(event: &Event) -> String {
    into_string(NativeEvent::from(event).to_json())
}

/// The native JSON for a runtime event ([`NativeEvent`]); `None` for the sync tick.
pub(super) fn native_runtime_event(event: &RuntimeEvent) -> Option<Vec<u8>> {
    NativeEvent::of(event).map(|event| event.to_json())
}

/// The native event reporting that the event queue was full and `dropped` events were
/// discarded.
pub(super) fn native_event_queue_overflow(dropped: u64) -> String {
    into_string(NativeEvent::EventQueueOverflow { dropped }.to_json())
}

/// The result of `storage_unwrap`: what happened to a received message.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct UnwrapResult<'a> {
    /// Channel of the message.
    pub channel_id: &'a str,
    /// Id of the message.
    pub message_id: &'a str,
    /// Sender's participant id (may be empty).
    pub sender_id: &'a str,
    /// Its content (empty for sync messages); delivered messages also come as a
    /// `message_ready` event, in causal order.
    pub content: Base64<'a>,
    /// `delivered` (now), `buffered` (until its missing dependencies arrive),
    /// `duplicate` (seen before), `sync` (metadata only, never delivered) or `ephemeral`
    /// (delivered, never stored).
    pub status: UnwrapStatus,
    /// Dependencies not yet delivered (`[]` unless buffered or sync).
    pub missing_deps: Dependencies<'a>,
}

impl<'a> From<&'a Unwrapped> for UnwrapResult<'a> {
    fn from(u: &'a Unwrapped) -> Self {
        Self {
            channel_id: &u.channel_id,
            message_id: &u.message_id,
            sender_id: &u.sender_id,
            content: Base64(&u.content),
            status: u.status,
            missing_deps: Dependencies(&u.missing),
        }
    }
}

impl UnwrapResult<'_> {
    /// The result's JSON, by the fast writer (keys in the definition's order; checked
    /// against serde by `fast_writer_writes_what_serde_writes`).
    pub(crate) fn to_json(&self) -> Vec<u8> {
        object_bytes(128 + self.content.0.len() / 3 * 4, |o| {
            o.str("channelId", self.channel_id)
                .str("messageId", self.message_id)
                .str("senderId", self.sender_id)
                .base64("content", self.content.0)
                .str("status", status_name(self.status))
                .with("missingDeps", |out| self.missing_deps.write_fast(out));
        })
    }
}

/// The native JSON for an unwrap outcome ([`UnwrapResult`]).
pub(super) fn native_unwrap_result(u: &Unwrapped) -> String {
    into_string(UnwrapResult::from(u).to_json())
}

/// [`native_event`] written by serde from the definition instead of the fast writer,
/// only to measure the two (`cargo bench --bench codec -- json`).
#[doc(hidden)]
pub fn native_event_by_serde(event: &Event) -> Vec<u8> {
    NativeEvent::from(event).to_json_by_serde()
}

/// Memory held against the memory budget, by kind, in bytes.
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct MemoryUsage {
    /// Everything below.
    pub total: usize,
    /// Channel state and bloom filters.
    pub base: usize,
    /// Delivered history and the ids bloom filters track.
    pub history: usize,
    /// Messages waiting for dependencies, with their dependency index.
    pub buffered: usize,
    /// SDS-R repair buffers.
    pub repair: usize,
}

impl From<&Usage> for MemoryUsage {
    fn from(usage: &Usage) -> Self {
        let Usage {
            base,
            history,
            buffered,
            repair,
        } = *usage;
        Self {
            total: usage.total(),
            base,
            history,
            buffered,
            repair,
        }
    }
}

/// What a channel and its context hold against the memory budget.
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct MemoryStats {
    /// What this channel holds.
    pub channel: MemoryUsage,
    /// What the whole context holds.
    pub context: MemoryUsage,
    /// The memory budget (`memory_budget_bytes`).
    pub budget: usize,
}

/// The result of `storage_channel_stats`: a channel's sizes and lifetime counters.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct ChannelStatsResult<'a> {
    /// The channel.
    pub channel_id: &'a str,
    /// The channel's Lamport clock.
    pub lamport_timestamp: i64,
    /// Messages in history.
    pub history_len: usize,
    /// Unacknowledged outgoing messages.
    pub outgoing_len: usize,
    /// Received messages waiting for dependencies.
    pub incoming_len: usize,
    /// Bytes those buffered messages hold, with their dependency index.
    pub incoming_bytes: usize,
    /// Entries of the SDS-R outgoing repair buffer.
    pub outgoing_repair_len: usize,
    /// Entries of the SDS-R incoming repair buffer.
    pub incoming_repair_len: usize,
    /// Memory held against the budget.
    pub memory: MemoryStats,
    /// What happened on the channel since it was created or loaded in this process.
    pub counters: &'a ChannelCounters,
}

impl<'a> ChannelStatsResult<'a> {
    /// The statistics of channel `channel_id`.
    pub(crate) fn new(channel_id: &'a str, stats: &'a ChannelStats) -> Self {
        // Exhaustive destructuring: a field added to the stats fails to compile here
        // until it is reported.
        let ChannelStats {
            lamport_timestamp,
            history_len,
            outgoing_len,
            incoming_len,
            incoming_bytes,
            outgoing_repair_len,
            incoming_repair_len,
            memory,
            manager_memory,
            memory_budget,
            counters,
        } = stats;
        Self {
            channel_id,
            lamport_timestamp: *lamport_timestamp,
            history_len: *history_len,
            outgoing_len: *outgoing_len,
            incoming_len: *incoming_len,
            incoming_bytes: *incoming_bytes,
            outgoing_repair_len: *outgoing_repair_len,
            incoming_repair_len: *incoming_repair_len,
            memory: MemoryStats {
                channel: memory.into(),
                context: manager_memory.into(),
                budget: *memory_budget,
            },
            counters,
        }
    }
}

/// The native JSON for one channel's statistics ([`ChannelStatsResult`]).
pub(super) fn channel_stats(channel_id: &str, stats: &ChannelStats) -> String {
    into_string(to_sorted_bytes(&ChannelStatsResult::new(channel_id, stats)))
}

/// The result of `storage_recordings_list`.
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct RecordingList<'a> {
    /// Every recording under the root, by folder name.
    pub recordings: &'a [ListedRecording],
}

/// The result of `storage_replay_start`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct ReplayStarted {
    /// The replay's id, carried by its events and taken by `storage_replay_stop`.
    pub replay_id: u64,
}

/// The result of `storage_recording_stop` ([`RecorderSummary`]).
pub(super) fn recording_stop_result(summary: &RecorderSummary) -> Vec<u8> {
    to_bytes(summary, 512)
}

/// The result of `storage_recording_seal`: the new recording's [`Manifest`].
pub(super) fn recording_seal_result(manifest: &Manifest) -> Vec<u8> {
    to_bytes(manifest, 512)
}

/// The result of `storage_recordings_list` ([`RecordingList`]).
pub(super) fn recordings_list_result(recordings: &[ListedRecording]) -> Vec<u8> {
    to_sorted_bytes(&RecordingList { recordings })
}

/// The result of `storage_recording_verify` ([`VerifyReport`]).
pub(super) fn recording_verify_result(report: &VerifyReport) -> Vec<u8> {
    to_bytes(report, 256)
}

/// The result of `storage_upload_recording` ([`UploadReport`]).
pub(super) fn upload_report_result(report: &UploadReport) -> Vec<u8> {
    to_bytes(report, 256)
}

/// The result of `storage_upload_reconcile` and `storage_upload_restore`
/// ([`ReconcileReport`]).
pub(super) fn reconcile_result(report: &ReconcileReport) -> Vec<u8> {
    to_bytes(report, 256)
}

/// The result of `storage_upload_status`.
pub(super) fn upload_status_result(status: &UploadStatus) -> Vec<u8> {
    to_bytes(&UploadStatusResult::new(status), 512)
}

/// A recording's upload state (`storage_upload_status`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct UploadStatusResult<'a> {
    /// The recording.
    pub recording: &'a str,
    /// Its manifest's object key.
    pub manifest_key: &'a str,
    /// It is still being written here.
    pub active: bool,
    /// One row per chunk, in index order.
    pub chunks: Vec<ChunkStatusResult<'a>>,
    /// Chunks in the bucket.
    pub uploaded: usize,
    /// Chunks waiting to go up (neither in the bucket nor dead-lettered).
    pub pending: usize,
    /// Chunks the uploader gave up on (`storage_upload_recording` tries them again).
    pub dead_lettered: usize,
    /// A pass over the recording is queued.
    pub queued: bool,
    /// A pass over the recording is running.
    pub uploading: bool,
    /// Why the whole upload queue is paused (`null`: it is not).
    pub paused: Option<&'a str>,
    /// When the queue tries again after failures (Unix ms; `null`: it does not wait).
    pub retry_at_ms: Option<u64>,
}

/// One chunk's row of an [`UploadStatusResult`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct ChunkStatusResult<'a> {
    /// The chunk's index.
    pub index: u64,
    /// Its object key.
    pub key: &'a str,
    /// Its size in bytes.
    pub size: u64,
    /// When it was found or put in the bucket (Unix ns; `null`: not yet).
    pub uploaded_at_ns: Option<u64>,
    /// The object's ETag (`null`: not uploaded).
    pub etag: Option<&'a str>,
    /// Why the uploader gave up on it (`null`: it did not).
    pub dead_letter: Option<DeadLetterResult<'a>>,
}

/// A dead letter: why and when the uploader gave up on a chunk.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct DeadLetterResult<'a> {
    /// When (Unix ns).
    pub at_ns: u64,
    /// Why.
    pub reason: &'a str,
}

impl<'a> UploadStatusResult<'a> {
    fn new(status: &'a UploadStatus) -> Self {
        let count = |f: fn(&ChunkStatus) -> bool| status.chunks.iter().filter(|c| f(c)).count();
        Self {
            recording: &status.recording,
            manifest_key: &status.manifest_key,
            active: status.active,
            chunks: status
                .chunks
                .iter()
                .map(|c| ChunkStatusResult {
                    index: c.index,
                    key: &c.key,
                    size: c.size,
                    uploaded_at_ns: c.uploaded_at_ns,
                    etag: c.etag.as_deref(),
                    dead_letter: c.dead_letter.as_ref().map(|d| DeadLetterResult {
                        at_ns: d.at_ns,
                        reason: &d.reason,
                    }),
                })
                .collect(),
            uploaded: count(|c| c.uploaded_at_ns.is_some()),
            pending: count(|c| c.uploaded_at_ns.is_none() && c.dead_letter.is_none()),
            dead_lettered: count(|c| c.uploaded_at_ns.is_none() && c.dead_letter.is_some()),
            queued: status.queue.queued,
            uploading: status.queue.uploading,
            paused: status.queue.paused.as_deref(),
            retry_at_ms: status.queue.retry_at_ms,
        }
    }
}

/// The result of `storage_recording_supersede` and `storage_recording_erase`: the audit
/// record appended ([`AuditRecord`]).
pub(super) fn audit_record_result(record: &AuditRecord) -> Vec<u8> {
    to_bytes(record, 512)
}

/// The result of `storage_audit_query`.
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct AuditQueryResult<'a> {
    /// The records the query selects, in log order.
    pub records: &'a [AuditRecord],
    /// The verdict on the whole log's chain (and on the anchored head, if one was given).
    pub verdict: &'a AuditVerdict,
}

/// The result of `storage_audit_query` ([`AuditQueryResult`]).
pub(super) fn audit_query_result(reading: &AuditReading) -> Vec<u8> {
    to_bytes(
        &AuditQueryResult {
            records: &reading.records,
            verdict: &reading.verdict,
        },
        512,
    )
}

/// The result of `storage_replay_start` ([`ReplayStarted`]).
pub(super) fn replay_start_result(replay_id: u64) -> Vec<u8> {
    to_bytes(&ReplayStarted { replay_id }, 24)
}

// ---------------------------------------------------------------------------------------
// libsds dialect
// ---------------------------------------------------------------------------------------

/// A dependency as libsds lists it in `missingDeps` (no sender).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct LibsdsDependency<'a> {
    /// Id of the message depended on.
    pub message_id: &'a str,
    /// Its retrieval hint (`""` if none).
    pub retrieval_hint: Base64<'a>,
}

/// `missingDeps` of libsds documents: every entry a [`LibsdsDependency`].
#[derive(Clone, Copy)]
pub(crate) struct LibsdsDependencies<'a>(pub &'a [HistoryEntry]);

impl Serialize for LibsdsDependencies<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for entry in self.0 {
            seq.serialize_element(&LibsdsDependency {
                message_id: &entry.message_id,
                retrieval_hint: Base64(&entry.retrieval_hint),
            })?;
        }
        seq.end()
    }
}

#[cfg(test)]
impl schemars::JsonSchema for LibsdsDependencies<'_> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LibsdsDependencies".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<LibsdsDependency<'static>>>::json_schema(generator)
    }
}

/// An event of a libsds context, keys in libsds's order (`eventType` is a field, placed
/// where libsds writes it).
#[derive(Serialize)]
#[serde(untagged)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) enum LibsdsEvent<'a> {
    /// `message_ready` or `message_sent`.
    Delivery(LibsdsDelivery<'a>),
    /// `missing_dependencies`.
    MissingDependencies(LibsdsMissingDependencies<'a>),
    /// `repair_ready`.
    RepairReady(LibsdsRepairReady<'a>),
}

/// libsds's `message_ready` (a message is delivered) and `message_sent` (an outgoing
/// message is acknowledged).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct LibsdsDelivery<'a> {
    /// Id of the message.
    pub message_id: &'a str,
    /// Its channel.
    pub channel_id: &'a str,
    /// `message_ready` or `message_sent`.
    pub event_type: &'static str,
}

/// libsds's `missing_dependencies`: a received message is buffered.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct LibsdsMissingDependencies<'a> {
    /// `missing_dependencies`.
    pub event_type: &'static str,
    /// Id of the buffered message.
    pub message_id: &'a str,
    /// Its channel.
    pub channel_id: &'a str,
    /// The dependencies not yet delivered.
    pub missing_deps: LibsdsDependencies<'a>,
}

/// libsds's `repair_ready`: broadcast `message`, which a peer asked to repair.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct LibsdsRepairReady<'a> {
    /// `repair_ready`.
    pub event_type: &'static str,
    /// The channel.
    pub channel_id: &'a str,
    /// The full wrapped message to broadcast.
    pub message: Base64<'a>,
}

/// libsds's sync-timer event, which names no channel (a C string: it is handed to hosts
/// as is, for the life of the process). Its one key, `eventType`, is `periodic_sync`.
pub(super) const LIBSDS_PERIODIC_SYNC: &CStr = c"{\"eventType\":\"periodic_sync\"}";

impl<'a> LibsdsEvent<'a> {
    /// The libsds event of a protocol event, or `None` for events libsds never emits
    /// (`possibly_acknowledged`, `resend`, `message_expired`, `message_lost`,
    /// `limit_reached`) and for `periodic_sync` ([`LIBSDS_PERIODIC_SYNC`]).
    pub(crate) fn of(event: &'a Event) -> Option<Self> {
        Some(match event {
            Event::MessageReady {
                channel_id,
                message_id,
                ..
            } => LibsdsEvent::Delivery(LibsdsDelivery {
                message_id,
                channel_id,
                event_type: "message_ready",
            }),
            Event::MessageSent {
                channel_id,
                message_id,
            } => LibsdsEvent::Delivery(LibsdsDelivery {
                message_id,
                channel_id,
                event_type: "message_sent",
            }),
            Event::MissingDependencies {
                channel_id,
                message_id,
                missing,
            } => LibsdsEvent::MissingDependencies(LibsdsMissingDependencies {
                event_type: "missing_dependencies",
                message_id,
                channel_id,
                missing_deps: LibsdsDependencies(missing),
            }),
            Event::RepairReady {
                channel_id, bytes, ..
            } => LibsdsEvent::RepairReady(LibsdsRepairReady {
                event_type: "repair_ready",
                channel_id,
                message: Base64(bytes),
            }),
            Event::PeriodicSync { .. }
            | Event::PossiblyAcknowledged { .. }
            | Event::Resend { .. }
            | Event::Expired { .. }
            | Event::Lost { .. }
            | Event::LimitReached { .. } => return None,
        })
    }
}

/// The libsds event JSON for `event` ([`LibsdsEvent`], or [`LIBSDS_PERIODIC_SYNC`]), or
/// None for events libsds never emits.
pub(super) fn libsds_event(event: &Event) -> Option<String> {
    match event {
        Event::PeriodicSync { .. } => Some(LIBSDS_PERIODIC_SYNC.to_string_lossy().into_owned()),
        _ => LibsdsEvent::of(event).map(|event| into_string(to_bytes(&event, 96))),
    }
}

/// The libsds unwrap result. `message` is the content as an array of byte values
/// whatever the outcome (also for duplicates and buffered messages).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub(crate) struct LibsdsUnwrapResult<'a> {
    /// The content, as an array of byte values (0 to 255).
    pub message: &'a [u8],
    /// Channel of the message.
    pub channel_id: &'a str,
    /// Dependencies not yet delivered (`[]` when nothing is missing).
    pub missing_deps: LibsdsDependencies<'a>,
}

impl<'a> From<&'a Unwrapped> for LibsdsUnwrapResult<'a> {
    fn from(u: &'a Unwrapped) -> Self {
        Self {
            message: &u.content,
            channel_id: &u.channel_id,
            missing_deps: LibsdsDependencies(&u.missing),
        }
    }
}

/// The libsds unwrap result (`LibsdsUnwrapResult`), compact, written by hand: the
/// content's byte values go through the decimal table of
/// `push_decimal_list`, several times faster
/// than serde's number formatting for the 18 KB+ of a message. The other members are
/// written by serde, and a test compares the whole document with the definition's, byte
/// for byte. UTF-8 bytes, with room for the NUL the libsds hand-over appends.
pub fn libsds_unwrap_result(u: &Unwrapped) -> Vec<u8> {
    let capacity = u
        .content
        .len()
        .saturating_mul(4)
        .saturating_add(u.channel_id.len() + 64);
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(b"{\"message\":[");
    push_decimal_list(&mut out, &u.content);
    out.extend_from_slice(b"],\"channelId\":");
    let rest = serde_json::to_writer(&mut out, &u.channel_id).and_then(|()| {
        out.extend_from_slice(b",\"missingDeps\":");
        serde_json::to_writer(&mut out, &LibsdsDependencies(&u.missing))
    });
    if rest.is_err() {
        // Strings and sequences of them always serialize; keep the document valid.
        return to_bytes(&LibsdsUnwrapResult::from(u), capacity);
    }
    out.push(b'}');
    out
}

/// The libsds wrap result: the wrapped bytes as comma-separated decimal numbers, no spaces
/// (`"10,255,0"`); `""` for no bytes. ASCII bytes, in one buffer sized for the longest
/// text plus the NUL the libsds hand-over appends, so it is never reallocated (a released
/// result buffer when one is large enough, see `ffi/retained.rs`).
pub fn libsds_wrap_result(bytes: &[u8]) -> Vec<u8> {
    let mut out = super::retained::buffer(bytes.len().saturating_mul(4).saturating_add(1));
    push_decimal_list(&mut out, bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::channel::RefusalCounts;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine as _;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// Ids no naive writer survives: quotes, backslashes, every kind of control character,
    /// JSON-looking text, non-ASCII, astral-plane characters.
    const HOSTILE: &[&str] = &[
        "",
        "\"",
        "\\",
        "\\\"",
        "a\"b\\c",
        "\u{0}\u{1}\u{1f}\u{7f}",
        "line\nbreak\r\ttab\u{8}\u{c}",
        "\"},\"eventType\":\"x",
        "</script>",
        "héllo wörld ✓",
        "😀𝄞",
        "\u{2028}\u{2029}\u{feff}",
    ];

    /// A libsds document as text (the writers produce UTF-8).
    fn utf8(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("UTF-8")
    }

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("invalid JSON {s:?}: {e}"))
    }

    fn entry(id: &str, hint: &[u8], sender: &str) -> HistoryEntry {
        HistoryEntry {
            message_id: id.to_owned(),
            retrieval_hint: hint.to_vec(),
            sender_id: sender.to_owned(),
        }
    }

    /// One event of every kind, with the given ids.
    fn all_events(ch: &str, id: &str) -> Vec<Event> {
        vec![
            Event::MessageReady {
                channel_id: ch.into(),
                message_id: id.into(),
                sender_id: "alice".into(),
                lamport_timestamp: 42,
                content: b"hi".to_vec(),
            },
            Event::MessageSent {
                channel_id: ch.into(),
                message_id: id.into(),
            },
            Event::PossiblyAcknowledged {
                channel_id: ch.into(),
                message_id: id.into(),
                hits: 2,
            },
            Event::Resend {
                channel_id: ch.into(),
                message_id: id.into(),
                attempt: 3,
                bytes: vec![1, 2, 3],
            },
            Event::Expired {
                channel_id: ch.into(),
                message_id: id.into(),
            },
            Event::MissingDependencies {
                channel_id: ch.into(),
                message_id: id.into(),
                missing: vec![entry(id, b"\x00\xff", "bob"), entry("d2", b"", "")],
            },
            Event::Lost {
                channel_id: ch.into(),
                message_id: id.into(),
                missing: vec![id.into(), "d2".into()],
            },
            Event::RepairReady {
                channel_id: ch.into(),
                message_id: id.into(),
                bytes: vec![9, 8, 7, 6],
            },
            Event::PeriodicSync {
                channel_id: ch.into(),
            },
            Event::LimitReached {
                channel_id: ch.into(),
                refused: 7,
                reason: id.into(),
            },
        ]
    }

    /// The native `persistence_warning` of `channel_id`.
    fn warning(channel_id: &str, message: &str) -> String {
        let event = RuntimeEvent::PersistenceWarning {
            channel_id: channel_id.into(),
            message: message.into(),
        };
        String::from_utf8(native_runtime_event(&event).expect("an event")).expect("UTF-8")
    }

    fn unwrapped(status: UnwrapStatus, content: &[u8], missing: Vec<HistoryEntry>) -> Unwrapped {
        Unwrapped {
            channel_id: "ch".into(),
            message_id: "m1".into(),
            sender_id: "alice".into(),
            content: content.to_vec(),
            status,
            missing,
        }
    }

    #[test]
    fn native_events_have_every_field() {
        let expected = [
            json!({"eventType": "message_ready", "channelId": "ch", "messageId": "m1",
                   "senderId": "alice", "lamportTimestamp": 42, "content": "aGk="}),
            json!({"eventType": "message_sent", "channelId": "ch", "messageId": "m1"}),
            json!({"eventType": "possibly_acknowledged", "channelId": "ch", "messageId": "m1",
                   "hits": 2}),
            json!({"eventType": "resend", "channelId": "ch", "messageId": "m1", "attempt": 3,
                   "message": "AQID"}),
            json!({"eventType": "message_expired", "channelId": "ch", "messageId": "m1"}),
            json!({"eventType": "missing_dependencies", "channelId": "ch", "messageId": "m1",
            "missingDeps": [
                {"messageId": "m1", "retrievalHint": "AP8=", "senderId": "bob"},
                {"messageId": "d2", "retrievalHint": "", "senderId": ""},
            ]}),
            json!({"eventType": "message_lost", "channelId": "ch", "messageId": "m1",
                   "missingDeps": ["m1", "d2"]}),
            json!({"eventType": "repair_ready", "channelId": "ch", "messageId": "m1",
                   "message": "CQgHBg=="}),
            json!({"eventType": "periodic_sync", "channelId": "ch"}),
            json!({"eventType": "limit_reached", "channelId": "ch", "refused": 7,
                   "reason": "m1"}),
        ];
        let events = all_events("ch", "m1");
        assert_eq!(events.len(), expected.len());
        for (event, want) in events.iter().zip(expected) {
            let text = native_event(event);
            assert!(!text.contains(char::is_whitespace), "{text}");
            assert_eq!(parse(&text), want, "{event:?}");
        }
    }

    /// The fast writers' documents next to serde's for the same definitions.
    fn both_ways(event: &Event, u: &Unwrapped) -> Vec<(Vec<u8>, Vec<u8>)> {
        let native = NativeEvent::from(event);
        let overflow = NativeEvent::EventQueueOverflow { dropped: u64::MAX };
        let warning = NativeEvent::PersistenceWarning {
            channel_id: &u.channel_id,
            message: &u.message_id,
        };
        vec![
            (native.to_json(), to_bytes(&native, 0)),
            (overflow.to_json(), to_bytes(&overflow, 0)),
            (warning.to_json(), to_bytes(&warning, 0)),
            (
                UnwrapResult::from(u).to_json(),
                to_bytes(&UnwrapResult::from(u), 0),
            ),
            (
                libsds_unwrap_result(u),
                to_bytes(&LibsdsUnwrapResult::from(u), 0),
            ),
        ]
    }

    #[test]
    fn fast_writer_writes_what_serde_writes() {
        for &ch in HOSTILE {
            for &id in HOSTILE {
                let u = Unwrapped {
                    channel_id: ch.into(),
                    message_id: id.into(),
                    sender_id: id.into(),
                    content: id.as_bytes().to_vec(),
                    status: UnwrapStatus::Buffered,
                    missing: vec![entry(id, id.as_bytes(), ch), entry("d2", b"", "")],
                };
                for event in all_events(ch, id) {
                    for (fast, serde) in both_ways(&event, &u) {
                        assert_eq!(utf8(fast), utf8(serde), "{event:?}");
                    }
                }
            }
        }
        for status in [
            UnwrapStatus::Delivered,
            UnwrapStatus::Buffered,
            UnwrapStatus::Duplicate,
            UnwrapStatus::Sync,
            UnwrapStatus::Ephemeral,
        ] {
            let u = unwrapped(status, b"", vec![]);
            let result = UnwrapResult::from(&u);
            assert_eq!(utf8(result.to_json()), utf8(to_bytes(&result, 0)));
        }
    }

    #[test]
    fn recovery_and_autostart_events_have_their_native_shape() {
        let recovered =
            RuntimeEvent::RecordingRecovered(crate::recording::recovery::RecoveryAction {
                recording: "run-1".into(),
                file: ".chunk-000007.mcap.active".into(),
                action: "quarantined",
                messages: 0,
                detail: "no complete MCAP chunk".into(),
            });
        let text = native_runtime_event(&recovered).expect("an event");
        assert_eq!(
            String::from_utf8(text).expect("UTF-8"),
            concat!(
                r#"{"action":"quarantined","detail":"no complete MCAP chunk","#,
                r#""eventType":"recording_recovered","file":".chunk-000007.mcap.active","#,
                r#""messages":0,"name":"run-1"}"#
            )
        );
        let started = RuntimeEvent::RecordingStarted {
            name: "robot-1700000000000".into(),
        };
        let text = native_runtime_event(&started).expect("an event");
        assert_eq!(
            parse(&String::from_utf8(text).expect("UTF-8")),
            json!({"eventType": "recording_started", "name": "robot-1700000000000"})
        );
        assert_eq!(native_runtime_event(&RuntimeEvent::SyncTick), None);
    }

    #[test]
    fn native_message_ready_keeps_negative_and_large_timestamps() {
        for ts in [i64::MIN, -1, 0, i64::MAX] {
            let event = Event::MessageReady {
                channel_id: "c".into(),
                message_id: "m".into(),
                sender_id: String::new(),
                lamport_timestamp: ts,
                content: Vec::new(),
            };
            let v = parse(&native_event(&event));
            assert_eq!(v["lamportTimestamp"].as_i64(), Some(ts));
            assert_eq!(v["content"], "");
        }
    }

    #[test]
    fn native_runtime_events() {
        assert_eq!(
            parse(&native_event_queue_overflow(17)),
            json!({"eventType": "event_queue_overflow", "dropped": 17})
        );
        assert_eq!(
            parse(&native_event_queue_overflow(u64::MAX))["dropped"].as_u64(),
            Some(u64::MAX)
        );
        assert_eq!(
            parse(&warning("ch", "disk full")),
            json!({"eventType": "persistence_warning", "channelId": "ch",
                   "message": "disk full"})
        );
    }

    #[test]
    fn libsds_events_exact() {
        let got: Vec<Option<String>> = all_events("ch", "m1").iter().map(libsds_event).collect();
        let want: Vec<Option<&str>> = vec![
            Some(r#"{"messageId":"m1","channelId":"ch","eventType":"message_ready"}"#),
            Some(r#"{"messageId":"m1","channelId":"ch","eventType":"message_sent"}"#),
            None,
            None,
            None,
            Some(concat!(
                r#"{"eventType":"missing_dependencies","messageId":"m1","channelId":"ch","#,
                r#""missingDeps":[{"messageId":"m1","retrievalHint":"AP8="},"#,
                r#"{"messageId":"d2","retrievalHint":""}]}"#
            )),
            None,
            Some(r#"{"eventType":"repair_ready","channelId":"ch","message":"CQgHBg=="}"#),
            Some(r#"{"eventType":"periodic_sync"}"#),
            None,
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.as_deref(), w);
        }
    }

    #[test]
    fn libsds_missing_dependencies_with_no_deps() {
        let event = Event::MissingDependencies {
            channel_id: "c".into(),
            message_id: "m".into(),
            missing: Vec::new(),
        };
        assert_eq!(
            libsds_event(&event).as_deref(),
            Some(
                r#"{"eventType":"missing_dependencies","messageId":"m","channelId":"c","missingDeps":[]}"#
            )
        );
    }

    #[test]
    fn native_unwrap_results() {
        let deps = vec![entry("d1", b"hint", "bob"), entry("d2", b"", "")];
        let cases = [
            (
                unwrapped(UnwrapStatus::Delivered, b"abc", vec![]),
                "delivered",
                json!([]),
            ),
            (
                unwrapped(UnwrapStatus::Duplicate, b"abc", vec![]),
                "duplicate",
                json!([]),
            ),
            (
                unwrapped(UnwrapStatus::Sync, b"", deps.clone()),
                "sync",
                json!([{"messageId": "d1", "retrievalHint": "aGludA==", "senderId": "bob"},
                    {"messageId": "d2", "retrievalHint": "", "senderId": ""}]),
            ),
            (
                unwrapped(UnwrapStatus::Ephemeral, b"abc", vec![]),
                "ephemeral",
                json!([]),
            ),
            (
                unwrapped(UnwrapStatus::Buffered, b"abc", deps),
                "buffered",
                json!([{"messageId": "d1", "retrievalHint": "aGludA==", "senderId": "bob"},
                    {"messageId": "d2", "retrievalHint": "", "senderId": ""}]),
            ),
        ];
        for (u, status, deps) in cases {
            let content = if u.content.is_empty() { "" } else { "YWJj" };
            assert_eq!(
                parse(&native_unwrap_result(&u)),
                json!({"channelId": "ch", "messageId": "m1", "senderId": "alice",
                       "content": content, "status": status, "missingDeps": deps}),
                "{u:?}"
            );
        }
    }

    #[test]
    fn libsds_unwrap_results_exact() {
        let delivered = unwrapped(UnwrapStatus::Delivered, &[1, 2, 3], vec![]);
        assert_eq!(
            utf8(libsds_unwrap_result(&delivered)),
            r#"{"message":[1,2,3],"channelId":"ch","missingDeps":[]}"#
        );
        let duplicate = unwrapped(UnwrapStatus::Duplicate, &[0, 255, 100, 10, 9], vec![]);
        assert_eq!(
            utf8(libsds_unwrap_result(&duplicate)),
            r#"{"message":[0,255,100,10,9],"channelId":"ch","missingDeps":[]}"#
        );
        let buffered = unwrapped(
            UnwrapStatus::Buffered,
            b"hi",
            vec![entry("d1", b"hint", "bob"), entry("d2", b"", "carol")],
        );
        assert_eq!(
            utf8(libsds_unwrap_result(&buffered)),
            concat!(
                r#"{"message":[104,105],"channelId":"ch","missingDeps":["#,
                r#"{"messageId":"d1","retrievalHint":"aGludA=="},"#,
                r#"{"messageId":"d2","retrievalHint":""}]}"#
            )
        );
        let sync = unwrapped(UnwrapStatus::Sync, b"", vec![]);
        assert_eq!(
            utf8(libsds_unwrap_result(&sync)),
            r#"{"message":[],"channelId":"ch","missingDeps":[]}"#
        );
    }

    #[test]
    fn stats_report_every_counter() {
        let stats = ChannelStats {
            lamport_timestamp: -5,
            history_len: 1,
            outgoing_len: 2,
            incoming_len: 3,
            incoming_bytes: 4,
            outgoing_repair_len: 5,
            incoming_repair_len: 6,
            memory: Usage {
                base: 1,
                history: 2,
                buffered: 3,
                repair: 4,
            },
            manager_memory: Usage {
                base: 10,
                history: 20,
                buffered: 30,
                repair: 40,
            },
            memory_budget: 1000,
            counters: ChannelCounters {
                delivered: 11,
                acknowledged: 12,
                possibly_acknowledged: 13,
                resends: 14,
                expired: 15,
                lost: 16,
                evicted: 20,
                duplicates: 17,
                repairs_requested: 18,
                repairs_sent: 19,
                dropped_by_limits: u64::MAX,
                refusals: RefusalCounts {
                    too_large: 21,
                    too_many_entries: 22,
                    id_too_long: 23,
                    buffer_full: 24,
                    memory_budget: 25,
                    too_many_channels: 26,
                    repair_entries: 27,
                },
            },
        };
        assert_eq!(
            parse(&channel_stats("ch\"1", &stats)),
            json!({
                "channelId": "ch\"1",
                "lamportTimestamp": -5,
                "historyLen": 1,
                "outgoingLen": 2,
                "incomingLen": 3,
                "incomingBytes": 4,
                "outgoingRepairLen": 5,
                "incomingRepairLen": 6,
                "memory": {
                    "channel": {"total": 10, "base": 1, "history": 2, "buffered": 3, "repair": 4},
                    "context": {"total": 100, "base": 10, "history": 20, "buffered": 30, "repair": 40},
                    "budget": 1000,
                },
                "counters": {
                    "delivered": 11,
                    "acknowledged": 12,
                    "possiblyAcknowledged": 13,
                    "resends": 14,
                    "expired": 15,
                    "lost": 16,
                    "evicted": 20,
                    "duplicates": 17,
                    "repairsRequested": 18,
                    "repairsSent": 19,
                    "droppedByLimits": u64::MAX,
                    "refusals": {
                        "tooLarge": 21,
                        "tooManyEntries": 22,
                        "idTooLong": 23,
                        "bufferFull": 24,
                        "memoryBudget": 25,
                        "tooManyChannels": 26,
                        "repairEntries": 27,
                    },
                },
            })
        );
    }

    #[test]
    fn wrap_result_small_cases() {
        assert_eq!(utf8(libsds_wrap_result(&[])), "");
        assert_eq!(utf8(libsds_wrap_result(&[0])), "0");
        assert_eq!(utf8(libsds_wrap_result(&[255, 1, 10])), "255,1,10");
        assert_eq!(
            utf8(libsds_wrap_result(&[9, 99, 100, 199, 200])),
            "9,99,100,199,200"
        );
    }

    #[test]
    fn libsds_results_leave_room_for_the_nul_of_the_hand_over() {
        // The buffer handed to the host is the one written here; appending its NUL must
        // not move (copy) it.
        for bytes in [vec![255u8; 1000], vec![0u8; 1000], (0..=255).collect()] {
            let text = libsds_wrap_result(&bytes);
            assert!(
                text.capacity() > text.len(),
                "{} of {}",
                text.len(),
                text.capacity()
            );
            let json = libsds_unwrap_result(&unwrapped(UnwrapStatus::Delivered, &bytes, vec![]));
            assert!(
                json.capacity() > json.len(),
                "{} of {}",
                json.len(),
                json.capacity()
            );
        }
    }

    #[test]
    fn wrap_result_every_byte_value() {
        let bytes: Vec<u8> = (0..=255).collect();
        let want = bytes
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(utf8(libsds_wrap_result(&bytes)), want);
    }

    #[test]
    fn hostile_ids_round_trip_in_both_dialects() {
        for &ch in HOSTILE {
            for &id in HOSTILE {
                for event in all_events(ch, id) {
                    let native = parse(&native_event(&event));
                    assert_eq!(native["channelId"], ch);
                    match event {
                        Event::PeriodicSync { .. } => {}
                        Event::LimitReached { .. } => assert_eq!(native["reason"], id),
                        _ => assert_eq!(native["messageId"], id),
                    }
                    if let Some(text) = libsds_event(&event) {
                        let v = parse(&text);
                        if !matches!(event, Event::PeriodicSync { .. }) {
                            assert_eq!(v["channelId"], ch, "{text}");
                        }
                        if let Event::MissingDependencies { .. } = event {
                            assert_eq!(v["missingDeps"][0]["messageId"], id, "{text}");
                        }
                        if v.get("messageId").is_some() {
                            assert_eq!(v["messageId"], id, "{text}");
                        }
                    }
                }
                let u = Unwrapped {
                    channel_id: ch.into(),
                    message_id: id.into(),
                    sender_id: id.into(),
                    content: id.as_bytes().to_vec(),
                    status: UnwrapStatus::Buffered,
                    missing: vec![entry(id, id.as_bytes(), ch)],
                };
                let native = parse(&native_unwrap_result(&u));
                assert_eq!(native["channelId"], ch);
                assert_eq!(native["messageId"], id);
                assert_eq!(native["senderId"], id);
                assert_eq!(native["missingDeps"][0]["messageId"], id);
                assert_eq!(native["missingDeps"][0]["senderId"], ch);
                let libsds = parse(&utf8(libsds_unwrap_result(&u)));
                assert_eq!(libsds["channelId"], ch);
                assert_eq!(libsds["missingDeps"][0]["messageId"], id);
                let warning = parse(&warning(ch, id));
                assert_eq!(warning["channelId"], ch);
                assert_eq!(warning["message"], id);
            }
        }
    }

    fn decode_b64(v: &Value) -> Vec<u8> {
        let s = v.as_str().expect("base64 field is a string");
        BASE64.decode(s).expect("valid base64")
    }

    proptest! {
        #[test]
        fn fast_writer_writes_what_serde_writes_for_any_input(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            id in any::<String>(),
            ch in any::<String>(),
            ts in any::<i64>(),
        ) {
            let u = Unwrapped {
                channel_id: ch.clone(),
                message_id: id.clone(),
                sender_id: id.clone(),
                content: bytes.clone(),
                status: UnwrapStatus::Duplicate,
                missing: vec![entry(&id, &bytes, &ch)],
            };
            let mut events = all_events(&ch, &id);
            events.push(Event::MessageReady {
                channel_id: ch.clone(),
                message_id: id.clone(),
                sender_id: ch.clone(),
                lamport_timestamp: ts,
                content: bytes.clone(),
            });
            for event in &events {
                for (fast, serde) in both_ways(event, &u) {
                    prop_assert_eq!(utf8(fast), utf8(serde));
                }
            }
        }

        #[test]
        fn wrap_result_parses_back(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let text = utf8(libsds_wrap_result(&bytes));
            prop_assert!(text.len() <= bytes.len() * 4);
            let back: Vec<u8> = if text.is_empty() {
                Vec::new()
            } else {
                text.split(',').map(|n| n.parse::<u8>().expect("decimal byte")).collect()
            };
            prop_assert_eq!(back, bytes);
        }

        #[test]
        fn binary_payloads_round_trip(
            bytes in proptest::collection::vec(any::<u8>(), 0..512),
            id in any::<String>(),
            ch in any::<String>(),
        ) {
            let ready = Event::MessageReady {
                channel_id: ch.clone(),
                message_id: id.clone(),
                sender_id: id.clone(),
                lamport_timestamp: 1,
                content: bytes.clone(),
            };
            let v = parse(&native_event(&ready));
            prop_assert_eq!(decode_b64(&v["content"]), bytes.clone());
            prop_assert_eq!(&v["messageId"], &Value::String(id.clone()));

            let repair = Event::RepairReady {
                channel_id: ch.clone(),
                message_id: id.clone(),
                bytes: bytes.clone(),
            };
            let v = parse(&native_event(&repair));
            prop_assert_eq!(decode_b64(&v["message"]), bytes.clone());
            let text = libsds_event(&repair).expect("libsds emits repair_ready");
            let v = parse(&text);
            prop_assert_eq!(decode_b64(&v["message"]), bytes.clone());
            prop_assert_eq!(&v["channelId"], &Value::String(ch.clone()));

            let u = Unwrapped {
                channel_id: ch.clone(),
                message_id: id.clone(),
                sender_id: String::new(),
                content: bytes.clone(),
                status: UnwrapStatus::Duplicate,
                missing: vec![entry(&id, &bytes, &ch)],
            };
            let v = parse(&native_unwrap_result(&u));
            prop_assert_eq!(decode_b64(&v["content"]), bytes.clone());
            prop_assert_eq!(decode_b64(&v["missingDeps"][0]["retrievalHint"]), bytes.clone());
            let v = parse(&utf8(libsds_unwrap_result(&u)));
            let message: Vec<u8> = v["message"]
                .as_array()
                .expect("message is an array")
                .iter()
                .map(|n| u8::try_from(n.as_u64().expect("number")).expect("byte"))
                .collect();
            prop_assert_eq!(message, bytes.clone());
            prop_assert_eq!(&v["channelId"], &Value::String(ch));
            prop_assert_eq!(decode_b64(&v["missingDeps"][0]["retrievalHint"]), bytes);
        }
    }
}
