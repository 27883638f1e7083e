"""Collection names and index specs: pure rules the store relies on."""

from __future__ import annotations

import pytest

from embeddings.errors import EmbeddingsError
from embeddings.naming import collection_name, parse_collection_name
from embeddings.records import IndexSpec


@pytest.mark.parametrize(("model", "version"), [("visual-search", 3), ("ranking", 1), ("a", 120)])
def test_collection_names_round_trip(model: str, version: int) -> None:
    assert parse_collection_name(collection_name(model, version)) == (model, version)


@pytest.mark.parametrize(
    "name", ["visual-search", "visual-search__v0", "x__v", "Visual__v1", "bench__v1__v2"]
)
def test_foreign_names_are_not_versions(name: str) -> None:
    assert parse_collection_name(name) is None


@pytest.mark.parametrize(("model", "version"), [("Visual", 1), ("a_b", 1), ("ok", 0), ("", 1)])
def test_bad_model_or_version_is_refused(model: str, version: int) -> None:
    with pytest.raises(EmbeddingsError):
        collection_name(model, version)


def test_index_spec_validates_and_round_trips_through_metadata() -> None:
    spec = IndexSpec(m=32, hnsw_ef=64, quantization="int8", oversampling=3.0)
    assert IndexSpec.from_metadata(spec.as_metadata()) == spec
    with pytest.raises(EmbeddingsError, match="m=1"):
        IndexSpec(m=1)
    with pytest.raises(EmbeddingsError, match="oversampling=0.5"):
        IndexSpec(oversampling=0.5)


def test_a_collection_built_before_a_spec_field_existed_reads_its_default() -> None:
    recorded = {
        name: value for name, value in IndexSpec(hnsw_ef=512).as_metadata().items() if name != "oversampling"
    }
    assert IndexSpec.from_metadata(recorded) == IndexSpec(hnsw_ef=512)
