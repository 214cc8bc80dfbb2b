"""Two Managers exchanging messages: wrap, unwrap, events, acknowledgements, statistics."""

from __future__ import annotations

from conftest import OpenManager, assert_no_event, next_event_of


def test_two_managers_exchange_and_acknowledge(open_manager: OpenManager) -> None:
    alice, bob = open_manager(participant_id="alice"), open_manager(participant_id="bob")

    m1 = alice.wrap("room", "m1", b"hello bob")
    assert not m1.startswith(b"{")  # protobuf wire bytes, not JSON
    result = bob.unwrap(m1)
    assert (result.status, result.message_id, result.sender_id, result.channel_id) == (
        "delivered",
        "m1",
        "alice",
        "room",
    )
    assert result.content == b"hello bob"
    assert result.missing_deps == []
    ready = next_event_of(bob, "message_ready")
    assert (ready.message_id, ready.sender_id, ready.content) == ("m1", "alice", b"hello bob")

    # Bob's reply carries m1 in its causal history: Alice learns m1 was received.
    assert alice.unwrap(bob.wrap("room", "r1", b"hi alice")).status == "delivered"
    sent = next_event_of(alice, "message_sent")
    assert (sent.message_id, sent.channel_id) == ("m1", "room")

    # The same bytes again are a duplicate and raise no event.
    assert bob.unwrap(m1).status == "duplicate"
    assert_no_event(bob)

    for manager in (alice, bob):
        stats = manager.channel_stats("room")
        assert (stats.channel_id, stats.history_len) == ("room", 2)
        assert stats.counters["delivered"] == 1


def test_events_arrive_in_order_through_the_pull_api(open_manager: OpenManager) -> None:
    alice, carol = open_manager(participant_id="alice"), open_manager(participant_id="carol")
    assert_no_event(carol)
    for i in range(1, 4):
        carol.unwrap(alice.wrap("room", f"m{i}", b"x"))
    assert [next_event_of(carol, "message_ready").message_id for _ in range(3)] == [
        "m1",
        "m2",
        "m3",
    ]
    assert_no_event(carol)


def test_queue_overflow_is_reported(open_manager: OpenManager) -> None:
    alice = open_manager(participant_id="alice")
    bob = open_manager(participant_id="bob", event_queue_capacity=2)
    for i in range(5):
        bob.unwrap(alice.wrap("room", f"m{i}", b"x"))
    # Two events fit; the three dropped are reported first, then the two kept.
    events = list(bob.events(timeout=0.2))
    assert [(e.type, e.dropped, e.message_id) for e in events] == [
        ("event_queue_overflow", 3, ""),
        ("message_ready", 0, "m0"),
        ("message_ready", 0, "m1"),
    ]


def test_ephemeral_and_sync_messages_change_nothing(open_manager: OpenManager) -> None:
    alice, bob = open_manager(participant_id="alice"), open_manager(participant_id="bob")
    result = bob.unwrap(alice.wrap_ephemeral("room", "e1", b"typing"))
    assert (result.status, result.content) == ("ephemeral", b"typing")
    alice.wrap("room", "m1", b"real")
    assert alice.channel_stats("room").history_len == 1
    assert bob.unwrap(alice.build_sync_message("room")).status == "sync"
    assert_no_event(bob)


def test_channels_can_be_ensured_removed_and_reset(open_manager: OpenManager) -> None:
    manager = open_manager(participant_id="alice")
    manager.ensure_channel("a")
    assert manager.channel_stats("a").history_len == 0
    manager.remove_channel("a")
    manager.wrap("b", "m1", b"x")
    manager.reset()
    for channel in ("a", "b"):
        try:
            manager.channel_stats(channel)
        except Exception as error:  # noqa: BLE001 - the type is checked below
            assert getattr(error, "status", None) == 13 and channel in str(error)
        else:
            raise AssertionError(f"{channel} survived")


def test_periodic_tasks_sync_at_once(open_manager: OpenManager) -> None:
    manager = open_manager(participant_id="alice")
    manager.ensure_channel("room")
    manager.start_periodic_tasks()
    manager.start_periodic_tasks()  # harmless
    assert next_event_of(manager, "periodic_sync").channel_id == "room"


def test_retrieval_hints_reach_the_peer(open_manager: OpenManager) -> None:
    alice, bob = open_manager(participant_id="alice"), open_manager(participant_id="bob")

    def hint(message_id: str) -> bytes:
        if message_id == "boom":
            raise RuntimeError("a failing provider gives no hint, not a crash")
        return b"cursor:" + message_id.encode()

    alice.set_retrieval_hint_provider(hint)
    m1 = alice.wrap("room", "m1", b"first")
    alice.wrap("room", "boom", b"second")
    m3 = alice.wrap("room", "m3", b"third")
    # m3 depends on m1 and boom; Bob learns their hints from m3's causal history.
    deps = {d.message_id: d for d in bob.unwrap(m3).missing_deps}
    assert deps["m1"].retrieval_hint == b"cursor:m1"
    assert deps["m1"].sender_id == "alice"
    assert deps["boom"].retrieval_hint == b""
    alice.set_retrieval_hint_provider(None)
    assert bob.unwrap(m1).status == "delivered"
