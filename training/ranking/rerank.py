"""Final ordering of scored candidates: dedupe, drop what the user has seen, keep genres varied.
The serving transformer answers with it and the reference profile (``reference``) applies it too.

Diversity is a cap, not a re-scoring: walking the candidates best first, an item whose primary
genre already fills ``max_per_genre`` slots waits; waiting items fill any slots left at the end,
so the answer is always ``n`` long when there are ``n`` candidates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

MAX_PER_GENRE = 3


@dataclass(frozen=True)
class Scored:
    item_id: int
    score: float
    genres: tuple[str, ...]

    @property
    def primary_genre(self) -> str:
        return self.genres[0] if self.genres else ""


def rerank(
    candidates: Sequence[Scored], n: int, seen: Collection[int] = (), max_per_genre: int = MAX_PER_GENRE
) -> list[Scored]:
    best_first = sorted(candidates, key=lambda item: (-item.score, item.item_id))
    fresh: list[Scored] = []
    taken: set[int] = set()
    for item in best_first:  # the best-scored copy of a duplicate wins
        if item.item_id not in taken and item.item_id not in seen:
            taken.add(item.item_id)
            fresh.append(item)
    chosen: list[Scored] = []
    waiting: list[Scored] = []
    per_genre: Counter[str] = Counter()
    for item in fresh:
        if len(chosen) == n:
            break
        if per_genre[item.primary_genre] < max_per_genre:
            chosen.append(item)
            per_genre[item.primary_genre] += 1
        else:
            waiting.append(item)
    chosen += waiting[: n - len(chosen)]
    return chosen
