"""The moderation stack: the linear half reproduces scikit-learn's TF-IDF + logistic regression as
tensors, the whole stack scripts to TorchScript, and short texts stay near the prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression

from training.baselines import bag_of_ids
from training.moderation.model import HarmScorer, HashedNgramClassifier, StackedClassifier, TfidfLogistic
from training.moderation.preprocess import PAD_ID, short_segments
from training.moderation.task import read_short_messages

BUCKETS = 64


def distinct_ids(rows: int, width: int, seed: int) -> np.ndarray:
    """Rows of distinct non-padding ids, a random share padded (as the featuriser makes them)."""
    rng = np.random.default_rng(seed)
    ids = np.stack([rng.permutation(np.arange(1, BUCKETS))[:width] for _ in range(rows)])
    lengths = rng.integers(1, width + 1, size=rows)
    ids[np.arange(width)[None, :] >= lengths[:, None]] = PAD_ID
    return ids.astype(np.int64)


def test_tfidf_logistic_module_matches_scikit_learn() -> None:
    train, test = distinct_ids(200, 12, seed=0), distinct_ids(50, 12, seed=1)
    labels = (np.isin(train, [3, 5, 7]).any(axis=1)).astype(int)
    counts = bag_of_ids(train, BUCKETS)
    tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
    classifier = LogisticRegression(C=10.0, max_iter=2000).fit(tfidf.transform(counts), labels)
    module = TfidfLogistic(
        torch.from_numpy(tfidf.idf_),
        torch.from_numpy(classifier.coef_),
        torch.from_numpy(classifier.intercept_),
    )
    expected = classifier.decision_function(tfidf.transform(bag_of_ids(test, BUCKETS)))
    with torch.no_grad():
        got = module(torch.from_numpy(test))[:, 0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_stack_scripts_and_weighs_its_halves() -> None:
    network = HashedNgramClassifier(BUCKETS, embedding_dim=4, hidden_dim=8, heads=1, dropout=0.0)
    linear = TfidfLogistic(torch.ones(BUCKETS), torch.full((1, BUCKETS), 0.5), torch.zeros(1))
    stack = StackedClassifier(network, linear, scales=(2.0, 4.0), network_weight=0.25)
    tokens = torch.from_numpy(distinct_ids(5, 10, seed=2))
    scripted = torch.jit.script(HarmScorer(stack).eval())
    with torch.no_grad():
        expected = torch.sigmoid(0.25 / 2.0 * network.eval()(tokens) + 0.75 / 4.0 * linear(tokens))
        assert torch.allclose(scripted(tokens), expected, atol=1e-6)


def test_untrained_network_scores_a_short_text_nearer_the_prior_than_a_long_one() -> None:
    """Summed (not averaged) evidence: fewer ids, less pull away from the bias."""
    network = HashedNgramClassifier(BUCKETS, embedding_dim=4, hidden_dim=8, heads=1, dropout=0.0).eval()
    torch.nn.init.constant_(network.evidence.weight, 0.1)
    short = torch.tensor([[1, 2] + [PAD_ID] * 30])
    long = torch.arange(1, 33).unsqueeze(0)
    with torch.no_grad():
        bias = network(torch.full((1, 32), PAD_ID))
        assert (network(short) - bias).abs() < (network(long) - bias).abs()


def test_short_segments_are_bounded_windows_of_the_text() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    segments = short_segments(text, count=50, max_words=16, rng=np.random.default_rng(0))
    assert len(segments) == 50
    for segment in segments:
        words = segment.split(" ")
        assert 1 <= len(words) <= 16 and segment in text
    assert short_segments("hi", count=2, max_words=16, rng=np.random.default_rng(0)) == ["hi", "hi"]


def test_short_message_set_has_both_kinds() -> None:
    messages = read_short_messages()
    labels = [label for label, _ in messages]
    assert set(labels) == {"benign", "harmful"}
    assert labels.count("benign") >= 20 and labels.count("harmful") >= 20
    assert all(text.strip() for _, text in messages)


@pytest.mark.parametrize("text", ["Hello", "see you at lunch", "Meeting moved to 3pm"])
def test_the_issues_examples_are_in_the_benign_set(text: str) -> None:
    assert ("benign", text) in read_short_messages()
