"""Python binding (ctypes) of libstorage: reliable, causally ordered sync (SDS / SDS-R)
over a transport the caller owns, and durable storage of that state.

    import libstorage_sds as storage
    with storage.Manager(participant_id="alice") as alice:
        wire = alice.wrap("room", "m1", b"hello")      # broadcast these bytes
        for event in alice.events(timeout=1.0):
            print(event.type, event.message_id)

The library is ``libstorage.so``, looked for in this order, first found wins:

1. ``$STORAGE_LIB``, an explicit path (an error if it names no file);
2. the copy bundled next to this package (the wheel's);
3. in a source checkout only, ``$CARGO_TARGET_DIR/release`` and the tree's ``target/release``;
4. the ``libdir`` of pkg-config's ``storage`` package, as ``make install`` writes it (set
   ``PKG_CONFIG_PATH=<prefix>/lib/pkgconfig`` for a non-system prefix);
5. the dynamic linker's search: ldconfig's cache, ``LD_LIBRARY_PATH``.

When none has it, the import raises ``OSError`` listing every place tried.
"""

from .errors import ClosedError, Status, StorageError
from .logs import forward_logs, stop_forwarding_logs
from .manager import Manager, version
from .types import ChannelStats, Config, Dependency, Event, UnwrapResult

__version__ = "0.1.0"

__all__ = [
    "ChannelStats",
    "ClosedError",
    "Config",
    "Dependency",
    "Event",
    "Manager",
    "Status",
    "StorageError",
    "UnwrapResult",
    "forward_logs",
    "stop_forwarding_logs",
    "version",
]
