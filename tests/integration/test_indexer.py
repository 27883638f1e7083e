"""The indexer's visual-search source end to end on real Fashion-MNIST and a real (tiny)
TorchScript encoder laid out like a registered version's artifacts; the trained encoder is
not needed to check the wiring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from embeddings import VectorStore
from embeddings.engines.edge import EdgeEngine
from embeddings.indexer import index_source
from embeddings.sources import VisualSearchSource
from modelyard.settings import Settings

pytestmark = pytest.mark.integration


class TinyEncoder(nn.Module):
    """[N, 1, 28, 28] -> L2-normalised [N, 8], like the real encoder's contract."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.project = nn.Linear(28 * 28, 8)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.project(images.flatten(1)), dim=1)


def write_artifacts(root: Path) -> Path:
    folder = root / "model" / "model_repository" / "visual-search-encoder" / "1"
    folder.mkdir(parents=True)
    torch.jit.script(TinyEncoder()).save(str(folder / "model.pt"))
    (root / "model" / "preprocessing.json").write_text(json.dumps({"pixel_scale": "[0, 1]"}))
    return root


def test_visual_search_source_indexes_images_with_their_payloads(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    source = VisualSearchSource(write_artifacts(tmp_path / "artifacts"), settings, batch_size=100, limit=300)
    store = VectorStore(EdgeEngine.open(settings.qdrant_path / "edge"))
    assert index_source(store, source, version=4) == "visual-search__v4"
    assert store.live_version("visual-search") == 4 and source.dim() == 8
    _, first_batch, _ = next(source.batches())
    hit = store.search("visual-search", first_batch[7], 1, expect_version=4)[0]
    assert hit.id == 7
    assert set(hit.payload) == {"label", "class_name", "split", "image_id"}
    assert hit.payload["image_id"] == 7 and hit.payload["split"] == "train"
    labels = {
        h.payload["label"] for h in store.search("visual-search", first_batch[0], 20, filter={"label": 9})
    }
    assert labels == {9}
    assert np.isclose(np.linalg.norm(first_batch[0]), 1.0)
