"""A ranking version without its item and history tables fails at load, saying to retrain (no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.errors import DataError
from modelyard.settings import Settings
from serving.transformer.models.ranking import CTR, ITEM_TOWER, USER_TOWER, RankingTransformer
from serving.transformer.predictor import TritonPredictor
from serving.transformer.version import VersionState


def test_a_version_without_lookups_refuses_to_load_and_says_retrain(tmp_path: Path) -> None:
    signature = {
        name: {"inputs": [], "outputs": [], "max_batch_size": 256} for name in (USER_TOWER, ITEM_TOWER, CTR)
    }
    state = VersionState("ranking", 3, tmp_path, preprocessing={"feature_spec": {}}, signature=signature)
    transformer = RankingTransformer(
        state, TritonPredictor("127.0.0.1:1", "grpc-v2"), Settings(state_dir=tmp_path)
    )
    with pytest.raises(DataError, match="ranking v3 carries no items, seen") as raised:
        transformer.load()
    assert "yard train ranking" in raised.value.hint
    assert not transformer.ready
