"""The documents the library hands back, as typed Python objects: unwrap results, channel
statistics and events (docs/json.md describes every one; binary fields arrive base64 and
are decoded)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Callable, TypedDict


class Config(TypedDict, total=False):
    """The configuration document (README, "Configuration"); every key optional."""

    participant_id: str
    bloom_capacity: int
    bloom_error_rate: float
    max_message_history: int
    max_history_bytes: int
    max_causal_history: int
    resend_interval_ms: int
    max_resend_attempts: int
    bloom_acks_to_confirm: int
    max_dependency_wait_ms: int
    lamport_unit: str
    repair_t_min_ms: int
    repair_t_max_ms: int
    num_response_groups: int
    max_repair_requests: int
    max_channels: int
    max_incoming_buffer: int
    max_incoming_buffer_bytes: int
    max_outgoing_buffer: int
    max_repair_buffer: int
    max_wire_message_size: int
    memory_budget_bytes: int
    max_received_causal_history: int
    max_received_repair_requests: int
    max_id_bytes: int
    max_lamport_lead_ms: int
    wire_format: str  # "nim" (default) or "spec" (js-waku's @waku/sds)
    channel_wire_formats: dict[str, str]  # per-channel override of wire_format
    sync_interval_ms: int
    outgoing_sweep_interval_ms: int
    incoming_sweep_interval_ms: int
    repair_sweep_interval_ms: int
    request_queue_capacity: int
    event_queue_capacity: int
    request_queue_max_bytes: int
    event_queue_max_bytes: int
    persistence: dict[str, Any]
    recording: dict[str, Any]
    #: The bucket sealed chunks go up to (needs recording.root): {"endpoint", "bucket",
    #: "prefix", credentials or the names of variables or a file holding them, ...};
    #: see the README's "Uploads to object storage".
    upload: dict[str, Any]
    #: {"policy": "once"} (default) or {"policy": "bounded", "max_restarts": N,
    #: "within_ms": M}.
    restart: dict[str, Any]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


@dataclass(frozen=True)
class Dependency:
    """A message another one depends on; ``retrieval_hint`` and ``sender_id`` are empty
    where the library does not know them (``message_lost`` names ids only)."""

    message_id: str
    retrieval_hint: bytes = b""
    sender_id: str = ""

    @classmethod
    def parse(cls, value: str | dict[str, Any]) -> Dependency:
        """Reads an entry of ``missingDeps``: an object, or a bare message id."""
        if isinstance(value, str):
            return cls(value)
        return cls(value["messageId"], _b64(value.get("retrievalHint")), value.get("senderId", ""))


def _deps(values: list[Any] | None) -> list[Dependency]:
    return [Dependency.parse(v) for v in values or []]


@dataclass(frozen=True)
class UnwrapResult:
    """What ``Manager.unwrap`` did with a received message. ``status`` is one of
    ``delivered``, ``buffered``, ``duplicate``, ``sync``, ``ephemeral``."""

    channel_id: str
    message_id: str
    sender_id: str
    content: bytes
    status: str
    missing_deps: list[Dependency]

    @classmethod
    def parse(cls, document: bytes) -> UnwrapResult:
        """Reads the library's unwrap result JSON."""
        d = json.loads(document)
        return cls(
            d["channelId"],
            d["messageId"],
            d["senderId"],
            _b64(d["content"]),
            d["status"],
            _deps(d["missingDeps"]),
        )


@dataclass(frozen=True)
class ChannelStats:
    """A channel's sizes, and ``counters`` (camelCase names, e.g. ``delivered``,
    ``possiblyAcknowledged``) counting what happened since it was created."""

    channel_id: str
    lamport_timestamp: int
    history_len: int
    outgoing_len: int
    incoming_len: int
    incoming_bytes: int
    outgoing_repair_len: int
    incoming_repair_len: int
    #: ``counters`` by name; ``counters["refusals"]`` is a dict by reason.
    counters: dict[str, Any]
    #: ``{"channel": usage, "context": usage, "budget": bytes}``, each usage a dict of
    #: ``total``, ``base``, ``history``, ``buffered`` and ``repair`` bytes.
    memory: dict[str, Any]

    @classmethod
    def parse(cls, document: bytes) -> ChannelStats:
        """Reads the library's channel statistics JSON."""
        d = json.loads(document)
        return cls(
            d["channelId"],
            d["lamportTimestamp"],
            d["historyLen"],
            d["outgoingLen"],
            d["incomingLen"],
            d["incomingBytes"],
            d["outgoingRepairLen"],
            d["incomingRepairLen"],
            dict(d["counters"]),
            dict(d["memory"]),
        )


@dataclass(frozen=True)
class Event:
    """One event (docs/json.md, "Native events"). ``type`` is its ``eventType``; only the
    fields that type carries are set, and ``raw`` keeps the whole document."""

    type: str
    channel_id: str = ""
    message_id: str = ""
    #: message_ready, replay_message.
    sender_id: str = ""
    lamport_timestamp: int = 0
    #: message_ready, replay_message: the payload.
    content: bytes = b""
    #: possibly_acknowledged: bloom hits so far.
    hits: int = 0
    attempt: int = 0
    #: resend, repair_ready: the wire bytes to broadcast.
    wire: bytes = b""
    missing_deps: list[Dependency] = field(default_factory=list)
    #: event_queue_overflow: events discarded; recording_dropped: messages dropped.
    dropped: int = 0
    #: persistence_warning, recording_failed: what went wrong.
    warning: str = ""
    #: limit_reached: messages refused since the previous one, and why the latest was.
    refused: int = 0
    reason: str = ""
    #: recording_*: the recording.
    name: str = ""
    #: recording_recovered: the file acted on, what was done, messages saved, details.
    file: str = ""
    action: str = ""
    #: recording_recovered: messages saved; replay_finished: messages replayed.
    messages: int = 0
    detail: str = ""
    #: replay_message, replay_finished.
    replay_id: int = 0
    #: replay_message: when it was recorded (Unix ns).
    log_time_ns: int = 0
    #: replay_finished: stopped by replay_stop, and why it failed ("" if it did not).
    cancelled: bool = False
    error: str = ""
    #: worker_restarted: restarts so far, requests failed by the panic, whether the state
    #: was lost (``none`` persistence), and the channels and recordings it concerns.
    restart_count: int = 0
    failed_requests: int = 0
    state_lost: bool = False
    channels_reloaded: list[str] = field(default_factory=list)
    channels_lost: list[str] = field(default_factory=list)
    recordings_reopened: list[str] = field(default_factory=list)
    #: chunk_sealed: the chunk's index and SHA-256, and the chain's new head (to anchor
    #: elsewhere and give to ``recording_verify_anchored``).
    index: int = 0
    sha256: str = ""
    head: str = ""
    #: chunk_uploaded: the object key and bytes sent (0: it was there); upload_progress:
    #: bytes sent, chunks done and chunks pending since the context started.
    key: str = ""
    bytes_sent: int = 0
    chunks_done: int = 0
    chunks_pending: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, document: bytes) -> Event:
        """Reads one native event document."""
        d = json.loads(document)
        kind = d.get("eventType", "")
        fields: dict[str, Any] = {}
        for key, value in d.items():
            read = _EVENT_KEYS.get(key)
            if read is not None and value is not None:
                name, convert = read
                fields[name] = convert(value)
        # "message" is base64 wire bytes, except in the events where it is text.
        message = d.get("message")
        if isinstance(message, str):
            if kind in _TEXT_MESSAGE_EVENTS:
                fields["warning"] = message
            else:
                fields["wire"] = _b64(message)
        return cls(type=kind, raw=d, **fields)


def _same(value: Any) -> Any:
    return value


#: Every key of a native event but ``eventType`` and ``message``: its field, and how the
#: value is read. The tests check that every key of every sample event is here.
_EVENT_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "channelId": ("channel_id", _same),
    "messageId": ("message_id", _same),
    "senderId": ("sender_id", _same),
    "lamportTimestamp": ("lamport_timestamp", _same),
    "content": ("content", _b64),
    "hits": ("hits", _same),
    "attempt": ("attempt", _same),
    "missingDeps": ("missing_deps", _deps),
    "dropped": ("dropped", _same),
    "refused": ("refused", _same),
    "reason": ("reason", _same),
    "name": ("name", _same),
    "file": ("file", _same),
    "action": ("action", _same),
    "messages": ("messages", _same),
    "detail": ("detail", _same),
    "replayId": ("replay_id", _same),
    "logTimeNs": ("log_time_ns", _same),
    "cancelled": ("cancelled", _same),
    "error": ("error", _same),
    "restartCount": ("restart_count", _same),
    "failedRequests": ("failed_requests", _same),
    "stateLost": ("state_lost", _same),
    "channelsReloaded": ("channels_reloaded", list),
    "channelsLost": ("channels_lost", list),
    "recordingsReopened": ("recordings_reopened", list),
    "index": ("index", _same),
    "sha256": ("sha256", _same),
    "head": ("head", _same),
    "key": ("key", _same),
    "bytesSent": ("bytes_sent", _same),
    "chunksDone": ("chunks_done", _same),
    "chunksPending": ("chunks_pending", _same),
}

#: The events whose ``message`` is text, not base64 wire bytes.
_TEXT_MESSAGE_EVENTS = frozenset({"persistence_warning", "recording_failed"})
