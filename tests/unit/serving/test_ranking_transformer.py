"""A ranking version without its item and history tables, or without its retrieval item vectors,
fails at load, saying to retrain (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.errors import DataError
from modelyard.models import RANKING
from modelyard.settings import Settings
from serving.transformer.models.ranking import RankingTransformer
from serving.transformer.predictor import TritonPredictor
from serving.transformer.version import VersionState


def transformer_for(tmp_path: Path, preprocessing: dict) -> RankingTransformer:
    signature = {name: {"inputs": [], "outputs": [], "max_batch_size": 256} for name in RANKING.triton_models}
    state = VersionState("ranking", 3, tmp_path, preprocessing=preprocessing, signature=signature)
    return RankingTransformer(state, TritonPredictor("127.0.0.1:1", "grpc-v2"), Settings(state_dir=tmp_path))


def test_a_version_without_lookups_refuses_to_load_and_says_retrain(tmp_path: Path) -> None:
    transformer = transformer_for(tmp_path, {"feature_spec": {}})
    with pytest.raises(DataError, match="ranking v3 carries no items, seen") as raised:
        transformer.load()
    assert "yard train ranking" in raised.value.hint
    assert not transformer.ready


def test_a_version_without_item_vectors_refuses_to_load_and_says_retrain(tmp_path: Path) -> None:
    transformer = transformer_for(tmp_path, {"feature_spec": {}, "items": {}, "seen": {}, "history": {}})
    with pytest.raises(DataError, match="ranking v3 carries no item_vectors.npy") as raised:
        transformer.load()
    assert "yard train ranking" in raised.value.hint and "yard index ranking" in raised.value.hint
    assert not transformer.ready
