"""Transformer replicas in the stack plan: names, and the embedded-store rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.artifact.layout import VersionArtifacts
from modelyard.errors import UsageError
from modelyard.registry import ResolvedVersion
from modelyard.settings import Settings
from serving.stack.plan import ServedModel, transformer_replicas


def settings_with(tmp_path: Path, **values: object) -> Settings:
    return Settings(state_dir=tmp_path, **values)


def test_unlisted_models_get_one_transformer(tmp_path: Path) -> None:
    assert transformer_replicas(settings_with(tmp_path), "moderation") == 1


def test_a_model_without_an_index_may_have_replicas(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, transformer_replicas={"moderation": 3})
    assert transformer_replicas(settings, "moderation") == 3


@pytest.mark.parametrize("model", ["visual-search", "ranking"])
def test_embedded_store_models_refuse_replicas_naming_the_fix(tmp_path: Path, model: str) -> None:
    settings = settings_with(tmp_path, transformer_replicas={model: 2})
    with pytest.raises(UsageError) as raised:
        transformer_replicas(settings, model)
    assert "MODELYARD_QDRANT_URL" in (raised.value.hint or "")


def test_a_qdrant_server_lets_searching_models_have_replicas(tmp_path: Path) -> None:
    settings = settings_with(
        tmp_path, transformer_replicas={"ranking": 2}, qdrant_url="http://127.0.0.1:6333"
    )
    assert transformer_replicas(settings, "ranking") == 2


def test_replica_child_names_keep_the_first_transformer_name(tmp_path: Path) -> None:
    resolved = ResolvedVersion(name="moderation", version=1, run_id="r", source="file:///nowhere")
    model = ServedModel(resolved, VersionArtifacts("moderation", 1, tmp_path))
    assert model.transformers(1) == ["transformer-moderation"]
    assert model.transformers(3) == [
        "transformer-moderation",
        "transformer-moderation.2",
        "transformer-moderation.3",
    ]
