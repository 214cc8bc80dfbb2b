"""The documents the library hands back, as typed Python objects: unwrap results, channel
statistics and events (README, "Events"; binary fields arrive base64 and are decoded)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, TypedDict


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
    sync_interval_ms: int
    outgoing_sweep_interval_ms: int
    incoming_sweep_interval_ms: int
    repair_sweep_interval_ms: int
    request_queue_capacity: int
    event_queue_capacity: int
    persistence: dict[str, Any]
    recording: dict[str, Any]


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
    """One event. ``type`` is its ``eventType`` (``message_ready``, ``message_sent``,
    ``possibly_acknowledged``, ``resend``, ``message_expired``, ``missing_dependencies``,
    ``message_lost``, ``repair_ready``, ``periodic_sync``, ``limit_reached``,
    ``event_queue_overflow``,
    ``persistence_warning``, ``recording_dropped``, ``recording_failed``,
    ``recording_recovered``, ``recording_started``, ``replay_message``,
    ``replay_finished``); only the fields that type carries are set, and ``raw`` keeps
    the whole document (the recording events' ``name``, ``recording_recovered``'s
    ``file``, ``action``, ``messages`` and ``detail``, ...)."""

    type: str
    channel_id: str = ""
    message_id: str = ""
    sender_id: str = ""
    lamport_timestamp: int = 0
    content: bytes = b""
    hits: int = 0
    attempt: int = 0
    #: resend, repair_ready: the wire bytes to broadcast.
    wire: bytes = b""
    missing_deps: list[Dependency] = field(default_factory=list)
    dropped: int = 0
    #: persistence_warning: what went wrong.
    warning: str = ""
    #: limit_reached: messages refused since the previous one, and why the latest was.
    refused: int = 0
    reason: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, document: bytes) -> Event:
        """Reads one native event document."""
        d = json.loads(document)
        kind = d.get("eventType", "")
        # "message" is base64 wire bytes, except in persistence_warning where it is text.
        message = d.get("message")
        is_warning = kind == "persistence_warning"
        return cls(
            type=kind,
            channel_id=d.get("channelId", ""),
            message_id=d.get("messageId", ""),
            sender_id=d.get("senderId", ""),
            lamport_timestamp=d.get("lamportTimestamp", 0),
            content=_b64(d.get("content")),
            hits=d.get("hits", 0),
            attempt=d.get("attempt", 0),
            wire=b"" if is_warning else _b64(message),
            missing_deps=_deps(d.get("missingDeps")),
            dropped=d.get("dropped", 0),
            warning=message if is_warning and isinstance(message, str) else "",
            refused=d.get("refused", 0),
            reason=d.get("reason", ""),
            raw=d,
        )
