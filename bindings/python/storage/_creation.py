"""What ``storage_new``'s event callback is given while a Manager is being created.

A callback is passed to ``storage_new`` only so that a refused configuration reports its
message: that is the one way the message reaches the caller. Once created, the Manager
switches its events to the pull API, but a context starts emitting at once (crash
recovery's ``recording_recovered``, ``recording_started`` for ``recording.autostart``), so
events that reach the callback before the switch are kept here and handed out first.
"""

from __future__ import annotations

import ctypes
import threading
from collections import deque
from typing import Any

from ._lib import CALLBACK


class CreationEvents:
    """The refusal, or the early events, of one ``storage_new`` call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._early: deque[bytes] = deque()
        #: (status, message) of a refused creation.
        self.refusal: tuple[int, bytes] | None = None
        #: The C callback; the Manager keeps this object, and so it, alive until
        #: storage_free has returned, since the library may still call it until then.
        self.callback = CALLBACK(self._on_call)

    def _on_call(self, status: int, data: Any, length: int, _user_data: int | None) -> None:
        # The bytes are borrowed for the call only: copy them now. A refusal runs on the
        # creating thread, an early event on the worker thread; neither may block.
        payload = ctypes.string_at(data, length) if length else b""
        with self._lock:
            if status != 0:
                if self.refusal is None:
                    self.refusal = (status, payload)
            else:
                self._early.append(payload)

    def take(self) -> bytes | None:
        """The oldest early event not handed out yet, if any."""
        with self._lock:
            return self._early.popleft() if self._early else None

    def take_before(self, pulled: bytes) -> bytes:
        """The next event in emission order now that ``pulled`` was pulled: the oldest
        early event if any (``pulled`` then waits behind the others), else ``pulled``. The
        worker hands an event to the callback before it queues any later one, so every
        early event received by the time ``pulled`` was pulled was emitted before it."""
        with self._lock:
            if not self._early:
                return pulled
            self._early.append(pulled)
            return self._early.popleft()
