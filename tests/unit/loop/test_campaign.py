"""The generated spam campaign: reproducible, varied, labelled, and in a style of its own."""

from __future__ import annotations

import pytest

from loop.campaign import campaign
from training.moderation.preprocess import normalize_email


def test_same_seed_same_lines_other_seed_other_lines() -> None:
    assert campaign(50, seed=3) == campaign(50, seed=3)
    assert campaign(50, seed=3) != campaign(50, seed=4)


def test_share_of_spam_and_labels() -> None:
    messages = campaign(200, spam_share=0.7, seed=1)
    assert len(messages) == 200
    assert sum(m.label for m in messages) == 140
    assert {m.label for m in messages[:40]} == {0, 1}  # shuffled, not spam first


def test_lines_vary_and_every_slot_is_filled() -> None:
    messages = campaign(300, seed=2)
    texts = [m.text for m in messages if m.label == 1]
    assert len(set(texts)) / len(texts) > 0.95
    assert not any("{" in m.text or "}" in m.text for m in messages)


def test_messages_are_chat_length_after_serving_normalisation() -> None:
    """One-liners, unlike the corpus's emails: serving judges them by the short-text rule."""
    words = [len(normalize_email(m.text).split()) for m in campaign(200, seed=5)]
    assert max(words) < 40 and sum(words) / len(words) < 25


def test_bad_share_is_refused() -> None:
    with pytest.raises(ValueError, match="spam_share"):
        campaign(10, spam_share=1.5)
