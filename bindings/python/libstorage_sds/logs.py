"""The library's logs, handed to Python's :mod:`logging`.

Nothing is logged until :func:`forward_logs` is called. Each record goes to the logger
named by its target (``storage.runtime.recording``: the Rust module path with ``::``
written ``.``), so ``logging.getLogger("storage")`` configures them all. The library's
threshold follows the level given (or the ``storage`` logger's effective level), so
records Python would drop are never formatted by the library.
"""

from __future__ import annotations

import logging

from . import _lib

#: storage_log_level -> logging level.
_LEVELS = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG, 5: 5}


def _threshold(level: int) -> int:
    """The storage_log_level passing every record at or above the logging ``level``."""
    if level <= 5:
        return 5  # TRACE
    if level <= logging.DEBUG:
        return 4
    if level <= logging.INFO:
        return 3
    if level <= logging.WARNING:
        return 2
    if level <= logging.CRITICAL:
        return 1
    return 0


def _forward(level: int, target: bytes | None, message: bytes | None, _user_data: object) -> None:
    name = (target or b"storage").decode("utf-8", "replace").replace("::", ".")
    text = (message or b"").decode("utf-8", "replace")
    logging.getLogger(name).log(_LEVELS.get(level, logging.ERROR), "%s", text)


#: Kept alive for as long as the library may call it (the whole process).
_CALLBACK = _lib.LOG_CALLBACK(_forward)


def forward_logs(level: int | None = None) -> None:
    """Hands the library's log records to :mod:`logging`, at ``level`` and above
    (default: the ``storage`` logger's effective level). Process-wide; call it again to
    change the level."""
    if level is None:
        level = logging.getLogger("storage").getEffectiveLevel()
    _check("storage_set_log_level", _lib.lib.storage_set_log_level(_threshold(level)))
    _check("storage_set_log_callback", _lib.lib.storage_set_log_callback(_CALLBACK, None))


def stop_forwarding_logs() -> None:
    """Stops handing log records to Python (the default): the library logs nothing."""
    _check("storage_set_log_callback", _lib.lib.storage_set_log_callback(_lib.LOG_CALLBACK(), None))


def _check(op: str, status: int) -> None:
    if status != 0:
        from .errors import StorageError

        raise StorageError(op, status, "refused (called from a log callback?)")
