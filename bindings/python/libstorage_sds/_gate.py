"""The gate that keeps a context alive while calls use it.

The C API forbids freeing a context that another thread is still calling into. Every C
call on the handle passes through ``use()`` (shared); ``close()`` shuts the gate and waits
for the calls inside to leave. Calls only enqueue, and event pulls are bounded, so the
wait is short.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ClosedError, Status


class Gate:
    """Shared use of a context handle, exclusive shutdown."""

    def __init__(self, handle: int) -> None:
        self._cond = threading.Condition()
        self._handle: int | None = handle
        self._users = 0

    @property
    def is_open(self) -> bool:
        """False once ``close()`` has begun."""
        return self._handle is not None

    @contextmanager
    def use(self, op: str) -> Iterator[int]:
        """Yields the handle for one C call; raises ClosedError once closed."""
        with self._cond:
            if self._handle is None:
                raise ClosedError(op, Status.SHUTTING_DOWN, "the manager is closed")
            handle = self._handle
            self._users += 1
        try:
            yield handle
        finally:
            with self._cond:
                self._users -= 1
                self._cond.notify_all()

    def close(self) -> int | None:
        """Shuts the gate, waits for the calls inside, and returns the handle to free
        (None if it was already closed)."""
        with self._cond:
            handle, self._handle = self._handle, None
            self._cond.wait_for(lambda: self._users == 0)
        return handle
