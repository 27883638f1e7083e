"""The three real corpora, from their installed source packages, prepared into a temporary state dir."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelyard.data import load, prepare
from modelyard.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Fresh state, real sources: the project's installed ones (``make install``), never copied."""
    installed = Settings()
    return Settings(
        state_dir=tmp_path_factory.mktemp("state"),
        fashion_mnist_source=installed.fashion_mnist_source,
        spamassassin_source=installed.spamassassin_source,
        movielens_source=installed.movielens_source,
    )


def test_fashion_mnist(settings: Settings) -> None:
    data = load("fashion-mnist", settings=settings)

    assert data.train_images.shape == (60000, 28, 28) and data.train_images.dtype == np.uint8
    assert data.test_images.shape == (10000, 28, 28)
    assert len(data.train_labels) + len(data.test_labels) == 70000
    assert np.bincount(data.train_labels).tolist() == [6000] * 10  # Fashion-MNIST is balanced
    assert len(data.classes) == 10


def test_spamassassin(settings: Settings) -> None:
    data = load("spamassassin", settings=settings)
    frame = data.frame

    assert len(frame) == 6046 and frame["id"].is_unique
    assert int(frame["label"].sum()) == 1896
    assert frame.groupby("group").size().to_dict() == {
        "easy-ham-1": 2500,
        "easy-ham-2": 1400,
        "hard-ham-1": 250,
        "spam-1": 500,
        "spam-2": 1396,
    }
    assert frame["text"].str.len().min() > 0


def test_movielens(settings: Settings) -> None:
    data = load("movielens-100k", settings=settings)

    assert len(data.interactions) == 100000
    assert data.interactions["rating"].between(1, 5).all()
    assert len(data.users) == 943 and data.interactions["user_id"].nunique() == 943
    assert len(data.items) == 1682 and data.items["item_id"].is_unique
    assert set(data.interactions["item_id"]) <= set(data.items["item_id"])


def test_rebuilding_from_the_same_sources_gives_the_same_digests(settings: Settings) -> None:
    """The digest is training lineage: it must depend on the data only, not on when it was built."""
    first = {m.name: m for m in prepare(settings=settings)}
    rebuilt = {m.name: m for m in prepare(force=True, settings=settings)}

    assert {name: m.digest for name, m in rebuilt.items()} == {name: m.digest for name, m in first.items()}
    assert all(Path(m.source.path).is_dir() for m in rebuilt.values())
    assert rebuilt["spamassassin"].details["upstream_md5"]["matched"] >= 6045
