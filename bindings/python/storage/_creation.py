"""What ``storage_new``'s event callback is given while a Manager is being created.

A callback is passed to ``storage_new`` only so that a refused configuration reports its
message: that is the one way the message reaches the caller. Once created, the Manager
switches its events to the pull API, but a context starts emitting at once (crash
recovery's ``recording_recovered``, ``recording_started`` for ``recording.autostart``), so
events that reach the callback before the switch are kept here and handed out first.
Once ``storage_set_event_callback`` has returned, no more reach it.
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
