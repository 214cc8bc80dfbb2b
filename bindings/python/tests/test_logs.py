"""The library's log records reach Python's logging, and only once asked for."""

from __future__ import annotations

import logging
import tempfile

import pytest

import libstorage_sds as storage
from conftest import OpenManager


def autostart(open_manager: OpenManager, root: str) -> None:
    """A context whose autostarted recording logs one INFO record, then one request."""
    manager = open_manager({"recording": {"root": root, "autostart": {"name": "auto"}}})
    manager.recordings()


def test_records_reach_logging_at_the_level(
    open_manager: OpenManager, caplog: pytest.LogCaptureFixture
) -> None:
    with tempfile.TemporaryDirectory() as root:
        with caplog.at_level(logging.INFO, logger="storage"):
            storage.forward_logs(logging.INFO)
            try:
                autostart(open_manager, root)
            finally:
                storage.stop_forwarding_logs()
    records = [r for r in caplog.records if "started (recording.autostart)" in r.getMessage()]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    assert records[0].name.startswith("storage.runtime")


def test_nothing_is_forwarded_by_default_or_above_the_level(
    open_manager: OpenManager, caplog: pytest.LogCaptureFixture
) -> None:
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        with caplog.at_level(logging.DEBUG):
            autostart(open_manager, first)
            storage.forward_logs(logging.WARNING)
            try:
                autostart(open_manager, second)
            finally:
                storage.stop_forwarding_logs()
    assert not [r for r in caplog.records if r.name.startswith("storage.")]
