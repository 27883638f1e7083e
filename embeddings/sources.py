"""What to index for each model: the rows, their payloads, and the version's TorchScript encoder
that turns them into vectors. A ``Source`` yields the batches ``VectorStore.build_version`` takes;
ids are deterministic (image index, item id), which is what makes builds resumable.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from embeddings.errors import EmbeddingsError
from embeddings.records import PayloadSchema
from modelyard.artifact.layout import PREPROCESSING_FILE, torchscript_path, version_root
from modelyard.data import load
from modelyard.errors import DataError
from modelyard.models import RANKING, VISUAL_SEARCH
from modelyard.settings import Settings
from training.ranking.features import FeatureSpec, item_feature_ids

Batch = tuple[list[int], np.ndarray, list[dict[str, Any]]]


def find_artifact(path: Path) -> Path:
    """``path`` of a downloaded version, or a DataError saying the version is incomplete."""
    if not path.is_file():
        raise DataError(
            f"{path} is missing",
            hint="the version's artifacts are incomplete: re-run its training and register it",
        )
    return path


class Source(ABC):
    """Rows of one model's catalogue, embedded by that model version's encoder."""

    model: ClassVar[str]
    """Registered model and alias name in the store, e.g. ``visual-search``."""
    triton_model: ClassVar[str]
    """The encoder inside the version's ``model_repository``."""
    payload_indexes: ClassVar[dict[str, PayloadSchema]]
    """Payload fields serving filters on."""

    def __init__(
        self, artifacts: Path, settings: Settings, batch_size: int = 512, limit: int | None = None
    ) -> None:
        root = version_root(artifacts)
        encoder_path = find_artifact(torchscript_path(root, self.triton_model))
        self.encoder = torch.jit.load(str(encoder_path), map_location="cpu").eval()
        self.preprocessing: dict[str, Any] = json.loads(
            find_artifact(root / PREPROCESSING_FILE).read_text(encoding="utf-8")
        )
        self.settings = settings
        self.batch_size = batch_size
        self.limit = limit
        """Index only the first ``limit`` rows (smoke runs)."""

    @property
    @abstractmethod
    def total(self) -> int:
        """How many points the collection will hold."""

    @abstractmethod
    def rows(self) -> Iterator[tuple[list[int], Any, list[dict[str, Any]]]]:
        """(ids, encoder input for those ids, payloads), ``batch_size`` at a time."""

    def dim(self) -> int:
        """The embedding size, read off the encoder with the first row."""
        _, inputs, _ = next(self.rows())
        return int(self._embed(inputs[:1]).shape[1])

    def batches(self) -> Iterator[Batch]:
        for ids, inputs, payloads in self.rows():
            yield ids, self._embed(inputs), payloads

    @torch.inference_mode()
    def _embed(self, inputs: Any) -> np.ndarray:
        vectors = self.encoder(torch.as_tensor(inputs)).float().numpy()
        if vectors.ndim != 2 or len(vectors) != len(inputs):
            raise EmbeddingsError(
                f"{self.triton_model} returned shape {vectors.shape} for {len(inputs)} inputs",
                hint="the encoder must map a batch to one embedding per row",
            )
        return vectors


class VisualSearchSource(Source):
    """All 70k Fashion-MNIST images (train ids 0-59999, test 60000-69999), pixels in [0, 1]."""

    model = VISUAL_SEARCH.name
    triton_model = VISUAL_SEARCH.encoder
    payload_indexes: ClassVar[dict[str, PayloadSchema]] = {"label": "integer", "split": "keyword"}

    def __init__(
        self, artifacts: Path, settings: Settings, batch_size: int = 512, limit: int | None = None
    ) -> None:
        super().__init__(artifacts, settings, batch_size, limit)
        data = load("fashion-mnist", settings)
        self.images = np.concatenate([data.train_images, data.test_images])
        self.labels = np.concatenate([data.train_labels, data.test_labels])
        self.splits = ["train"] * len(data.train_labels) + ["test"] * len(data.test_labels)
        self.classes = data.classes

    @property
    def total(self) -> int:
        return min(len(self.images), self.limit or len(self.images))

    def rows(self) -> Iterator[tuple[list[int], Any, list[dict[str, Any]]]]:
        for start in range(0, self.total, self.batch_size):
            ids = list(range(start, min(start + self.batch_size, self.total)))
            pixels = self.images[start : ids[-1] + 1, None].astype(np.float32) / 255.0
            payloads = [
                {
                    "label": int(self.labels[i]),
                    "class_name": self.classes[int(self.labels[i])],
                    "split": self.splits[i],
                    "image_id": i,
                }
                for i in ids
            ]
            yield ids, pixels, payloads


class RankingItemSource(Source):
    """Every MovieLens item, featurised as the item tower was trained (preprocessing.json)."""

    model = RANKING.name
    triton_model = RANKING.encoder
    payload_indexes: ClassVar[dict[str, PayloadSchema]] = {"year": "integer", "genres": "keyword"}

    def __init__(
        self, artifacts: Path, settings: Settings, batch_size: int = 512, limit: int | None = None
    ) -> None:
        super().__init__(artifacts, settings, batch_size, limit)
        items = load("movielens-100k", settings).items.sort_values("item_id").reset_index(drop=True)
        self.items = items.iloc[:limit] if limit else items
        spec = FeatureSpec.from_json(self.preprocessing["feature_spec"])
        self.features = item_feature_ids(spec, self.items["item_id"].to_numpy())

    @property
    def total(self) -> int:
        return len(self.items)

    def rows(self) -> Iterator[tuple[list[int], Any, list[dict[str, Any]]]]:
        for start in range(0, self.total, self.batch_size):
            chunk = self.items.iloc[start : start + self.batch_size]
            payloads = [
                {
                    "title": row.title,
                    "year": None if pd.isna(row.release_year) else int(row.release_year),
                    "genres": [g for g in str(row.genres).split("|") if g],
                }
                for row in chunk.itertuples()
            ]
            yield (
                chunk["item_id"].astype(int).tolist(),
                self.features[start : start + self.batch_size],
                payloads,
            )


SOURCES: dict[str, type[Source]] = {
    source.model: source for source in (VisualSearchSource, RankingItemSource)
}
