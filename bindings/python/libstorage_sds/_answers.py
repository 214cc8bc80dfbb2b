"""Making the library's asynchronous request callbacks synchronous for Python callers.

One ctypes callback per Manager answers every request; its ``user_data`` is a small integer
token naming the waiting request, never a Python object's address. The callback runs on the
library's worker thread (or on the calling thread, for a refused argument), copies the
borrowed bytes and wakes the waiter: nothing else runs there.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
from typing import Any

from ._lib import CALLBACK

#: A request's outcome: (status, bytes: the result, or the library's message).
Answer = tuple[int, bytes]


class _Slot:
    """Where one request's answer lands."""

    __slots__ = ("answer", "answered")

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.answer: Answer | None = None


class Answers:
    """The requests of one Manager that are waiting for their answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[int, _Slot] = {}
        self._tokens = itertools.count(1)
        #: The C callback; the Manager keeps this object, and so it, alive until
        #: storage_free has returned and no callback can run again.
        self.callback = CALLBACK(self._on_answer)

    def open(self) -> tuple[int, _Slot]:
        """Registers a request; its token goes to C as user_data."""
        token = next(self._tokens)
        slot = _Slot()
        with self._lock:
            self._slots[token] = slot
        return token, slot

    def finish(self, token: int, slot: _Slot, status: int) -> Answer:
        """The answer of a request whose C call returned ``status``: waited for when the
        request was accepted; taken as is (or made up from the status) when refused."""
        if status == 0:
            slot.answered.wait()
        with self._lock:
            del self._slots[token]
        # A refused call answered synchronously, before it returned, if at all.
        return slot.answer if slot.answer is not None else (status, b"")

    def discard(self, token: int) -> None:
        """Forgets a request that will not be waited for; a late answer is ignored."""
        with self._lock:
            self._slots.pop(token, None)

    def _on_answer(self, status: int, data: Any, length: int, token: int | None) -> None:
        # ctypes hands a POINTER(c_uint8); the bytes are borrowed, so copy them now.
        payload = ctypes.string_at(data, length) if length else b""
        with self._lock:
            slot = self._slots.get(token or 0)
        if slot is not None and slot.answer is None:
            slot.answer = (status, payload)
            slot.answered.set()
