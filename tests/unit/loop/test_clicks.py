"""ranking's simulated traffic: which users ask when, who the long-tail wave is, what they click."""

from __future__ import annotations

import random

import pandas as pd

from loop.clicks import BASE_CLICK_RATE, LONG_TAIL_CLICK_RATE, clicks, view_of
from loop.simulate import FEEDBACK_KINDS, _feedback_kind
from loop.traffic import Request, _user, labelled

MAINSTREAM, NICHE = range(1, 7), (7, 8)


def ratings() -> pd.DataFrame:
    """Ten ratings of 5 per user, a user's k-th at ``100 * user + k``: mainstream users rate the
    same items 1-10, niche users items nobody else rates."""
    rows = [
        (user, k + 1 if user in MAINSTREAM else 10 * user + k, 5, 100 * user + k)
        for user in (*MAINSTREAM, *NICHE)
        for k in range(10)
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


class FixedDraw(random.Random):
    """A ``random.Random`` whose every draw is ``value`` (to pin a click decision)."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def test_users_are_asked_at_their_first_validation_moment_as_the_profile_asks() -> None:
    view = view_of(ratings(), smoke=False)
    assert view.moments == {user: 100 * user + 8 for user in (*MAINSTREAM, *NICHE)}  # 8 train, 1 val, 1 test


def test_the_long_tail_wave_is_the_quarter_with_the_least_popular_training_ratings() -> None:
    view = view_of(ratings(), smoke=False)
    assert view.long_tail_users == list(NICHE)
    niche_items = {10 * user + k for user in NICHE for k in range(10)}
    assert niche_items <= view.long_tail_items
    # training clicks: items 1-8 six each (48 of 64), niche items one each; half of 64 is 5 items
    assert len(set(ratings()["item_id"]) - view.long_tail_items) == 5


def test_liked_items_come_from_the_whole_data_set_even_when_smoke_training_kept_a_fifth() -> None:
    assert view_of(ratings(), smoke=True).liked == view_of(ratings(), smoke=False).liked
    assert view_of(ratings(), smoke=False).liked[7] == frozenset(range(70, 80))


def answer(*items: int) -> dict:
    return {"items": [{"item_id": item, "score": 0.5} for item in items], "cold_start": False}


def test_a_liked_item_is_always_clicked_and_any_other_at_the_base_rate() -> None:
    react = clicks(3, frozenset({11}))
    assert react(answer(11, 12), FixedDraw(0.99)) == [
        {"user": 3, "item": 11, "clicked": True},
        {"user": 3, "item": 12, "clicked": False},
    ]
    assert react(answer(12), FixedDraw(BASE_CLICK_RATE / 2))[0]["clicked"] is True


def test_a_long_tail_user_clicks_long_tail_items_more_often() -> None:
    react = clicks(7, frozenset(), long_tail=frozenset({70}))
    between = (BASE_CLICK_RATE + LONG_TAIL_CLICK_RATE) / 2
    assert [body["clicked"] for body in react(answer(70, 1), FixedDraw(between))] == [True, False]


def test_feedback_bodies_are_a_label_clicks_or_nothing_and_each_is_counted() -> None:
    assert Request({}, labelled(1)).react(answer(), FixedDraw(0.0)) == [{"label": 1}]
    assert Request({}).react is None
    request = _user({5: 508}, 5, clicks(5, frozenset({2})))
    assert request.body == {"user_id": 5, "context": {"timestamp": 508}}
    bodies = request.react(answer(2, 3), FixedDraw(0.99))
    assert [_feedback_kind(body) for body in bodies] == ["clicked", "skipped"]
    assert _feedback_kind({"label": 0}) == "labelled"
    assert set(FEEDBACK_KINDS) == {"labelled", "clicked", "skipped"}
