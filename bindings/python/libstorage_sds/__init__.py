"""Python binding (ctypes) of libstorage: reliable, causally ordered sync (SDS / SDS-R)
over a transport the caller owns, and durable storage of that state.

    import libstorage_sds as storage
    with storage.Manager(participant_id="alice") as alice:
        wire = alice.wrap("room", "m1", b"hello")      # broadcast these bytes
        for event in alice.events(timeout=1.0):
            print(event.type, event.message_id)

The library is ``libstorage.so``, found through ``$STORAGE_LIB``, next to this package, or
in the repository's build folder.
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
