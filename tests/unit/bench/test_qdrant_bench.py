"""Qdrant benchmark: where its vectors come from (real index copy, or synthetic with a reason), the
recall arithmetic, and the result it writes, on a tiny synthetic catalogue through both real
embedded engines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.qdrant_bench import EDGE, PATHS, Size, as_result, measure, recall_at_k
from bench.qdrant_catalogue import (
    CATALOGUE_SIZE,
    MODEL,
    Catalogue,
    live_full_collection,
    load_catalogue,
    synthetic_catalogue,
)
from bench.schema import SCHEMA_VERSION
from embeddings import VectorStore
from embeddings.engines.edge import EdgeEngine
from modelyard.settings import Settings


def test_recall_is_the_share_of_the_exact_top_k_found() -> None:
    assert recall_at_k([{1, 2, 3}, {4}, set()], [{1, 2, 9}, {4}, set()]) == [pytest.approx(2 / 3), 1.0, 0.0]


def test_synthetic_catalogue_has_visual_search_payloads_and_held_out_test_queries() -> None:
    catalogue = synthetic_catalogue(700, reason="no index")
    assert catalogue.vectors.shape == (700, 128) and catalogue.fallback_reason == "no index"
    assert sum(p["split"] == "test" for p in catalogue.payloads) == 100
    rows = catalogue.query_rows(30)
    assert len(set(rows)) == 30 and all(catalogue.payloads[r]["split"] == "test" for r in rows)
    assert list(rows) == list(catalogue.query_rows(30))  # the same queries every run
    subset = catalogue.subset(350)
    kept = [int(np.flatnonzero((catalogue.vectors == row).all(axis=1))[0]) for row in subset.vectors[:5]]
    assert [catalogue.payloads[i] for i in kept] == subset.payloads[:5]  # rows keep their payloads


def test_without_an_index_or_champion_the_catalogue_is_synthetic_and_says_why(tmp_path: Path) -> None:
    catalogue = load_catalogue(Settings(state_dir=tmp_path / "state"), tmp_path / "work")
    assert len(catalogue.vectors) == CATALOGUE_SIZE
    assert catalogue.source.startswith("synthetic") and "visual-search" in catalogue.fallback_reason


def test_only_a_complete_full_size_live_index_counts_as_real(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    assert live_full_collection(settings) is None  # no edge folder: none is created either
    assert not (settings.qdrant_path / "edge").exists()
    small = synthetic_catalogue(300, reason="")
    store = VectorStore(EdgeEngine.open(settings.qdrant_path / "edge"))
    batch = (list(range(300)), small.vectors, small.payloads)
    store.build_version(MODEL, 1, 128, [batch], total=300, progress=False)
    assert live_full_collection(settings) is None  # a smoke index (--limit) is not the catalogue


def test_the_result_reports_recall_latency_and_ratios_for_both_engines(tmp_path: Path) -> None:
    catalogue = synthetic_catalogue(420, reason="test")
    data = measure(catalogue, Size(420, 12, 4), full=False, work_dir=tmp_path)
    result = as_result(catalogue, data)
    assert result["schema_version"] == SCHEMA_VERSION and result["status"] == "ok"
    assert "Synthetic stand-in" in result["summary"] and "searches exactly" in result["summary"]
    defaults = result["tables"][0]
    assert [(row[0], row[1], row[2]) for row in defaults["rows"][:3]] == [(EDGE, path, 12) for path in PATHS]
    assert all(row[5] == 1.0 for row in defaults["rows"][:3])  # 420 points: below the full-scan threshold
    assert [row[2] for row in defaults["rows"][-3:]] == [4, 4, 4]  # local mode: fewer queries
    labels = [ratio["label"] for ratio in result["ratios"]]
    assert labels[:3] == [
        "local / edge p50 (unfiltered)",
        "local / edge p50 (own label)",
        "edge / local indexing",
    ]
    assert all(ratio["value"] > 0 for ratio in result["ratios"])
    assert [chart["title"] for chart in result["charts"]][0] == "p50 per search path"
    assert result["data"]["fallback_reason"] == "test" and result["data"]["points"] == 420


def test_a_catalogue_subset_smaller_than_asked_is_the_catalogue_itself() -> None:
    catalogue = Catalogue(np.ones((3, 2), np.float32), [{"split": "test"}] * 3, "tiny")
    assert catalogue.subset(10) is catalogue and len(catalogue.query_rows(10)) == 3
