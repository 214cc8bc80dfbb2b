"""Status names and descriptions come from the library, and the binding's Status members
are exactly the library's statuses."""

from __future__ import annotations

import libstorage_sds as storage
from libstorage_sds import Status
from libstorage_sds._lib import lib
from libstorage_sds.errors import UNKNOWN_STATUS


def library_statuses() -> dict[int, str]:
    """Every status of the library: asked for 0, 1, 2, ... until it answers UNKNOWN."""
    statuses = {}
    code = 0
    while (name := lib.storage_status_name(code).decode()) != UNKNOWN_STATUS:
        statuses[code] = name
        code += 1
    return statuses


def test_the_members_are_the_librarys_statuses() -> None:
    statuses = library_statuses()
    assert len(statuses) >= 21
    assert {m.value: f"STORAGE_{m.name}" for m in Status} == statuses
    unknown = lib.storage_status_description(-1).decode()
    for member in Status:
        assert member.description and member.description != unknown


def test_errors_are_named_by_the_library() -> None:
    error = storage.StorageError("wrap", Status.LIMIT_REACHED, "full")
    assert str(error) == "wrap: LIMIT_REACHED: full"
    assert str(storage.StorageError("new", 1 << 20)) == "new: status 1048576"
    assert Status.TIMEOUT.description == "`storage_next_event` found no event before its timeout."
    assert Status.of(1 << 20) == 1 << 20
