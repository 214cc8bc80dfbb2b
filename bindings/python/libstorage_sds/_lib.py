"""Loading libstorage.so and declaring every function of include/storage.h for ctypes.

Every function gets ``argtypes`` and ``restype`` here, in one table, so that a call with a
wrong argument fails in Python instead of corrupting memory, and so that a test can check
the table against the header. ``ctypes.CDLL`` releases the GIL during each call, which is
what lets the library's worker thread run Python callbacks while ``storage_free`` joins it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
from ctypes import (
    CFUNCTYPE,
    POINTER,
    c_char_p,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any

#: ``storage_status`` (an ``int32_t``).
STATUS = c_int32
#: ``storage_ctx *``: an opaque token, never dereferenced.
CTX = c_void_p
#: ``const uint8_t *`` arguments: ``c_char_p`` accepts ``bytes`` (embedded NULs included).
BYTES_IN = c_char_p

#: ``void (*storage_callback)(storage_status, const uint8_t *, size_t, void *)``.
CALLBACK = CFUNCTYPE(None, STATUS, POINTER(c_uint8), c_size_t, c_void_p)
#: ``void (*storage_hint_provider)(const char *, char **, size_t *, void *)``.
HINT_PROVIDER = CFUNCTYPE(None, c_char_p, POINTER(c_void_p), POINTER(c_size_t), c_void_p)
#: ``void (*storage_log_callback)(storage_log_level, const char *, const char *, void *)``.
LOG_CALLBACK = CFUNCTYPE(None, c_int32, c_char_p, c_char_p, c_void_p)

#: name -> (argtypes, restype), one entry per function of include/storage.h.
FUNCTIONS: dict[str, tuple[list[Any], Any]] = {
    "storage_version": ([], c_char_p),
    "storage_set_log_callback": ([LOG_CALLBACK, c_void_p], STATUS),
    "storage_set_log_level": ([c_int32], STATUS),
    "storage_new": ([c_char_p, CALLBACK, c_void_p, POINTER(CTX)], STATUS),
    # out_error: a char * the caller owns; kept as a c_void_p so it can be freed.
    "storage_new_ex": ([c_char_p, CALLBACK, c_void_p, POINTER(CTX), POINTER(c_void_p)], STATUS),
    "storage_string_free": ([c_void_p], None),
    # Static strings: c_char_p copies them into bytes, nothing is freed.
    "storage_status_name": ([c_int32], c_char_p),
    "storage_status_description": ([c_int32], c_char_p),
    "storage_free": ([CTX], STATUS),
    "storage_set_event_callback": ([CTX, CALLBACK, c_void_p], STATUS),
    "storage_next_event": ([CTX, c_uint32, POINTER(POINTER(c_uint8)), POINTER(c_size_t)], STATUS),
    "storage_bytes_free": ([POINTER(c_uint8), c_size_t], None),
    "storage_set_retrieval_hint_provider": ([CTX, HINT_PROVIDER, c_void_p], STATUS),
    "storage_wrap": ([CTX, c_char_p, c_char_p, BYTES_IN, c_size_t, CALLBACK, c_void_p], STATUS),
    "storage_wrap_ephemeral": (
        [CTX, c_char_p, c_char_p, BYTES_IN, c_size_t, CALLBACK, c_void_p],
        STATUS,
    ),
    "storage_build_sync_message": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_unwrap": ([CTX, BYTES_IN, c_size_t, CALLBACK, c_void_p], STATUS),
    "storage_mark_dependencies_met": (
        [CTX, POINTER(c_char_p), c_size_t, c_char_p, CALLBACK, c_void_p],
        STATUS,
    ),
    "storage_ensure_channel": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_remove_channel": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_reset": ([CTX, CALLBACK, c_void_p], STATUS),
    "storage_start_periodic_tasks": ([CTX, CALLBACK, c_void_p], STATUS),
    "storage_channel_stats": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    # Host persistence: the vtable (a storage_persistence_vtable *) and the load sink are
    # passed through as opaque pointers; the Manager does not offer a Python vtable yet.
    "storage_new_with_persistence": (
        [c_char_p, c_void_p, CALLBACK, c_void_p, POINTER(CTX)],
        STATUS,
    ),
    "storage_new_with_persistence_ex": (
        [c_char_p, c_void_p, CALLBACK, c_void_p, POINTER(CTX), POINTER(c_void_p)],
        STATUS,
    ),
    "storage_load_sink_push_meta": ([c_void_p, BYTES_IN, c_size_t], STATUS),
    "storage_load_sink_push_history": ([c_void_p, BYTES_IN, c_size_t], STATUS),
    "storage_recording_start": ([CTX, c_char_p, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_recording_stop": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_recording_seal": ([CTX, c_char_p, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_recordings_list": ([CTX, CALLBACK, c_void_p], STATUS),
    "storage_recording_verify": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_upload_recording": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_upload_status": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_upload_reconcile": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_upload_restore": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_recording_delete": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_recording_verify_anchored": ([CTX, c_char_p, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_recording_supersede": (
        [CTX, c_char_p, c_int64, c_char_p, c_char_p, c_char_p, CALLBACK, c_void_p],
        STATUS,
    ),
    "storage_recording_erase": ([CTX, c_char_p, c_char_p, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_audit_query": ([CTX, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_replay_start": ([CTX, c_char_p, c_char_p, CALLBACK, c_void_p], STATUS),
    "storage_replay_stop": ([CTX, c_uint64, CALLBACK, c_void_p], STATUS),
}

LIBRARY_NAME = "libstorage.so"
#: The soname `make install` installs (and the tree's build links as).
SONAME = "libstorage.so.0"


def _pkg_config_libdir() -> tuple[Path | None, str]:
    """``libdir`` of the ``storage`` pkg-config package (honours ``PKG_CONFIG_PATH``), and
    what was found, for the error message."""
    try:
        done = subprocess.run(
            ["pkg-config", "--variable=libdir", "storage"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"pkg-config storage: pkg-config not run ({error})"
    libdir = done.stdout.strip()
    if done.returncode != 0 or not libdir:
        return None, "pkg-config storage: no such package (PKG_CONFIG_PATH)"
    return Path(libdir), f"pkg-config storage: {Path(libdir) / SONAME}"


def _source_tree_build() -> list[Path]:
    """The build folders of the source checkout this package sits in, if it does (never
    for an installed package)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "Cargo.toml").is_file() or not (root / "bindings" / "python").is_dir():
        return []
    found = []
    if os.environ.get("CARGO_TARGET_DIR"):
        found.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release" / LIBRARY_NAME)
    found.append(root / "target" / "release" / LIBRARY_NAME)
    return found


def find() -> Path | str:
    """Finds the library, first match wins, in this order:

    1. ``$STORAGE_LIB``, an explicit path (an error if it names no file);
    2. the copy bundled next to this package (the wheel's);
    3. in a source checkout, ``$CARGO_TARGET_DIR/release`` and the tree's ``target/release``;
    4. the ``libdir`` of pkg-config's ``storage`` package (``make install``; set
       ``PKG_CONFIG_PATH=<prefix>/lib/pkgconfig`` for a non-system prefix);
    5. the dynamic linker's search (``ctypes.util.find_library``: ldconfig's cache,
       ``LD_LIBRARY_PATH``), returned as a name for ``dlopen``.

    Raises ``OSError`` listing every place tried when none has it."""
    explicit = os.environ.get("STORAGE_LIB")
    if explicit:
        if not Path(explicit).is_file():
            raise OSError(f"STORAGE_LIB={explicit}: no such file")
        return Path(explicit)
    tried = ["STORAGE_LIB: not set"]
    for path in [Path(__file__).resolve().parent / LIBRARY_NAME, *_source_tree_build()]:
        if path.is_file():
            return path
        tried.append(f"{path}: no such file")
    libdir, found = _pkg_config_libdir()
    if libdir is not None:
        for name in (SONAME, LIBRARY_NAME):
            if (libdir / name).is_file():
                return libdir / name
        found += ": no such file"
    tried.append(found)
    installed = ctypes.util.find_library("storage")
    if installed is not None:
        return installed
    tried.append("ldconfig and LD_LIBRARY_PATH: no libstorage")
    raise OSError("libstorage.so not found; tried, in order:\n  " + "\n  ".join(tried))


def load() -> ctypes.CDLL:
    """Loads libstorage (see ``find`` for where) and declares every function on it."""
    path = find()
    lib = ctypes.CDLL(str(path))
    for name, (argtypes, restype) in FUNCTIONS.items():
        function = getattr(lib, name)
        function.argtypes = argtypes
        function.restype = restype
    return lib


#: The loaded library, shared by every Manager.
lib = load()
