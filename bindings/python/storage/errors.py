"""Status codes of the C API and the exceptions that carry them."""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """``storage_status`` of include/storage.h (0 = OK; values are never renumbered)."""

    OK = 0
    INVALID_HANDLE = 1
    NULL_ARGUMENT = 2
    INVALID_UTF8 = 3
    EMPTY_CHANNEL_ID = 4
    INVALID_CONFIG = 5
    MISUSE = 6
    PANIC = 7
    SHUTTING_DOWN = 8
    TIMEOUT = 9
    EMPTY_CONTENT = 10
    TOO_LARGE = 11
    DECODE_ERROR = 12
    UNKNOWN_CHANNEL = 13
    LIMIT_REACHED = 14
    PERSISTENCE_ERROR = 15
    START_FAILED = 16
    RECORDING_INVALID = 17
    RECORDING_NOT_FOUND = 18
    RECORDING_EXISTS = 19
    RECORDING_IO = 20

    @classmethod
    def of(cls, code: int) -> Status | int:
        """The Status for ``code``, or the bare int for a code this binding predates."""
        try:
            return cls(code)
        except ValueError:
            return code


class StorageError(Exception):
    """A failure reported by the library: the operation, its status, and the library's
    own message (which names the bad argument or configuration key)."""

    def __init__(self, op: str, status: Status | int, message: str = "") -> None:
        self.op = op
        self.status = status
        self.message = message
        name = status.name if isinstance(status, Status) else f"status {status}"
        super().__init__(f"{op}: {name}: {message}" if message else f"{op}: {name}")


class ClosedError(StorageError):
    """The Manager was closed: the call came after ``close()``, or ``close()`` cut the
    request short (status ``SHUTTING_DOWN``)."""


def error_for(op: str, status: int, message: str = "") -> StorageError:
    """The exception for a failed call: ClosedError when the manager is closing."""
    code = Status.of(status)
    kind = ClosedError if code == Status.SHUTTING_DOWN else StorageError
    return kind(op, code, message)
