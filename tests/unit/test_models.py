"""modelyard/models.py is the one list of models: every floor that keys by model name agrees with it."""

from __future__ import annotations

from embeddings.sources import SOURCES
from modelyard.models import MODEL_NAMES, MODELS
from serving.transformer.models import TRANSFORMERS
from training.tasks import TASKS


def test_training_and_serving_know_exactly_the_registered_models() -> None:
    assert tuple(TASKS) == MODEL_NAMES
    assert tuple(TRANSFORMERS) == MODEL_NAMES


def test_the_models_that_search_are_the_ones_embeddings_index() -> None:
    searching = {name for name, spec in MODELS.items() if spec.searches}
    assert set(SOURCES) == searching
    for name, source in SOURCES.items():
        assert source.model == name
        assert source.triton_model == MODELS[name].encoder
        assert MODELS[name].encoder in (None, *MODELS[name].triton_models)
        assert (MODELS[name].encoder is None) == MODELS[name].item_vectors
