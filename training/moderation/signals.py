"""moderation's drift signals: what a normalised text looks like, and what the model said of it.

The same functions read the validation split at training time (the reference profile) and the
logged payload rows (``text``, ``scores``, ``decision``) when monitoring, so both sides are measured
alike. A new spam campaign shows as words the training vocabulary lacks, other lengths, links,
scripts or numbers, and as moved scores and decisions.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from training.moderation.preprocess import NUMBER_TOKEN, URL_TOKEN
from training.profile import Signals

VOCABULARY_WORDS = 20_000
"""Words kept in the profile, most widespread first; a word outside them is "unseen"."""
MIN_TEXTS = 2
"""A word counts as known when at least this many training texts use it: a word only one text
uses is that text's own, so a training text and a new one show the same share of unseen words."""
DECISIONS = ("allow", "review", "block")
_WORD = re.compile(r"\w+")
_URL_WORD, _NUMBER_WORD = URL_TOKEN.strip(), NUMBER_TOKEN.strip()


def vocabulary_context(train_texts: list[str]) -> dict[str, Any]:
    """What ``signals`` needs besides the rows: the words at least ``MIN_TEXTS`` training texts
    use (at most ``VOCABULARY_WORDS``, the most widespread)."""
    texts_using = Counter(word for text in train_texts for word in set(_WORD.findall(text)))
    common = [(word, n) for word, n in texts_using.most_common(VOCABULARY_WORDS) if n >= MIN_TEXTS]
    return {"vocabulary": [word for word, _ in common]}


def text_features(texts: list[str], vocabulary: frozenset[str]) -> dict[str, np.ndarray]:
    """Per normalised text: its length in words and characters, and the shares of its words that
    the training vocabulary lacks, that are numbers, and of its characters outside ASCII."""
    rows = [_text_row(text, vocabulary) for text in texts]
    names = ("words", "chars", "unseen_word_share", "number_share", "urls", "non_ascii_share")
    table = np.asarray(rows, dtype=np.float64).reshape(len(texts), len(names))
    return {name: table[:, column] for column, name in enumerate(names)}


def _text_row(text: str, vocabulary: frozenset[str]) -> tuple[float, ...]:
    words = text.split()
    tokens = _WORD.findall(text)
    unseen = sum(token not in vocabulary for token in tokens) / len(tokens) if tokens else 0.0
    numbers = sum(word == _NUMBER_WORD for word in words) / len(words) if words else 0.0
    non_ascii = sum(not char.isascii() for char in text) / len(text) if text else 0.0
    urls = sum(word == _URL_WORD for word in words)
    return (len(words), len(text), unseen, numbers, urls, non_ascii)


def signals(
    texts: list[str], scores: np.ndarray, decisions: np.ndarray, heads: list[str], context: dict[str, Any]
) -> Signals:
    """Signals of N rows: normalised texts, scores [N, heads] and the allow/review/block decisions."""
    scores = np.asarray(scores, dtype=np.float64).reshape(len(texts), len(heads))
    return Signals(
        features=text_features(texts, frozenset(context["vocabulary"])),
        prediction={f"{head}_score": scores[:, h] for h, head in enumerate(heads)},
        categories={"decision": np.asarray(decisions, dtype=str)},
    )


def decide(
    scores: np.ndarray, words: np.ndarray, thresholds: dict[str, dict[str, Any]], heads: list[str]
) -> np.ndarray:
    """allow / review / block per row, as serving decides (the strictest head wins; a text under
    ``short_words`` words is never blocked and is reviewed at ``short_review``): the reference
    decisions of the validation split."""
    scores = np.asarray(scores, dtype=np.float64).reshape(len(words), len(heads))
    blocked = np.zeros(len(words), dtype=bool)
    reviewed = np.zeros(len(words), dtype=bool)
    for h, head in enumerate(heads):
        limits = thresholds[head]
        short_review = limits.get("short_review")
        short = (words < int(limits.get("short_words", 0))) & (short_review is not None)
        review = np.where(short, float(short_review or 0.0), float(limits["review"]))
        block = np.inf if limits["block"] is None else float(limits["block"])
        blocked |= ~short & (scores[:, h] >= block)
        reviewed |= scores[:, h] >= review
    return np.where(blocked, "block", np.where(reviewed, "review", "allow"))
