"""Catalogue images for the console: the Fashion-MNIST pictures behind visual-search ids.

Ids are the index's (``embeddings.sources.VisualSearchSource``): train images 0-59999, then test
images 60000-69999. The arrays are memory-mapped from the prepared dataset folder, so the gateway
reads only the 784 bytes of each thumbnail it serves; a gateway without the dataset (Kubernetes)
answers 404 and the console draws hits without pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelyard.data.fashion_mnist import CLASSES, png
from serving.gateway.errors import GatewayError

GALLERY_MAX = 48
"""Most test images one gallery answer lists (a screenful of thumbnails)."""


@dataclass(frozen=True)
class GalleryImage:
    id: int
    label: int
    class_name: str


@dataclass(frozen=True)
class _Arrays:
    train_images: np.ndarray
    test_images: np.ndarray
    labels: np.ndarray
    """Every id's label (70 kB: read whole; the images stay mapped)."""

    @property
    def test_start(self) -> int:
        return len(self.train_images)

    def image(self, image_id: int) -> np.ndarray:
        if image_id < self.test_start:
            return self.train_images[image_id]
        return self.test_images[image_id - self.test_start]


class Catalogue:
    """Thumbnails and a gallery of test images from ``folder`` (``None``: no dataset here)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._loaded: _Arrays | None = None

    def _require(self) -> _Arrays:
        """The mapped arrays; tried again on each call until they load (the dataset may be
        prepared after the gateway started)."""
        if self._loaded is None:
            self._loaded = self._load()
        if self._loaded is None:
            raise GatewayError(
                404, "no catalogue images on this gateway: prepare the dataset (yard data prepare)"
            )
        return self._loaded

    def _load(self) -> _Arrays | None:
        if self.folder is None:
            return None
        try:
            parts = {
                name: np.load(self.folder / f"{name}.npy", mmap_mode="r")
                for name in ("train_images", "train_labels", "test_images", "test_labels")
            }
        except (OSError, ValueError):
            return None
        return _Arrays(
            train_images=parts["train_images"],
            test_images=parts["test_images"],
            labels=np.concatenate([parts["train_labels"], parts["test_labels"]]),
        )

    def thumbnail(self, image_id: int) -> bytes:
        """Image ``image_id`` as a 28x28 PNG (404 when no such id)."""
        arrays = self._require()
        if not 0 <= image_id < len(arrays.labels):
            raise GatewayError(
                404, f"no catalogue image {image_id}: ids run from 0 to {len(arrays.labels) - 1}"
            )
        return png(np.ascontiguousarray(arrays.image(image_id)))

    def gallery(self, label: int | None, count: int, offset: int = 0) -> list[GalleryImage]:
        """``count`` test images (of class ``label`` when given), from the ``offset``-th match on:
        images the index's models never trained on, to query with."""
        arrays = self._require()
        test_ids = np.arange(arrays.test_start, len(arrays.labels))
        if label is not None:
            test_ids = test_ids[arrays.labels[arrays.test_start :] == label]
        return [
            GalleryImage(id=int(i), label=int(arrays.labels[i]), class_name=CLASSES[int(arrays.labels[i])])
            for i in test_ids[offset : offset + count]
        ]
