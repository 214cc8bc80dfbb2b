"""Causal ordering: buffering on missing dependencies, release in causal order, and
mark_dependencies_met."""

from __future__ import annotations

import pytest
from conftest import OpenManager, assert_no_event, next_event_of

from libstorage_sds import Status, StorageError


def test_late_messages_release_the_chain_in_causal_order(open_manager: OpenManager) -> None:
    alice, bob = open_manager(participant_id="alice"), open_manager(participant_id="bob")
    m1, m2, m3 = (alice.wrap("room", f"m{i}", f"msg {i}".encode()) for i in (1, 2, 3))

    result = bob.unwrap(m3)
    assert result.status == "buffered"
    assert {d.message_id for d in result.missing_deps} == {"m1", "m2"}
    assert {d.sender_id for d in result.missing_deps} == {"alice"}
    missing = next_event_of(bob, "missing_dependencies")
    assert missing.message_id == "m3"
    assert {d.message_id for d in missing.missing_deps} == {"m1", "m2"}

    assert bob.unwrap(m2).status == "buffered"
    assert bob.unwrap(m1).status == "delivered"
    ready = [next_event_of(bob, "message_ready") for _ in range(3)]
    assert [(e.message_id, e.content) for e in ready] == [
        ("m1", b"msg 1"),
        ("m2", b"msg 2"),
        ("m3", b"msg 3"),
    ]
    stats = bob.channel_stats("room")
    assert (stats.history_len, stats.incoming_len) == (3, 0)


def test_mark_dependencies_met_releases_a_buffered_message(open_manager: OpenManager) -> None:
    alice, bob = open_manager(participant_id="alice"), open_manager(participant_id="bob")
    alice.wrap("room", "m4", b"never arrives")
    assert bob.unwrap(alice.wrap("room", "m5", b"depends on m4")).status == "buffered"
    next_event_of(bob, "missing_dependencies")

    bob.mark_dependencies_met("room", ["m4"])
    ready = next_event_of(bob, "message_ready")
    # m4 itself is not delivered by the library: the host has it already.
    assert (ready.message_id, ready.content) == ("m5", b"depends on m4")
    assert_no_event(bob)
    bob.mark_dependencies_met("room", [])  # an empty list is fine


def test_mark_dependencies_met_on_unknown_channel(open_manager: OpenManager) -> None:
    with pytest.raises(StorageError) as caught:
        open_manager().mark_dependencies_met("never-used", ["x", "y"])
    assert caught.value.status == Status.UNKNOWN_CHANNEL
    assert "never-used" in caught.value.message


def test_a_full_buffer_refuses_counts_and_reports(open_manager: OpenManager) -> None:
    alice = open_manager(participant_id="alice")
    bob = open_manager(participant_id="bob", max_incoming_buffer=1)
    alice.wrap("room", "lost", b"never arrives")
    assert bob.unwrap(alice.wrap("room", "w1", b"waits")).status == "buffered"
    with pytest.raises(StorageError) as refused:
        bob.unwrap(alice.wrap("room", "w2", b"no room"))
    assert refused.value.status == Status.LIMIT_REACHED
    assert "incoming buffer" in refused.value.message
    report = next_event_of(bob, "limit_reached")
    assert (report.channel_id, report.refused) == ("room", 1)
    assert "incoming buffer" in report.reason
    stats = bob.channel_stats("room")
    assert stats.counters["refusals"]["bufferFull"] == 1
    assert stats.counters["droppedByLimits"] == 1
    assert 0 < stats.memory["channel"]["buffered"] <= stats.memory["context"]["total"]
    assert stats.memory["budget"] == 256 * 1024 * 1024
