"""The per-model signal functions (training/<model>/signals.py) and the profile they build."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serving.transformer.codecs.moderation import decide as served_decision
from serving.transformer.codecs.moderation import read_thresholds
from training.moderation import signals as moderation
from training.moderation.preprocess import normalize_text
from training.profile import EMBEDDING_ROWS, SAMPLE_ROWS, Signals, build_profile, profile_signals
from training.ranking import signals as ranking
from training.visual_search import signals as visual_search


def test_moderation_text_features_count_words_links_numbers_and_unseen_words() -> None:
    context = moderation.vocabulary_context(["cheap meds online now", "meeting notes for monday"] * 2)
    texts = [
        normalize_text("Cheap meds at http://x.example 50% off", 6000),
        normalize_text("réunion lundi à 10h", 6000),
        "",
    ]
    features = moderation.text_features(texts, frozenset(context["vocabulary"]))
    assert texts[0] == "cheap meds at urltoken numtoken % off"
    assert features["words"].tolist() == [7, 5, 0]
    assert features["urls"].tolist() == [1, 0, 0]
    assert features["number_share"][0] == pytest.approx(1 / 7)
    assert features["unseen_word_share"][0] == pytest.approx(4 / 6)  # at, urltoken, numtoken, off
    assert features["non_ascii_share"][1] > 0 and features["non_ascii_share"][0] == 0
    assert features["chars"][2] == 0


def test_moderation_vocabulary_keeps_words_several_texts_share() -> None:
    context = moderation.vocabulary_context(["a b", "a b c", "a d d d d"])
    assert context["vocabulary"] == ["a", "b"], "d is frequent but one text's own"


@pytest.mark.parametrize("seed", range(5))
def test_moderation_reference_decisions_match_servings_rule(seed: int) -> None:
    """The profile's decisions of validation rows come from ``signals.decide``: it must agree with
    the rule serving applies to every request, short texts included."""
    rng = np.random.default_rng(seed)
    thresholds = {
        "spam": {"review": 0.3, "block": 0.9, "short_words": 20, "short_review": 0.5},
        "abuse": {"review": 0.4, "block": None, "short_words": 0, "short_review": None},
    }
    heads = list(thresholds)
    scores = rng.uniform(size=(200, 2))
    words = rng.integers(0, 40, 200)
    ours = moderation.decide(scores, words, thresholds, heads)
    limits = read_thresholds(thresholds, heads)
    theirs = [
        served_decision({h: float(row[i]) for i, h in enumerate(heads)}, limits, int(n)).decision
        for row, n in zip(scores, words, strict=True)
    ]
    assert ours.tolist() == theirs
    assert set(theirs) == {"allow", "review", "block"}


def test_visual_search_signals_see_an_inverted_image() -> None:
    rng = np.random.default_rng(0)
    pixels = np.where(rng.uniform(size=(5, 784)) < 0.3, rng.uniform(0.6, 1.0, (5, 784)), 0.0)
    embeddings = rng.normal(size=(5, 8)).astype(np.float32)
    normal = visual_search.signals(pixels, embeddings, np.full(5, 0.9))
    inverted = visual_search.signals(1.0 - pixels, embeddings, np.full(5, 0.9))
    assert (normal.features["pixel_mean"] < 0.5).all() and (inverted.features["pixel_mean"] > 0.5).all()
    assert normal.features["bright_share"] + inverted.features["bright_share"] == pytest.approx(1.0)
    assert normal.embedding.shape == (5, 8) and normal.prediction["top_score"].tolist() == [0.9] * 5


def test_top_scores_skip_the_query_itself() -> None:
    catalogue = np.eye(4, dtype=np.float32)
    queries, labels = catalogue[[1, 2]], np.arange(4)
    top = visual_search.top_scores
    assert top(queries, catalogue, labels, exclude=np.array([1, 2])).tolist() == [0.0, 0.0]
    assert top(queries, catalogue, labels, exclude=np.array([0, 0])).tolist() == [1.0, 1.0]


def test_top_scores_read_the_first_hit_as_served_the_voted_class_first() -> None:
    """The nearest image is of class 1 but the next two are of class 0: class 0 is served first."""
    catalogue = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    labels = np.array([1, 0, 0, 2, 9])
    first = visual_search.top_scores(catalogue[[4]], catalogue, labels, exclude=np.array([4]))
    assert first.tolist() == [pytest.approx(0.9)]


def test_ranking_signals_read_history_popularity_and_scores() -> None:
    context = ranking.popularity_context(
        np.array([1, 1, 2]), np.array([10, 11, 10]), np.array([True, False, True])
    )
    assert context == {"history_length": {"1": 2, "2": 1}, "item_clicks": {"10": 2}}
    result = ranking.signals(np.array([1, 99]), [[10, 11], []], [[0.8, 0.2], []], context)
    assert result.features["history_length"].tolist() == [2.0, 0.0]
    assert result.features["mean_item_popularity"][0] == pytest.approx(np.log1p(2) / 2)
    assert result.prediction["top_score"].tolist() == [0.8, 0.0]
    assert result.categories["user"].tolist() == ["known", "cold"]


def test_a_profile_is_json_and_reads_back_as_the_same_sample() -> None:
    rng = np.random.default_rng(0)
    rows = SAMPLE_ROWS + 500
    signals = Signals(
        features={"x": rng.normal(size=rows)},
        prediction={"score": rng.uniform(size=rows)},
        categories={"decision": rng.choice(["allow", "block"], rows)},
        embedding=rng.normal(size=(rows, 4)).astype(np.float32),
    )
    profile = json.loads(json.dumps(build_profile("moderation", signals, {"heads": ["spam"]})))
    back = profile_signals(profile)
    assert profile["rows"] == rows and profile["context"] == {"heads": ["spam"]}
    assert len(back.features["x"]) == SAMPLE_ROWS and back.embedding.shape == (EMBEDDING_ROWS, 4)
    assert set(back.features["x"].round(6)) <= set(signals.features["x"].round(6))
    assert back.categories["decision"].dtype.kind == "U"
