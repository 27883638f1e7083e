"""Fashion-MNIST from the idx files of Debian's ``dataset-fashion-mnist``, stored as ``.npy``."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modelyard.data.progress import progress
from modelyard.data.spec import DatasetSpec
from modelyard.errors import DataError, UsageError
from modelyard.settings import Settings

CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049
# materialised array name -> idx file in the source folder
_ARRAYS = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True, eq=False)
class FashionMNIST:
    """28x28 uint8 grey images with labels 0-9 (names in ``classes``)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]
    digest: str

    def test_png(self, index: int) -> bytes:
        """Test image ``index`` as PNG: what a client would upload to visual search."""
        if not 0 <= index < len(self.test_images):
            raise UsageError(
                f"no test image {index}: there are {len(self.test_images)}",
                hint=f"pick an index from 0 to {len(self.test_images) - 1}",
            )
        return png(self.test_images[index])


def png(pixels: np.ndarray) -> bytes:
    """A 28x28 uint8 array as PNG."""

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def read_idx(path: Path) -> np.ndarray:
    """Decode one gzipped idx file (big-endian header: magic, count, then rows and cols for images)."""
    raw = gzip.decompress(path.read_bytes())
    magic = int.from_bytes(raw[:4], "big")
    dims = {_IMAGES_MAGIC: 3, _LABELS_MAGIC: 1}.get(magic)
    if dims is None:
        raise DataError(f"{path} is not an idx image or label file (magic {magic})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {body.size} bytes of data, header says shape {shape}")
    return body.reshape(shape)


class FashionMNISTSpec(DatasetSpec):
    name = "fashion-mnist"
    package = "dataset-fashion-mnist (Debian)"
    install_command = "sudo apt-get install dataset-fashion-mnist"
    license = "MIT (Zalando Research, Fashion-MNIST)"
    layout = "the four files " + ", ".join(_ARRAYS.values())
    required = tuple(_ARRAYS.values())

    def default_source(self, settings: Settings) -> Path:
        return settings.fashion_mnist_source

    def materialise(self, source: Path, out: Path) -> tuple[dict[str, int], dict[str, Any]]:
        arrays = {name: read_idx(source / file) for name, file in progress(list(_ARRAYS.items()), self.name)}
        for split in ("train", "test"):
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            if len(images) != len(labels):
                raise DataError(f"{split}: {len(images)} images but {len(labels)} labels in {source}")
        for name, array in arrays.items():
            np.save(out / f"{name}.npy", array)
        rows = {"train": len(arrays["train_labels"]), "test": len(arrays["test_labels"])}
        return rows, {"classes": list(CLASSES), "image_shape": list(arrays["train_images"].shape[1:])}

    def read(self, folder: Path, digest: str) -> FashionMNIST:
        arrays = {name: np.load(folder / f"{name}.npy") for name in _ARRAYS}
        return FashionMNIST(**arrays, classes=CLASSES, digest=digest)
