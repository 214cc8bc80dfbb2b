"""Status codes of the C API and the exceptions that carry them."""

from __future__ import annotations

import enum

from ._lib import lib

#: What the library names a value that is no status.
UNKNOWN_STATUS = "STORAGE_UNKNOWN_STATUS"


def status_name(code: int) -> str:
    """The library's name of status ``code`` without ``STORAGE_`` (``"LIMIT_REACHED"``),
    or ``"status <code>"`` for a value the library does not know."""
    name: bytes = lib.storage_status_name(code)
    text = name.decode()
    return f"status {code}" if text == UNKNOWN_STATUS else text.removeprefix("STORAGE_")


class Status(enum.IntEnum):
    """``storage_status`` of include/storage.h (0 = OK; values are never renumbered). A
    test checks that the members are the library's statuses, under its names."""

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
    UPLOAD_FAILED = 21

    @property
    def description(self) -> str:
        """The library's one-line description of the status."""
        text: bytes = lib.storage_status_description(self.value)
        return text.decode()

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
        name = status_name(status)
        super().__init__(f"{op}: {name}: {message}" if message else f"{op}: {name}")


class ClosedError(StorageError):
    """The Manager was closed: the call came after ``close()``, or ``close()`` cut the
    request short (status ``SHUTTING_DOWN``)."""


def error_for(op: str, status: int, message: str = "") -> StorageError:
    """The exception for a failed call: ClosedError when the manager is closing."""
    code = Status.of(status)
    kind = ClosedError if code == Status.SHUTTING_DOWN else StorageError
    return kind(op, code, message)
