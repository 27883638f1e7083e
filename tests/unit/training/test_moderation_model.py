"""The moderation stack: the linear models reproduce scikit-learn's logistic regressions (over
TF-IDF and over NBSVM log-count ratios) as tensors, the whole stack scripts to TorchScript, and
short texts stay near the prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from training.baselines import bag_of_ids
from training.moderation.model import HarmScorer, HashedNgramClassifier, StackedClassifier, TermLogistic
from training.moderation.preprocess import PAD_ID, short_segments
from training.moderation.task import log_count_ratios, presence, read_short_messages

BUCKETS = 64


def distinct_ids(rows: int, width: int, seed: int) -> np.ndarray:
    """Rows of distinct non-padding ids, a random share padded (as the featuriser makes them)."""
    rng = np.random.default_rng(seed)
    ids = np.stack([rng.permutation(np.arange(1, BUCKETS))[:width] for _ in range(rows)])
    lengths = rng.integers(1, width + 1, size=rows)
    ids[np.arange(width)[None, :] >= lengths[:, None]] = PAD_ID
    return ids.astype(np.int64)


def test_term_logistic_module_matches_scikit_learn_tfidf() -> None:
    train, test = distinct_ids(200, 12, seed=0), distinct_ids(50, 12, seed=1)
    labels = (np.isin(train, [3, 5, 7]).any(axis=1)).astype(int)
    counts = bag_of_ids(train, BUCKETS)
    tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
    classifier = LogisticRegression(C=10.0, max_iter=2000).fit(tfidf.transform(counts), labels)
    module = TermLogistic(
        torch.from_numpy(tfidf.idf_[None, :]),
        torch.from_numpy(classifier.coef_),
        torch.from_numpy(classifier.intercept_),
    )
    expected = classifier.decision_function(tfidf.transform(bag_of_ids(test, BUCKETS)))
    with torch.no_grad():
        got = module(torch.from_numpy(test))[:, 0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_term_logistic_module_matches_scikit_learn_per_head_log_count_ratios() -> None:
    """Two heads with their own NBSVM weights: each head's features are normalised apart."""
    train, test = distinct_ids(300, 12, seed=3), distinct_ids(50, 12, seed=4)
    labels = np.stack([np.isin(train, [3, 5]).any(axis=1), np.isin(train, [8, 9]).any(axis=1)], axis=1)
    labels = labels.astype(np.float32)
    train_presence, test_presence = presence(train, BUCKETS), presence(test, BUCKETS)
    ratios = log_count_ratios(train_presence, labels)
    assert ratios.shape == (2, BUCKETS)
    # each head weighs its own evidence
    assert ratios[0, 3] > max(0.0, ratios[1, 3]) and ratios[1, 8] > max(0.0, ratios[0, 8])

    def features(x: object, head: int) -> object:
        return normalize(x.multiply(ratios[head]).tocsr())

    classifiers = [
        LogisticRegression(C=30.0, max_iter=2000).fit(features(train_presence, h), labels[:, h])
        for h in (0, 1)
    ]
    module = TermLogistic(
        torch.from_numpy(ratios),
        torch.from_numpy(np.concatenate([c.coef_ for c in classifiers])),
        torch.from_numpy(np.concatenate([c.intercept_ for c in classifiers])),
    )
    with torch.no_grad():
        got = module(torch.from_numpy(test)).numpy()
    for h, classifier in enumerate(classifiers):
        expected = classifier.decision_function(features(test_presence, h))
        np.testing.assert_allclose(got[:, h], expected, rtol=1e-4, atol=1e-4)


def test_stack_scripts_and_weighs_its_halves() -> None:
    network = HashedNgramClassifier(BUCKETS, embedding_dim=4, hidden_dim=8, heads=1, dropout=0.0)
    linear = TermLogistic(torch.ones(1, BUCKETS), torch.full((1, BUCKETS), 0.5), torch.zeros(1))
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
