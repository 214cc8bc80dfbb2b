"""Every document the library writes (one sample of each in tests/json-samples, kept
current by the Rust tests) is read by this binding, and every key of it understood."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

import libstorage_sds as storage
from libstorage_sds import StorageError
from libstorage_sds.types import _EVENT_KEYS, ChannelStats, Config, Event, UnwrapResult

SAMPLES = Path(__file__).resolve().parents[3] / "tests" / "json-samples"


def _samples(folder: str) -> list[Path]:
    found = sorted((SAMPLES / folder).glob("*.json"))
    assert found, f"no samples in {SAMPLES / folder}"
    return found


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


@pytest.mark.parametrize("path", _samples("native/event"), ids=lambda p: p.stem)
def test_every_sample_event_is_understood(path: Path) -> None:
    document = path.read_bytes()
    event = Event.parse(document)
    assert event.type == path.stem
    unknown = set(json.loads(document)) - set(_EVENT_KEYS) - {"eventType", "message"}
    assert not unknown, f"{path.name}: keys this binding does not read: {unknown}"


def test_shared_keys_land_in_their_fields() -> None:
    def parse(name: str) -> Event:
        return Event.parse((SAMPLES / "native" / "event" / f"{name}.json").read_bytes())

    assert parse("resend").wire and not parse("resend").warning
    failed = parse("recording_failed")
    assert failed.warning and failed.name and not failed.wire
    recovered = parse("recording_recovered")
    assert recovered.file and recovered.action == "recovered" and recovered.messages
    replayed = parse("replay_message")
    assert replayed.replay_id and replayed.log_time_ns and replayed.content
    assert parse("replay_finished").messages and parse("replay_finished").error == ""


@pytest.mark.parametrize(
    "name, parse",
    [("unwrap", UnwrapResult.parse), ("channel_stats", ChannelStats.parse)],
)
def test_typed_results_read_every_key(name: str, parse: object) -> None:
    document = (SAMPLES / "native" / "result" / f"{name}.json").read_bytes()
    result = parse(document)  # type: ignore[operator]
    fields = {_camel(f.name) for f in dataclasses.fields(result)}
    assert fields == set(json.loads(document)), name


def test_every_sample_result_is_known() -> None:
    # unwrap and channel_stats are typed; the recording results are handed over as dicts.
    known = {"unwrap", "channel_stats", "recording_stop", "recording_seal",
             "recordings_list", "recording_verify", "replay_start",
             "recording_supersede", "recording_erase", "audit_query",
             "upload_recording", "upload_status", "upload_reconcile"}
    for path in _samples("native/result"):
        assert path.stem in known, f"{path.name}: a result this binding does not know"
        assert isinstance(json.loads(path.read_bytes()), dict)


def test_config_declares_every_key() -> None:
    document = json.loads((SAMPLES / "config" / "defaults.json").read_bytes())
    assert set(document) == set(Config.__annotations__)


@pytest.mark.parametrize("path", _samples("config-error"), ids=lambda p: p.stem)
def test_every_sample_config_error_is_raised(path: Path) -> None:
    sample = json.loads(path.read_bytes())
    with pytest.raises(StorageError) as refused:
        storage.Manager(sample["config"]).close()
    assert refused.value.status == sample["status"]
    assert refused.value.message == sample["message"]
