"""The ``settings`` fixture: state and all three (tiny, synthetic) sources under ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.settings import Settings
from tests.unit.data.tiny_sources import make_fashion_source, make_movielens_source, make_spam_source


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings whose state and every source live in ``tmp_path``."""
    return Settings(
        state_dir=tmp_path / "state",
        fashion_mnist_source=make_fashion_source(tmp_path / "fashion"),
        spamassassin_source=make_spam_source(tmp_path / "spam" / "package"),
        movielens_source=make_movielens_source(tmp_path / "ml-100k"),
    )
