"""ranking's simulated traffic: who asks for recommendations, and what they click.

Both windows ask as the reference profile does (``training.ranking.reference``): one query per
user, ``{"user_id", "context": {"timestamp"}}``, at that user's first validation timestamp in the
version's own split of MovieLens (``training.ranking.task``: every 5th rating when smoke-trained,
each user's ratings time-ordered 80/10/10), default ``n``.

in-distribution: validation users drawn without replacement, as the profile takes them.
popularity: a wave of long-tail users: the quarter of validation users whose training ratings
went to the least popular items (mean log training clicks per rated item, the measure of the
``mean_item_popularity`` signal), drawn with replacement.

Clicks: a shown item is clicked when the user rated it >= 4 anywhere in MovieLens (serving never
shows a user an item of their training log, so such a rating is one the version never saw: the
4/5 the smoke split left out), otherwise at ``BASE_CLICK_RATE``; a long-tail user also clicks
an unrated long-tail item (outside the head that holds half the training clicks) at
``LONG_TAIL_CLICK_RATE``.
Every shown item gets one feedback body, clicked or not.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelyard.data import load
from modelyard.settings import Settings
from training.ranking.history import CLICK_RATING
from training.ranking.task import SMOKE_EVERY, time_ordered_split

BASE_CLICK_RATE = 0.03
"""Chance a user clicks a shown item they never rated highly."""
LONG_TAIL_CLICK_RATE = 0.3
"""Chance a long-tail user clicks a shown long-tail item they never rated."""
HEAD_CLICK_SHARE = 0.5
"""The popular head: the most clicked items that together hold this share of training clicks."""
LONG_TAIL_SHARE = 0.25
"""Share of validation users, least popular tastes first, who make up the long-tail wave."""

Reaction = Callable[[Any, random.Random], list[dict[str, Any]]]
"""(the answer's first prediction, a seeded rng) -> its feedback bodies, without the request id."""


@dataclass(frozen=True)
class MovieLensView:
    """MovieLens as the version trained on it split it, plus every rating it was never shown."""

    moments: dict[int, int]
    """Validation user -> their first validation timestamp (where the profile asks)."""
    liked: dict[int, frozenset[int]]
    """User -> every item they rated >= ``CLICK_RATING`` in the whole data set."""
    long_tail_items: frozenset[int]
    """Items outside the head: the most clicked items that hold ``HEAD_CLICK_SHARE`` of the
    training clicks."""
    long_tail_users: list[int]
    """The ``LONG_TAIL_SHARE`` of validation users with the least popular training ratings."""


def movielens_view(settings: Settings, smoke: bool) -> MovieLensView:
    return view_of(load("movielens-100k", settings).interactions, smoke)


def view_of(ratings: pd.DataFrame, smoke: bool) -> MovieLensView:
    """``ratings``: ``user_id``, ``item_id``, ``rating``, ``timestamp``, as the loader gives them."""
    ordered = ratings.sort_values(["timestamp", "user_id", "item_id"], kind="stable")
    parts = time_ordered_split((ordered.iloc[::SMOKE_EVERY] if smoke else ordered).reset_index(drop=True))
    train, val = parts["train"], parts["val"]
    moments = val.groupby("user_id")["timestamp"].min()
    item_clicks = train.loc[train["rating"] >= CLICK_RATING, "item_id"].value_counts()
    head = item_clicks.index[item_clicks.cumsum() <= HEAD_CLICK_SHARE * item_clicks.sum()]
    taste = train.assign(popularity=np.log1p(train["item_id"].map(item_clicks).fillna(0)))
    taste = taste.groupby("user_id")["popularity"].mean().reindex(moments.index).dropna()
    wave = taste.sort_values(kind="stable").index[: max(1, round(LONG_TAIL_SHARE * len(taste)))]
    liked = ratings[ratings["rating"] >= CLICK_RATING].groupby("user_id")["item_id"]
    return MovieLensView(
        moments={int(u): int(t) for u, t in moments.items()},
        liked={int(u): frozenset(int(i) for i in items) for u, items in liked},
        long_tail_items=frozenset(int(i) for i in ratings["item_id"].unique()) - {int(i) for i in head},
        long_tail_users=sorted(int(u) for u in wave),
    )


def clicks(user: int, liked: frozenset[int], long_tail: frozenset[int] = frozenset()) -> Reaction:
    """``user``, who clicks what they ``liked``, long-tail items at ``LONG_TAIL_CLICK_RATE`` when
    ``long_tail`` is given, anything else at ``BASE_CLICK_RATE``."""

    def react(answer: Any, rng: random.Random) -> list[dict[str, Any]]:
        bodies = []
        for shown in answer["items"]:
            item = int(shown["item_id"])
            rate = LONG_TAIL_CLICK_RATE if item in long_tail else BASE_CLICK_RATE
            bodies.append({"user": user, "item": item, "clicked": item in liked or rng.random() < rate})
        return bodies

    return react
