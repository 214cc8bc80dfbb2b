"""Recordings through the binding: record what is delivered, verify it, replay it."""

from __future__ import annotations

from pathlib import Path

from conftest import OpenManager, next_event_of


def test_record_verify_and_replay(open_manager: OpenManager, tmp_path: Path) -> None:
    alice = open_manager(participant_id="alice")
    bob = open_manager(participant_id="bob", recording={"root": str(tmp_path)})
    bob.recording_start("bob-log", {"channels": "all"})
    sent = [f"m{i}".encode() for i in range(5)]
    for i, content in enumerate(sent):
        assert bob.unwrap(alice.wrap("room", f"m{i}", content)).status == "delivered"

    stopped = bob.recording_stop("bob-log")
    assert stopped["written"] == len(sent)
    assert [r["name"] for r in bob.recordings()] == ["bob-log"]
    assert bob.recording_verify("bob-log")["ok"] is True

    replay_id = bob.replay_start("bob-log", {"rate": 0})
    assert replay_id >= 0
    replayed = [next_event_of(bob, "replay_message").content for _ in sent]
    assert replayed == sent
    next_event_of(bob, "replay_finished")

    bob.recording_delete("bob-log")
    assert bob.recordings() == []
