"""Creating and closing Managers: configuration, close semantics, churn."""

from __future__ import annotations

import threading

import pytest

import libstorage_sds as storage
from libstorage_sds import ClosedError, Status, StorageError


def test_version_is_not_empty() -> None:
    assert storage.version()


@pytest.mark.parametrize("config", [None, "", "{}", {}])
def test_default_configurations_work(config: object) -> None:
    with storage.Manager(config) as manager:  # type: ignore[arg-type]
        assert manager.wrap("room", "m1", b"hello")


@pytest.mark.parametrize(
    "document, needle",
    [
        ('{"participant_id":"a","bloom_capasity":10}', "bloom_capasity"),
        ('{"resend_interval_ms": -5}', "resend_interval_ms"),
        ('{"participant_id": 5}', "participant_id"),
        ("[1, 2]", "expected a JSON object"),
        ('{"participant_id": ', "configuration"),
    ],
)
def test_bad_configuration_names_the_key(document: str, needle: str) -> None:
    with pytest.raises(StorageError) as caught:
        storage.Manager(document)
    assert caught.value.status == Status.INVALID_CONFIG
    assert needle in caught.value.message
    assert caught.value.op == "new"


def test_mapping_and_keyword_options_are_merged() -> None:
    with pytest.raises(StorageError, match="max_channels"):
        storage.Manager({"participant_id": "a"}, max_channels=0)
    with storage.Manager({"participant_id": "a"}, persistence={"kind": "memory"}) as manager:
        manager.ensure_channel("room")
    with pytest.raises(TypeError):
        storage.Manager("{}", participant_id="a")


def test_close_is_idempotent_and_ends_the_event_iterator() -> None:
    manager = storage.Manager(participant_id="alice")
    assert not manager.closed
    manager.close()
    manager.close()
    assert manager.closed
    assert list(manager.events()) == []
    with pytest.raises(ClosedError):
        manager.next_event()


def test_every_call_after_close_raises_closed_error() -> None:
    with storage.Manager(participant_id="alice") as manager:
        wire = manager.wrap("room", "m1", b"x")
    calls = {
        "wrap": lambda: manager.wrap("room", "m2", b"x"),
        "wrap_ephemeral": lambda: manager.wrap_ephemeral("room", "e", b"x"),
        "unwrap": lambda: manager.unwrap(wire),
        "mark_dependencies_met": lambda: manager.mark_dependencies_met("room", ["m0"]),
        "build_sync_message": lambda: manager.build_sync_message("room"),
        "ensure_channel": lambda: manager.ensure_channel("room"),
        "remove_channel": lambda: manager.remove_channel("room"),
        "channel_stats": lambda: manager.channel_stats("room"),
        "reset": manager.reset,
        "start_periodic_tasks": manager.start_periodic_tasks,
        "set_retrieval_hint_provider": lambda: manager.set_retrieval_hint_provider(None),
    }
    for op, call in calls.items():
        with pytest.raises(ClosedError) as caught:
            call()
        assert caught.value.op == op
        assert caught.value.status == Status.SHUTTING_DOWN


def wrap_racing_close() -> None:
    """A wrap on another thread while the Manager closes."""
    manager = storage.Manager(participant_id="p")
    outcome: list[object] = []

    def wrap() -> None:
        try:
            outcome.append(manager.wrap("room", "m", b"payload"))
        except ClosedError as error:
            outcome.append(error)

    thread = threading.Thread(target=wrap)
    thread.start()
    manager.close()
    thread.join()
    # Either it ran before the close or the close cut it short: nothing else.
    assert len(outcome) == 1
    assert isinstance(outcome[0], (bytes, ClosedError))


def test_create_and_close_many_times_with_requests_in_flight() -> None:
    for _ in range(100):
        wrap_racing_close()
