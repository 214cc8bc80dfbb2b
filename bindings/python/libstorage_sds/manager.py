"""The Manager: one libstorage context, with synchronous requests and pulled events."""

from __future__ import annotations

import ctypes
import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable

from ._answers import Answers
from ._gate import Gate
from ._hints import HintProvider, c_hint_provider
from ._lib import CALLBACK, CTX, HINT_PROVIDER, lib
from .errors import ClosedError, Status, StorageError, error_for
from .types import ChannelStats, Config, Event, UnwrapResult

#: The longest single ``storage_next_event`` wait, and so how long ``close()`` can wait
#: for a thread that is pulling events.
PULL_SLICE_MS = 100

#: A C request: (handle, callback, user_data token) -> status.
_Submit = Callable[[int, Any, int], int]


def _document(config: Config | Mapping[str, Any] | str | None, options: Mapping[str, Any]) -> bytes:
    """The configuration document: a JSON string as is, or a mapping merged with options."""
    if isinstance(config, str):
        if options:
            raise TypeError("keyword options cannot be combined with a JSON string")
        return config.encode("utf-8", "surrogatepass")
    merged = {**(config or {}), **options}
    return json.dumps(merged).encode()


def _text(op: str, name: str, value: str) -> bytes:
    """``value`` as a C string. Invalid UTF-8 (lone surrogates) passes through for the
    library to name; a NUL byte would silently cut the string short, so it is refused."""
    if "\0" in value:
        raise StorageError(op, Status.INVALID_UTF8, f"{name} contains a NUL byte")
    return value.encode("utf-8", "surrogatepass")


def version() -> str:
    """The library's version string."""
    version: bytes = lib.storage_version()
    return version.decode()


class Manager:
    """One libstorage context: channels, protocol state and a worker thread.

    Requests (``wrap``, ``unwrap``, ...) are synchronous and safe to call from any thread;
    events are pulled with ``next_event`` or iterated with ``events()``. Use it as a context
    manager, or call ``close()`` (idempotent)::

        with storage.Manager(participant_id="alice") as alice:
            wire = alice.wrap("room", "m1", b"hello")
    """

    def __init__(
        self, config: Config | Mapping[str, Any] | str | None = None, **options: Any
    ) -> None:
        """Starts a context. ``config`` is a mapping of configuration keys (see ``Config``)
        or a raw JSON document; keyword ``options`` are merged over a mapping. Raises
        StorageError (status INVALID_CONFIG, message naming the key) when refused."""
        document = _document(config, options)
        self._answers = Answers()
        self._hint_providers: list[Any] = []  # every C provider given, alive until close
        self._close_lock = threading.Lock()
        handle = CTX()
        error = ctypes.c_void_p()
        # No event callback (CALLBACK() is NULL): the events a context emits as it starts
        # (recording_recovered, recording_started) wait in its queue to be pulled first.
        status = lib.storage_new_ex(
            document, CALLBACK(), None, ctypes.byref(handle), ctypes.byref(error)
        )
        if status != Status.OK:
            message = ctypes.string_at(error.value) if error.value else b""
            lib.storage_string_free(error)
            raise error_for("new", status, message.decode("utf-8", "replace"))
        self._gate = Gate(handle.value or 0)

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Frees the context: queued requests fail with ClosedError, events not yet pulled
        are discarded. Idempotent; safe while other threads use the Manager."""
        with self._close_lock:
            handle = self._gate.close()
            if handle is None:
                return
            status = lib.storage_free(handle)
        if status != Status.OK:
            raise error_for("close", status)

    @property
    def closed(self) -> bool:
        """True once ``close()`` has begun."""
        return not self._gate.is_open

    def __enter__(self) -> Manager:  # noqa: PYI034 - typing.Self needs Python 3.11
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A forgotten Manager still stops its worker thread; errors this late are moot.
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - nobody is left to hear about it
            pass

    # -- requests -----------------------------------------------------------------------

    def _request(self, op: str, submit: _Submit) -> bytes:
        """Runs one C request and waits for its answer; raises StorageError on failure."""
        token, slot = self._answers.open()
        try:
            with self._gate.use(op) as handle:
                status = submit(handle, self._answers.callback, token)
        except ClosedError:
            self._answers.discard(token)
            raise
        code, data = self._answers.finish(token, slot, status)
        if code != Status.OK:
            raise error_for(op, code, data.decode("utf-8", "replace"))
        return data

    def wrap(self, channel_id: str, message_id: str, content: bytes) -> bytes:
        """Wraps ``content`` as ``message_id`` on ``channel_id`` (created on first use) and
        returns the wire bytes to broadcast."""
        channel, mid = (
            _text("wrap", "channel_id", channel_id),
            _text("wrap", "message_id", message_id),
        )
        data = bytes(content)
        return self._request(
            "wrap", lambda h, cb, ud: lib.storage_wrap(h, channel, mid, data, len(data), cb, ud)
        )

    def wrap_ephemeral(self, channel_id: str, message_id: str, content: bytes) -> bytes:
        """Wraps an ephemeral message: never buffered, stored or acknowledged; receivers
        deliver it at once."""
        op = "wrap_ephemeral"
        channel, mid = _text(op, "channel_id", channel_id), _text(op, "message_id", message_id)
        data = bytes(content)
        return self._request(
            op,
            lambda h, cb, ud: lib.storage_wrap_ephemeral(h, channel, mid, data, len(data), cb, ud),
        )

    def unwrap(self, wire: bytes) -> UnwrapResult:
        """Processes bytes received from the transport. Delivered messages also arrive as
        ``message_ready`` events, in causal order."""
        data = bytes(wire)
        result = self._request(
            "unwrap", lambda h, cb, ud: lib.storage_unwrap(h, data, len(data), cb, ud)
        )
        return UnwrapResult.parse(result)

    def mark_dependencies_met(self, channel_id: str, message_ids: Iterable[str]) -> None:
        """Declares ``message_ids`` present on ``channel_id`` (retrieved another way),
        releasing messages that waited only for them."""
        op = "mark_dependencies_met"
        channel = _text(op, "channel_id", channel_id)
        ids = [_text(op, "message_ids", i) for i in message_ids]
        array = (ctypes.c_char_p * len(ids))(*ids) if ids else None
        self._request(
            op,
            lambda h, cb, ud: lib.storage_mark_dependencies_met(
                h, array, len(ids), channel, cb, ud
            ),
        )

    def _channel_request(self, op: str, channel_id: str, function: Any) -> bytes:
        """Runs ``function(handle, channel, callback, user_data)``, a request naming a channel."""
        channel = _text(op, "channel_id", channel_id)
        return self._request(op, lambda h, cb, ud: function(h, channel, cb, ud))

    def build_sync_message(self, channel_id: str) -> bytes:
        """The wire bytes of a sync message: metadata only, which lets peers acknowledge
        and repair without new content."""
        return self._channel_request(
            "build_sync_message", channel_id, lib.storage_build_sync_message
        )

    def ensure_channel(self, channel_id: str) -> None:
        """Loads ``channel_id`` from persistence, or creates it."""
        self._channel_request("ensure_channel", channel_id, lib.storage_ensure_channel)

    def remove_channel(self, channel_id: str) -> None:
        """Deletes ``channel_id`` and its persisted state."""
        self._channel_request("remove_channel", channel_id, lib.storage_remove_channel)

    def channel_stats(self, channel_id: str) -> ChannelStats:
        """A channel's sizes and counters (StorageError UNKNOWN_CHANNEL if it has none)."""
        return ChannelStats.parse(
            self._channel_request("channel_stats", channel_id, lib.storage_channel_stats)
        )

    def reset(self) -> None:
        """Deletes every channel and its persisted state."""
        self._request("reset", lambda h, cb, ud: lib.storage_reset(h, cb, ud))

    def start_periodic_tasks(self) -> None:
        """Starts the resend, loss and repair sweeps and the sync timer (each runs once at
        once). Starting twice is harmless."""
        self._request(
            "start_periodic_tasks", lambda h, cb, ud: lib.storage_start_periodic_tasks(h, cb, ud)
        )

    # ---- Recordings (MCAP files under the configured ``recording.root``) ----

    def _recording_request(
        self, op: str, name: str, function: Any, *extra: bytes | None
    ) -> dict[str, Any]:
        """Runs ``function(handle, name, *extra, callback, user_data)``; the JSON answer."""
        encoded = _text(op, "name", name)
        answer = self._request(op, lambda h, cb, ud: function(h, encoded, *extra, cb, ud))
        result: dict[str, Any] = json.loads(answer) if answer else {}
        return result

    def recording_start(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        """Starts recording delivered messages as recording ``name`` (options: see
        ``storage_recording_start``: ``channels``, ``record_sent``, ``mode``, ...)."""
        document = json.dumps(options).encode() if options is not None else None
        self._recording_request(
            "recording_start", name, lib.storage_recording_start, document
        )

    def recording_stop(self, name: str) -> dict[str, Any]:
        """Stops recording ``name``; ``{"name","written","dropped","manifest"}``."""
        return self._recording_request("recording_stop", name, lib.storage_recording_stop)

    def recording_seal(self, name: str, out_name: str | None = None) -> dict[str, Any]:
        """Writes ring-buffer recording ``name``'s window as a recording; its manifest."""
        out = _text("recording_seal", "out_name", out_name) if out_name is not None else None
        return self._recording_request("recording_seal", name, lib.storage_recording_seal, out)

    def recordings(self) -> list[dict[str, Any]]:
        """The recordings under the root: ``[{"name","active","manifest" | "error"}]``."""
        answer = self._request(
            "recordings_list", lambda h, cb, ud: lib.storage_recordings_list(h, cb, ud)
        )
        listed: list[dict[str, Any]] = json.loads(answer)["recordings"]
        return listed

    def recording_verify(self, name: str) -> dict[str, Any]:
        """Checks every chunk of ``name``: ``{"name","ok","chunks":[...]}``."""
        return self._recording_request("recording_verify", name, lib.storage_recording_verify)

    def upload_recording(self, name: str) -> dict[str, Any]:
        """Uploads ``name`` now to the ``upload`` section's bucket (dead letters retried):
        ``{"recording","chunks":[{"index","key","action",...}],"manifest",...}``."""
        return self._recording_request("upload_recording", name, lib.storage_upload_recording)

    def upload_status(self, name: str) -> dict[str, Any]:
        """``name``'s upload state: marks per chunk and the queue's view of it."""
        return self._recording_request("upload_status", name, lib.storage_upload_status)

    def upload_reconcile(self, name: str) -> dict[str, Any]:
        """Reconciles ``name`` with the bucket per chunk, deleting nothing."""
        return self._recording_request("upload_reconcile", name, lib.storage_upload_reconcile)

    def upload_restore(self, name: str) -> dict[str, Any]:
        """Rebuilds ``name``, which this machine lacks, from the bucket alone."""
        return self._recording_request("upload_restore", name, lib.storage_upload_restore)

    def recording_verify_anchored(self, name: str, head: str) -> dict[str, Any]:
        """``recording_verify``, also checking the hash chain against ``head``, a head
        anchored elsewhere (from a ``chunk_sealed`` event or a stop result): ``chain.anchor``
        is ``"head"``, ``"prefix"`` (the recording grew since) or ``"mismatch"`` (history
        was rewritten; ``ok`` is false). ``head`` must be 64 hex digits."""
        encoded = _text("recording_verify_anchored", "head", head)
        return self._recording_request(
            "recording_verify_anchored", name, lib.storage_recording_verify_anchored, encoded
        )

    def recording_supersede(
        self,
        name: str,
        reason: str,
        *,
        replacement: str | None = None,
        actor: str | None = None,
        chunk: int | None = None,
    ) -> dict[str, Any]:
        """Retires recording ``name`` (or its chunk ``chunk``) without touching its files:
        appends a supersession record (by ``replacement``, ``actor``, default the
        participant id, because of ``reason``) to the audit log; returns that record."""
        op = "recording_supersede"
        optional = [None if v is None else _text(op, k, v)
                    for k, v in (("replacement", replacement), ("actor", actor))]
        why = _text(op, "reason", reason)
        index = -1 if chunk is None else chunk
        return self._recording_request(
            op, name, lib.storage_recording_supersede, index, *optional, why
        )

    def recording_erase(self, name: str, reason: str, *, actor: str | None = None) -> dict[str, Any]:
        """Deletes superseded recording ``name``'s files after appending an erasure record
        (by ``actor``, default the participant id, because of ``reason``); that record."""
        op = "recording_erase"
        who = None if actor is None else _text(op, "actor", actor)
        return self._recording_request(
            op, name, lib.storage_recording_erase, who, _text(op, "reason", reason)
        )

    def audit(
        self,
        *,
        recording: str | None = None,
        actor: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        anchor: str | None = None,
    ) -> dict[str, Any]:
        """The audit log's records matching every given filter (times Unix ns, inclusive)
        and the verdict on the log: ``{"records": [...], "verdict": {"status", ...}}``."""
        query = {k: v for k, v in (("recording", recording), ("actor", actor),
                                   ("since_ns", since_ns), ("until_ns", until_ns),
                                   ("anchor", anchor)) if v is not None}
        document = _text("audit", "query", json.dumps(query))
        answer = self._request(
            "audit", lambda h, cb, ud: lib.storage_audit_query(h, document, cb, ud)
        )
        result: dict[str, Any] = json.loads(answer)
        return result

    def recording_delete(self, name: str) -> None:
        """Deletes recording ``name`` and its files."""
        self._recording_request("recording_delete", name, lib.storage_recording_delete)

    def replay_start(self, name: str, options: Mapping[str, Any] | None = None) -> int:
        """Replays ``name`` as ``replay_message`` events then ``replay_finished``; the
        replay's id (options: ``include``, ``exclude``, ``rate``, ``loop``, ``remap``, ...)."""
        document = json.dumps(options).encode() if options is not None else None
        answer = self._recording_request("replay_start", name, lib.storage_replay_start, document)
        replay_id: int = answer["replayId"]
        return replay_id

    def replay_stop(self, replay_id: int) -> None:
        """Cancels a replay; its ``replay_finished`` event follows."""
        self._request(
            "replay_stop", lambda h, cb, ud: lib.storage_replay_stop(h, replay_id, cb, ud)
        )

    def set_retrieval_hint_provider(self, provider: HintProvider | None) -> None:
        """Sets (None: clears) the function asked for each wrapped message's retrieval
        hint. It runs on the library's worker thread: keep it short and thread-safe."""
        c_provider = c_hint_provider(provider) if provider is not None else HINT_PROVIDER()
        with self._gate.use("set_retrieval_hint_provider") as handle:
            status = lib.storage_set_retrieval_hint_provider(handle, c_provider, None)
        if status != Status.OK:
            raise error_for("set_retrieval_hint_provider", status)
        # Kept until the Manager goes: the worker may still be calling an older provider.
        self._hint_providers.append(c_provider)

    # -- events -------------------------------------------------------------------------

    def next_event(self, timeout: float | None = 0.0) -> Event | None:
        """The next event, waiting up to ``timeout`` seconds (None: until one comes);
        None if none came. Raises ClosedError once the Manager is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        data = ctypes.POINTER(ctypes.c_uint8)()
        length = ctypes.c_size_t()
        while True:
            left_ms = PULL_SLICE_MS
            if deadline is not None:
                left_ms = min(left_ms, max(0, int((deadline - time.monotonic()) * 1000)))
            with self._gate.use("next_event") as handle:
                status = lib.storage_next_event(
                    handle, left_ms, ctypes.byref(data), ctypes.byref(length)
                )
                if status == Status.OK:
                    raw = ctypes.string_at(data, length.value)
                    lib.storage_bytes_free(data, length)
                    return Event.parse(raw)
            if status != Status.TIMEOUT:
                raise error_for("next_event", status)
            if deadline is not None and time.monotonic() >= deadline:
                return None

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Iterates over events as they come. Ends when the Manager is closed, or when
        no event comes within ``timeout`` seconds (None: never)."""
        while True:
            try:
                event = self.next_event(timeout)
            except ClosedError:
                return
            if event is None:
                return
            yield event
