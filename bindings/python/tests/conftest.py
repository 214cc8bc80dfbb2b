"""Fixtures shared by the binding's tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

# The package is imported from the source tree: no install step for tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import libstorage_sds as storage

#: How long a test waits for an event before it fails.
EVENT_TIMEOUT = 10.0

OpenManager = Callable[..., storage.Manager]


@pytest.fixture
def open_manager() -> Iterator[OpenManager]:
    """Opens Managers (same arguments as Manager) that are closed after the test."""
    opened: list[storage.Manager] = []

    def open_(config: object | None = None, **options: object) -> storage.Manager:
        manager = storage.Manager(config, **options)  # type: ignore[arg-type]
        opened.append(manager)
        return manager

    yield open_
    for manager in opened:
        manager.close()


def next_event_of(manager: storage.Manager, kind: str) -> storage.Event:
    """The next event of type ``kind``, skipping others; fails after EVENT_TIMEOUT."""
    for event in manager.events(timeout=EVENT_TIMEOUT):
        if event.type == kind:
            return event
    pytest.fail(f"no {kind} event within {EVENT_TIMEOUT}s")


def assert_no_event(manager: storage.Manager) -> None:
    """Checks that ``manager`` emits nothing more for a short while."""
    event = manager.next_event(timeout=0.1)
    assert event is None, f"unexpected event {event.raw}"
