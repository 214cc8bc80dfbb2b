"""Retrieval-hint providers: a Python function the library asks for the hint of each
message it wraps (for example a transport's cursor for that message).

The library calls the provider on its worker thread and releases the hint with ``free``,
so the hint is copied into a ``malloc``ed buffer.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any, Callable, Optional

from ._lib import HINT_PROVIDER

#: Returns the hint of a message id, or None (or b"") for none.
HintProvider = Callable[[str], Optional[bytes]]

_libc = ctypes.CDLL(None)
_libc.malloc.argtypes = [ctypes.c_size_t]
_libc.malloc.restype = ctypes.c_void_p

_log = logging.getLogger("storage")


def c_hint_provider(provider: HintProvider) -> Any:
    """Wraps ``provider`` as a C ``storage_hint_provider``. An exception cannot cross into
    C: it is logged and the message gets no hint."""

    def call(message_id: bytes, hint_out: Any, len_out: Any, _user_data: Any) -> None:
        try:
            hint = provider(message_id.decode("utf-8", "replace"))
        except Exception:  # noqa: BLE001 - any error of the host's function, logged
            _log.exception("retrieval-hint provider failed for %r", message_id)
            return
        if not hint:
            return
        buffer = _libc.malloc(len(hint))
        if not buffer:
            return
        ctypes.memmove(buffer, hint, len(hint))
        hint_out[0] = buffer
        len_out[0] = len(hint)

    return HINT_PROVIDER(call)
