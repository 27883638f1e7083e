"""The search filter DSL: a small dict, validated here once and turned into engine-neutral
conditions, so a bad filter is a 4xx before any engine sees it.

``{"label": 3}`` matches a value, ``{"label": [1, 2]}`` matches any of the values,
``{"year": {"gte": 1990, "lt": 2000}}`` is a range; all keys must hold (AND).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

from embeddings.errors import FilterError

RANGE_BOUNDS = ("gte", "gt", "lte", "lt")
_HINT = 'write {"field": value}, {"field": [v1, v2]} or {"field": {"gte": lo, "lt": hi}}'


@dataclass(frozen=True)
class Match:
    """The field equals ``value`` (a keyword, an integer or a boolean)."""

    key: str
    value: str | int | bool


@dataclass(frozen=True)
class MatchAny:
    """The field equals one of ``values`` (all strings or all integers)."""

    key: str
    values: tuple[str, ...] | tuple[int, ...]


@dataclass(frozen=True)
class Range:
    """The field lies within the given bounds (None: unbounded on that side)."""

    key: str
    gte: float | None = None
    gt: float | None = None
    lte: float | None = None
    lt: float | None = None


Condition = Match | MatchAny | Range


def parse_filter(spec: Mapping[str, Any] | None) -> tuple[Condition, ...]:
    """Validate ``spec`` and return its conditions (empty for no filter)."""
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        raise FilterError(f"a filter must be an object, got {type(spec).__name__}", hint=_HINT)
    return tuple(_condition(key, value) for key, value in spec.items())


def _condition(key: Any, value: Any) -> Condition:
    if not isinstance(key, str) or not key:
        raise FilterError(f"filter field names must be non-empty strings, got {key!r}", hint=_HINT)
    if isinstance(value, bool | int | str):
        return Match(key, value)
    if isinstance(value, list | tuple):
        return MatchAny(key, _match_values(key, value))
    if isinstance(value, Mapping):
        return _range(key, value)
    raise FilterError(f"filter on {key!r}: unsupported value {value!r} ({type(value).__name__})", hint=_HINT)


def _match_values(key: str, values: list | tuple) -> tuple[str, ...] | tuple[int, ...]:
    if not values:
        raise FilterError(f"filter on {key!r}: the list of values is empty", hint="give at least one value")
    if all(isinstance(v, str) for v in values):
        return tuple(values)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return tuple(values)
    raise FilterError(
        f"filter on {key!r}: a list must hold only strings or only integers, got {list(values)!r}",
        hint="match floats with a range instead",
    )


def _range(key: str, bounds: Mapping[str, Any]) -> Range:
    unknown = set(bounds) - set(RANGE_BOUNDS)
    if unknown or not bounds:
        raise FilterError(
            f"filter on {key!r}: a range takes {', '.join(RANGE_BOUNDS)}, got {sorted(map(str, bounds))}",
            hint=_HINT,
        )
    for name, bound in bounds.items():
        if isinstance(bound, bool) or not isinstance(bound, Real) or bound != bound:
            raise FilterError(f"filter on {key!r}: bound {name}={bound!r} is not a number", hint=_HINT)
        if abs(float(min(max(bound, -1e308), 1e308))) >= 1e308:  # ints past float range
            raise FilterError(f"filter on {key!r}: bound {name} is out of range", hint=_HINT)
    if "gte" in bounds and "gt" in bounds or "lte" in bounds and "lt" in bounds:
        raise FilterError(f"filter on {key!r}: give one lower and one upper bound at most", hint=_HINT)
    lower = bounds.get("gte", bounds.get("gt"))
    upper = bounds.get("lte", bounds.get("lt"))
    if lower is not None and upper is not None and lower > upper:
        raise FilterError(f"filter on {key!r}: lower bound {lower} is above upper bound {upper}", hint=_HINT)
    return Range(key, **{name: float(bound) for name, bound in bounds.items()})
