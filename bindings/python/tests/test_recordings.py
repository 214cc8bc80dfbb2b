"""Recordings through the binding: record what is delivered, verify it, replay it."""

from __future__ import annotations

from pathlib import Path

import pytest
import libstorage_sds as storage
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
    # Deletion leaves its audit record: the recording is listed as erased, no longer active.
    [listed] = bob.recordings()
    assert not listed["active"] and listed["erased"]["action"] == "erase"


def test_startup_events_are_pulled_first(open_manager: OpenManager, tmp_path: Path) -> None:
    """A context emits as it starts (crash recovery, recording.autostart), before the
    Manager exists: those events wait in the library's queue and are pulled first."""
    first = storage.Manager(participant_id="bob", recording={"root": str(tmp_path)})
    first.recording_start("crashed")
    first.recording_stop("crashed")
    first.close()
    # A chunk file still being written, with nothing recoverable: as after a crash.
    active = tmp_path / "crashed" / "chunks" / ".chunk-000005.mcap.active"
    active.write_bytes(b"\x89MCAP0\r\ncut short")

    autostart = {"name": "auto", "channels": ["room"]}
    bob = open_manager(
        participant_id="bob", recording={"root": str(tmp_path), "autostart": autostart}
    )
    recovered = next_event_of(bob, "recording_recovered").raw
    assert recovered["name"] == "crashed"
    assert recovered["file"] == ".chunk-000005.mcap.active"
    assert recovered["action"] == "quarantined"
    assert recovered["messages"] == 0
    name = next_event_of(bob, "recording_started").raw["name"]
    assert name.startswith("auto-") and name[len("auto-") :].isdigit()

    alice = open_manager(participant_id="alice")
    assert bob.unwrap(alice.wrap("room", "m1", b"recorded")).status == "delivered"
    assert bob.recording_stop(name)["written"] == 1


def test_a_recordings_root_that_does_not_exist_refuses_the_manager(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(storage.StorageError) as refused:
        storage.Manager(recording={"root": missing, "autostart": {"name": "lost"}})
    assert refused.value.status == storage.Status.START_FAILED
    assert refused.value.message.startswith("recording.root: ")
    assert "does not exist" in refused.value.message


def _record_one(alice: storage.Manager, bob: storage.Manager, name: str) -> str:
    """Records one message as ``name``; the stop result's head, which the
    ``chunk_sealed`` event announced too."""
    bob.recording_start(name)
    assert bob.unwrap(alice.wrap("room", f"{name}-m", b"payload")).status == "delivered"
    head: str = bob.recording_stop(name)["head"]
    sealed = next_event_of(bob, "chunk_sealed")
    assert (sealed.name, sealed.index, sealed.head) == (name, 0, head)
    assert len(sealed.sha256) == 64
    return head


def test_supersede_erase_audit_and_anchored_verify(
    open_manager: OpenManager, tmp_path: Path
) -> None:
    alice = open_manager(participant_id="alice")
    bob = open_manager(participant_id="bob", recording={"root": str(tmp_path)})
    head = _record_one(alice, bob, "evidence")
    _record_one(alice, bob, "evidence-2")

    assert bob.recording_verify_anchored("evidence", head)["chain"]["anchor"] == "head"
    rewritten = bob.recording_verify_anchored("evidence", "0" * 64)
    assert rewritten["chain"]["anchor"] == "mismatch" and rewritten["ok"] is False
    with pytest.raises(storage.StorageError) as bad_head:
        bob.recording_verify_anchored("evidence", "not-hex")
    assert bad_head.value.status == storage.Status.RECORDING_INVALID

    record = bob.recording_supersede(
        "evidence", "re-recorded", replacement="evidence-2", actor="operator-7"
    )
    assert (record["action"], record["actor"], record["replacement"]) == (
        "supersede", "operator-7", "evidence-2")
    assert bob.recording_supersede("evidence-2", "bad sector", chunk=0)["chunk"] == 0
    listed = {r["name"]: r for r in bob.recordings()}
    assert listed["evidence"]["superseded"]["reason"] == "re-recorded"
    assert bob.recording_erase("evidence", "retention over")["actor"] == "bob"

    with pytest.raises(storage.StorageError) as not_superseded:
        bob.recording_erase("evidence-2", "why")
    assert not_superseded.value.status == storage.Status.RECORDING_INVALID
    with pytest.raises(storage.StorageError) as unknown:
        bob.recording_supersede("never", "r")
    assert unknown.value.status == storage.Status.RECORDING_NOT_FOUND
    with pytest.raises(storage.StorageError) as huge:
        bob.recording_supersede("evidence-2", "r" * 5000)
    assert huge.value.status == storage.Status.TOO_LARGE

    mine = bob.audit(actor="operator-7")
    assert [r["action"] for r in mine["records"]] == ["supersede"]
    assert mine["verdict"]["status"] == "ok"
    assert bob.audit(recording="evidence", until_ns=1)["records"] == []
    assert len(bob.audit(recording="evidence")["records"]) == 2


def test_upload_requests_without_an_upload_section_fail_clearly(tmp_path: Path) -> None:
    manager = storage.Manager({"participant_id": "p", "recording": {"root": str(tmp_path)}})
    try:
        for call in (manager.upload_recording, manager.upload_status,
                     manager.upload_reconcile, manager.upload_restore):
            with pytest.raises(storage.StorageError) as refused:
                call("r")
            assert refused.value.status == storage.Status.UPLOAD_FAILED
            assert "`upload` section" in str(refused.value)
    finally:
        manager.close()
