"""A version's profile comes from the registry (a real MLflow on sqlite), once; a version trained
before versions stored one gets a NotFoundError that says to retrain."""

from __future__ import annotations

import json

import mlflow
import pytest

from modelyard.artifact.layout import MLFLOW_ARTIFACT_PATH, PROFILE_FILE
from modelyard.errors import NotFoundError
from modelyard.registry import Registry
from modelyard.settings import Settings
from monitoring.profiles import cached_profile_path, load_profile


def register(registry: Registry, folder, files: dict[str, str]) -> int:
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    with registry.start_run("moderation", params={}, dataset_digest="sha256:test") as run:
        mlflow.log_artifacts(str(folder), MLFLOW_ARTIFACT_PATH)
    return registry.register(run.info.run_id, MLFLOW_ARTIFACT_PATH, "moderation").version


def test_a_profile_is_downloaded_once_and_an_old_version_is_told_to_retrain(tmp_path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    registry = Registry(settings)
    profile = {"format": 1, "rows": 3, "context": {"heads": ["spam"]}}
    with_profile = register(registry, tmp_path / "a", {PROFILE_FILE: json.dumps(profile), "x.json": "{}"})
    without = register(registry, tmp_path / "b", {"x.json": "{}"})

    assert load_profile(settings, "moderation", str(with_profile)) == profile
    cached = cached_profile_path(settings, "moderation", str(with_profile))
    assert cached.is_file() and not (cached.parent / "x.json").exists(), "only the profile is fetched"
    with pytest.raises(NotFoundError, match="no reference profile") as raised:
        load_profile(settings, "moderation", str(without))
    assert "yard train moderation" in raised.value.hint
