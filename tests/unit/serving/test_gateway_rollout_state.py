"""rollouts.json: round trip, atomic replacement, history, and refusal of a corrupt file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelyard.errors import DataError
from serving.gateway.rollout.state import RolloutSpec, Variant, build_rollout, read_rollouts, write_rollouts

BASE = Variant(version="1", url="http://127.0.0.1:9001")
CANARY = Variant(version="2", url="http://127.0.0.1:9002")


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "serving" / "rollouts.json"
    started = build_rollout("ranking", RolloutSpec(canary=CANARY, percent=10, reason="start"), BASE, BASE, [])
    stepped = started.with_spec(RolloutSpec(canary=CANARY, percent=25, mode="shadow"))
    write_rollouts(path, {"ranking": stepped})
    assert read_rollouts(path) == {"ranking": stepped}
    assert [h.percent for h in stepped.history] == [10, 25]
    assert json.loads(path.read_text())["schema_version"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["rollouts.json"]  # no staging file left


def test_a_missing_file_means_no_rollouts(tmp_path: Path) -> None:
    assert read_rollouts(tmp_path / "absent.json") == {}


def test_a_corrupt_file_is_a_data_error_naming_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "rollouts.json"
    path.write_text('{"rollouts": {"ranking": {"model": "ranking"}}}')
    with pytest.raises(DataError, match="rollouts.json") as caught:
        read_rollouts(path)
    assert "delete" in (caught.value.hint or "")


def test_percent_without_a_canary_and_canary_equal_to_stable_are_refused() -> None:
    with pytest.raises(ValueError, match="needs a canary"):
        RolloutSpec(percent=10)
    with pytest.raises(ValueError, match="both version 1"):
        build_rollout("ranking", RolloutSpec(canary=BASE, percent=10), BASE, BASE, [])
