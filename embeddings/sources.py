"""What to index for each model: the rows, their payloads and their vectors, which come from the
version's TorchScript encoder (visual search) or from a vectors file the version carries (ranking).
A ``Source`` yields the batches ``VectorStore.build_version`` takes; ids are deterministic (image
index, item id), which is what makes builds resumable.
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
from embeddings.records import IndexSpec, PayloadSchema
from modelyard.artifact.layout import ITEM_VECTORS_FILE, PREPROCESSING_FILE, torchscript_path, version_root
from modelyard.data import load
from modelyard.errors import DataError
from modelyard.models import RANKING, VISUAL_SEARCH
from modelyard.settings import Settings

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
    """Rows of one model's catalogue with that model version's vectors of them."""

    model: ClassVar[str]
    """Registered model and alias name in the store, e.g. ``visual-search``."""
    triton_model: ClassVar[str | None] = None
    """The encoder inside the version's ``model_repository``; None: the version carries its vectors."""
    payload_indexes: ClassVar[dict[str, PayloadSchema]]
    """Payload fields serving filters on."""
    index_spec: ClassVar[IndexSpec] = IndexSpec()
    """How the collection is indexed (the defaults suit the visual-search embeddings)."""

    def __init__(
        self, artifacts: Path, settings: Settings, batch_size: int = 512, limit: int | None = None
    ) -> None:
        self.root = version_root(artifacts)
        self.preprocessing: dict[str, Any] = json.loads(
            find_artifact(self.root / PREPROCESSING_FILE).read_text(encoding="utf-8")
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
        """(ids, what ``_embed`` turns into those ids' vectors, payloads), ``batch_size`` at a time."""

    @abstractmethod
    def _embed(self, inputs: Any) -> np.ndarray:
        """float32 [len(inputs), dim]: the vectors of one batch's rows."""

    def dim(self) -> int:
        """The embedding size, read off the first row's vector."""
        _, inputs, _ = next(self.rows())
        return int(self._embed(inputs[:1]).shape[1])

    def batches(self) -> Iterator[Batch]:
        for ids, inputs, payloads in self.rows():
            yield ids, self._embed(inputs), payloads


class EncodedSource(Source):
    """Vectors from the version's TorchScript encoder (the Triton model serving embeds queries with)."""

    triton_model: ClassVar[str]

    def __init__(
        self, artifacts: Path, settings: Settings, batch_size: int = 512, limit: int | None = None
    ) -> None:
        super().__init__(artifacts, settings, batch_size, limit)
        encoder_path = find_artifact(torchscript_path(self.root, self.triton_model))
        self.encoder = torch.jit.load(str(encoder_path), map_location="cpu").eval()

    @torch.inference_mode()
    def _embed(self, inputs: Any) -> np.ndarray:
        vectors = self.encoder(torch.as_tensor(inputs)).float().numpy()
        if vectors.ndim != 2 or len(vectors) != len(inputs):
            raise EmbeddingsError(
                f"{self.triton_model} returned shape {vectors.shape} for {len(inputs)} inputs",
                hint="the encoder must map a batch to one embedding per row",
            )
        return vectors


class VisualSearchSource(EncodedSource):
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
    """Every MovieLens item with the version's retrieval vector of it (``ITEM_VECTORS_FILE``, rows
    in the version's catalogue order; ``training.ranking.retrieval`` says what they are)."""

    model = RANKING.name
    payload_indexes: ClassVar[dict[str, PayloadSchema]] = {"year": "integer", "genres": "keyword"}
    index_spec: ClassVar[IndexSpec] = IndexSpec(full_scan_threshold_kb=20_000)
    """An exact scan: MovieLens' 1,682 x 1,683 float32 vectors (11 MB) are above the default
    threshold, and HNSW over them returned recall@100 0.444 where the exact search has 0.584
    (docs/embeddings.md); the scan takes a few ms."""

    def __init__(
        self, artifacts: Path, settings: Settings, batch_size: int = 512, limit: int | None = None
    ) -> None:
        super().__init__(artifacts, settings, batch_size, limit)
        items = load("movielens-100k", settings).items.sort_values("item_id").reset_index(drop=True)
        self.items = items.iloc[:limit] if limit else items
        self.vectors = np.load(find_artifact(self.root / ITEM_VECTORS_FILE), allow_pickle=False)
        catalogue = [int(item) for item in self.preprocessing["catalogue"]]
        if len(self.vectors) != len(catalogue):
            raise EmbeddingsError(
                f"{ITEM_VECTORS_FILE} holds {len(self.vectors)} vectors for {len(catalogue)} catalogue items",
                hint="the version's files disagree: re-run its training and register it",
            )
        self.position = {item: row for row, item in enumerate(catalogue)}

    @property
    def total(self) -> int:
        return len(self.items)

    def rows(self) -> Iterator[tuple[list[int], Any, list[dict[str, Any]]]]:
        for start in range(0, self.total, self.batch_size):
            chunk = self.items.iloc[start : start + self.batch_size]
            ids = chunk["item_id"].astype(int).tolist()
            payloads = [
                {
                    "title": row.title,
                    "year": None if pd.isna(row.release_year) else int(row.release_year),
                    "genres": [g for g in str(row.genres).split("|") if g],
                }
                for row in chunk.itertuples()
            ]
            yield ids, ids, payloads

    def _embed(self, inputs: Any) -> np.ndarray:
        missing = [item for item in inputs if item not in self.position]
        if missing:
            raise EmbeddingsError(
                f"items {missing[:10]} have no vector in this version",
                hint="the data catalog holds items the version was not trained on: retrain it",
            )
        return self.vectors[[self.position[item] for item in inputs]]


SOURCES: dict[str, type[Source]] = {
    source.model: source for source in (VisualSearchSource, RankingItemSource)
}
