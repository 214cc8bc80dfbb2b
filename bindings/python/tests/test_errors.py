"""Bad arguments and closing while busy: exceptions with the library's message, no crash."""

from __future__ import annotations

import threading
from typing import Callable

import pytest
from conftest import OpenManager

import libstorage_sds as storage
from libstorage_sds import ClosedError, Status, StorageError


@pytest.mark.parametrize(
    "call, status, needle",
    [
        (lambda m: m.wrap("", "m1", b"x"), Status.EMPTY_CHANNEL_ID, "channel"),
        (lambda m: m.wrap("room", "m1", b""), Status.EMPTY_CONTENT, "content"),
        (lambda m: m.wrap("room", "m1", bytes(1024 * 1024 + 1)), Status.TOO_LARGE, "content"),
        (lambda m: m.wrap("room", "\udcff", b"x"), Status.INVALID_UTF8, "message_id"),
        (lambda m: m.wrap("ro\0om", "m1", b"x"), Status.INVALID_UTF8, "NUL"),
        (lambda m: m.build_sync_message(""), Status.EMPTY_CHANNEL_ID, "channel"),
        (lambda m: m.channel_stats("nowhere"), Status.UNKNOWN_CHANNEL, "nowhere"),
        (lambda m: m.unwrap(b"not a message"), Status.DECODE_ERROR, ""),
        (lambda m: m.mark_dependencies_met("room", ["a\0b"]), Status.INVALID_UTF8, "message_ids"),
    ],
)
def test_bad_arguments_raise_with_the_library_message(
    open_manager: OpenManager,
    call: Callable[[storage.Manager], object],
    status: Status,
    needle: str,
) -> None:
    manager = open_manager(participant_id="alice")
    with pytest.raises(StorageError) as caught:
        call(manager)
    assert caught.value.status == status
    assert needle in caught.value.message
    assert not isinstance(caught.value, ClosedError)
    # The Manager still works afterwards.
    assert manager.wrap("room", "ok", b"x")


def close_while_busy_once() -> None:
    """Four threads wrap and one pulls events while the Manager is closed under them."""
    manager = storage.Manager(participant_id="alice")
    succeeded = threading.Event()
    failures: list[BaseException] = []
    started = threading.Barrier(5)

    def busy(worker: int) -> None:
        started.wait()
        i = 0
        while True:
            try:
                manager.wrap("room", f"w{worker}-m{i}", b"busy")
                succeeded.set()
            except ClosedError:
                return
            except BaseException as error:  # noqa: BLE001 - reported by the test
                failures.append(error)
                return
            i += 1

    def pull() -> None:
        for _ in manager.events():  # ends when the manager is closed
            pass

    threads = [threading.Thread(target=busy, args=(w,)) for w in range(4)]
    threads.append(threading.Thread(target=pull))
    for thread in threads:
        thread.start()
    started.wait()
    assert succeeded.wait(timeout=10), "no wrap went through before the close"
    manager.close()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert failures == []


def test_close_while_busy_gives_errors_not_crashes() -> None:
    for _ in range(3):
        close_while_busy_once()
