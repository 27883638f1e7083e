"""The requests ``yard simulate`` sends: in-distribution traffic, then one kind of drift.

moderation ``campaign``: held-out corpus emails, then a spam campaign in a style the corpus lacks
(``loop.campaign``); every message carries the label a moderator would give it.
visual-search ``invert`` / ``rotate``: Fashion-MNIST test images (never trained on), then the same
kind of images inverted (a negative: dark garments on white) or turned a quarter (a camera held
sideways). Nobody labels search results, so these carry no label.
ranking ``popularity``: validation users asked as the reference profile asks them, then a wave of
long-tail users (``loop.clicks``); every answer earns simulated clicks on the items it shows.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from loop.campaign import Message, campaign
from loop.clicks import Reaction, clicks, movielens_view
from modelyard.data import load
from modelyard.settings import Settings
from training.moderation.task import held_out_emails

SEARCH_K = 5
"""Neighbours a simulated visual-search query asks for."""


@dataclass(frozen=True)
class Request:
    body: dict[str, Any]
    """One ``:predict`` body."""
    react: Reaction | None = None
    """What the asker says back about the answer (moderation: a moderator's label; ranking: a
    click or not per shown item); None: nobody answers back (visual-search)."""


def labelled(label: int) -> Reaction:
    """A moderator's verdict on a text (1 = harmful), whatever the model answered."""
    return lambda answer, rng: [{"label": label}]


@dataclass(frozen=True)
class Traffic:
    in_distribution: list[Request]
    shifted: list[Request]


Scenario = Callable[[Settings, int, bool, int], Traffic]
"""(settings, requests per window, smoke, seed) -> the traffic of one simulation."""


def moderation_campaign(settings: Settings, count: int, smoke: bool, seed: int) -> Traffic:
    emails, labels = held_out_emails(settings, smoke)
    picks = random.Random(seed).sample(range(len(emails)), min(count, len(emails)))
    in_distribution = [_text(Message(emails[i], int(labels[i]))) for i in picks]
    return Traffic(in_distribution, [_text(message) for message in campaign(count, seed=seed)])


def invert(images: np.ndarray) -> np.ndarray:
    """A photographic negative of uint8 images."""
    return 255 - images


def rotate(images: np.ndarray) -> np.ndarray:
    """Each image turned a quarter counter-clockwise."""
    return np.rot90(images, axes=(1, 2))


def image_drift(shift: Callable[[np.ndarray], np.ndarray]) -> Scenario:
    def scenario(settings: Settings, count: int, smoke: bool, seed: int) -> Traffic:
        images = load("fashion-mnist", settings).test_images
        order = np.random.default_rng(seed).permutation(len(images))
        usual, later = images[order[:count]], images[order[count : 2 * count]]
        return Traffic([_pixels(image) for image in usual], [_pixels(image) for image in shift(later)])

    return scenario


def ranking_popularity(settings: Settings, count: int, smoke: bool, seed: int) -> Traffic:
    view = movielens_view(settings, smoke)
    rng = random.Random(seed)
    usual = rng.sample(sorted(view.moments), min(count, len(view.moments)))
    wave = rng.choices(view.long_tail_users, k=count)
    return Traffic(
        [_user(view.moments, user, clicks(user, view.liked.get(user, frozenset()))) for user in usual],
        [
            _user(view.moments, user, clicks(user, view.liked.get(user, frozenset()), view.long_tail_items))
            for user in wave
        ],
    )


def _user(moments: dict[int, int], user: int, react: Reaction) -> Request:
    return Request({"user_id": user, "context": {"timestamp": moments[user]}}, react=react)


def _text(message: Message) -> Request:
    return Request({"instances": [{"text": message.text}]}, labelled(message.label))


def _pixels(image: np.ndarray) -> Request:
    return Request({"instances": [{"pixels": image.astype(np.int64).tolist()}], "k": SEARCH_K})


SCENARIOS: dict[str, dict[str, Scenario]] = {
    "moderation": {"campaign": moderation_campaign},
    "visual-search": {"invert": image_drift(invert), "rotate": image_drift(rotate)},
    "ranking": {"popularity": ranking_popularity},
}
