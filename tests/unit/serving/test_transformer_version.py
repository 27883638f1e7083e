"""Reading a served version's files, and how transformer errors map to status codes (no servers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kserve.errors import InferenceError, InvalidInput

from embeddings.errors import CollectionNotFoundError, FilterError, PointNotFoundError, StoreUnavailableError
from modelyard.errors import DataError, UsageError
from modelyard.settings import Settings
from serving.transformer.errors import ServiceUnavailable, as_kserve_error
from serving.transformer.version import read_version_state, resolve_version_state

SIGNATURE = {"moderation": {"inputs": [], "outputs": [], "max_batch_size": 64}}


def _version_folder(root: Path, with_thresholds: bool = True) -> Path:
    folder = root / "model"
    folder.mkdir(parents=True)
    (folder / "preprocessing.json").write_text(json.dumps({"heads": ["spam"]}))
    (folder / "signature.json").write_text(json.dumps(SIGNATURE))
    if with_thresholds:
        (folder / "thresholds.json").write_text(json.dumps({"spam": {"review": 0.5, "block": 0.9}}))
    return folder


def test_reads_the_registered_model_folder_or_its_parent(tmp_path: Path) -> None:
    folder = _version_folder(tmp_path)
    for given in (tmp_path, folder):
        state = read_version_state("moderation", 3, given)
        assert state.artifact_dir == folder.resolve()
        assert (state.triton_version, state.triton_models) == ("3", ["moderation"])
        assert state.preprocessing == {"heads": ["spam"]} and state.thresholds["spam"]["block"] == 0.9


def test_thresholds_are_optional_but_required_files_are_not(tmp_path: Path) -> None:
    folder = _version_folder(tmp_path, with_thresholds=False)
    assert read_version_state("ranking", 1, folder).thresholds is None
    (folder / "signature.json").unlink()
    with pytest.raises(DataError, match="signature.json"):
        read_version_state("ranking", 1, folder)


def test_corrupt_json_is_a_data_error(tmp_path: Path) -> None:
    folder = _version_folder(tmp_path)
    (folder / "preprocessing.json").write_text("{oops")
    with pytest.raises(DataError, match="preprocessing.json"):
        read_version_state("moderation", 1, folder)


def test_a_missing_triton_model_names_what_the_version_has(tmp_path: Path) -> None:
    state = read_version_state("moderation", 1, _version_folder(tmp_path))
    with pytest.raises(DataError, match=r"\['moderation'\]"):
        state.require_triton_model("ranking-ctr")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({}, "exactly one"),
        ({"version": 1, "alias": "champion"}, "exactly one"),
        ({"alias": "champion", "artifact_dir": Path("/nowhere")}, "needs --version"),
    ],
)
def test_version_flags_must_say_which_version(tmp_path: Path, flags: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_version_state(Settings(state_dir=tmp_path), "moderation", **flags)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (FilterError("bad filter"), InvalidInput),
        (PointNotFoundError("no point 9"), InvalidInput),
        (StoreUnavailableError("qdrant down"), ServiceUnavailable),
        (CollectionNotFoundError("not indexed"), ServiceUnavailable),
        (DataError("broken"), InferenceError),
    ],
)
def test_modelyard_errors_become_kserve_statuses(error: Exception, expected: type) -> None:
    mapped = as_kserve_error(error)
    assert isinstance(mapped, expected) and str(error.message) in str(mapped)


def test_service_unavailable_carries_the_reason_for_grpc() -> None:
    error = ServiceUnavailable("Triton at 127.0.0.1:8001 is unreachable")
    assert error.reason == str(error) == "Triton at 127.0.0.1:8001 is unreachable"
    assert as_kserve_error(error) is error
