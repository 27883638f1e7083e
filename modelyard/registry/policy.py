"""Pure registry rules: which alias a candidate earns, how aliases move, what a ref means.

Kept free of MLflow so every rule is unit-tested in milliseconds; ``registry.py`` only
reads the facts (metrics, current aliases) and applies what these functions decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from modelyard.errors import NotFoundError, UsageError

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"
VALID_ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)

GateAlias = Literal["champion", "challenger"]


@dataclass(frozen=True)
class GateDecision:
    """Outcome of gating one candidate: the alias it earns (None: rejected) and why."""

    alias: GateAlias | None
    reason: str
    candidate: float
    champion: float | None

    @property
    def accepted(self) -> bool:
        return self.alias is not None


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a model name plus exactly one of version or alias."""

    name: str
    version: int | None = None
    alias: str | None = None


def validate_alias(alias: str) -> str:
    """Only the three lifecycle aliases exist, so a typo cannot create a fourth."""
    if alias not in VALID_ALIASES:
        raise UsageError(f"unknown alias {alias!r}", hint=f"use one of: {', '.join(VALID_ALIASES)}")
    return alias


def parse_ref(ref: str) -> ModelRef:
    """Parse ``name@alias``, ``name/3``, ``name`` (its champion); a ``models:/`` prefix is allowed."""
    text = ref.strip().removeprefix("models:/")
    if "@" in text:
        name, alias = text.rsplit("@", 1)
        ref_parsed = ModelRef(name=name, alias=validate_alias(alias))
    elif "/" in text and text.rsplit("/", 1)[1].isdigit():
        name, version = text.rsplit("/", 1)
        ref_parsed = ModelRef(name=name, version=int(version))
    else:
        ref_parsed = ModelRef(name=text, alias=CHAMPION)
    if not ref_parsed.name:
        raise UsageError(f"bad model reference {ref!r}", hint="write NAME, NAME@ALIAS or NAME/VERSION")
    return ref_parsed


def decide_promotion(
    candidate: float, champion: float | None, higher_is_better: bool, tolerance: float = 0.0
) -> GateDecision:
    """Decide the alias a candidate earns from its metric and the champion's.

    No champion: the candidate becomes champion. Otherwise it becomes challenger when it is
    not worse than the champion by more than ``tolerance`` (ties pass); promotion to
    champion stays an explicit, separate step. A NaN candidate is always rejected; a NaN
    champion cannot be beaten or matched meaningfully, so any real candidate challenges it.
    """
    if tolerance < 0 or math.isnan(tolerance):
        raise UsageError(f"tolerance must be >= 0, got {tolerance}", hint="pass a non-negative tolerance")

    def decision(alias: GateAlias | None, reason: str) -> GateDecision:
        return GateDecision(alias=alias, reason=reason, candidate=candidate, champion=champion)

    if math.isnan(candidate):
        return decision(None, "candidate metric is NaN")
    if champion is None:
        return decision(CHAMPION, "no champion yet")
    if math.isnan(champion):
        return decision(CHALLENGER, "champion metric is NaN")
    if candidate == champion:
        return decision(CHALLENGER, f"ties champion ({candidate:g})")
    gain = candidate - champion if higher_is_better else champion - candidate
    direction = "higher" if higher_is_better else "lower"
    if gain >= -tolerance:
        return decision(
            CHALLENGER,
            f"{candidate:g} vs champion {champion:g} ({direction} is better, tolerance {tolerance:g})",
        )
    return decision(
        None,
        f"{candidate:g} is worse than champion {champion:g} by {-gain:g} "
        f"(> tolerance {tolerance:g}, {direction} is better)",
    )


def decide_on_windows(
    held_out: GateDecision,
    windows: dict[str, tuple[float, float]],
    higher_is_better: bool,
    tolerance: float = 0.0,
) -> GateDecision:
    """``held_out`` (``decide_promotion`` on the shared test set), also judged on extra windows:
    ``name -> (candidate, champion)`` measured on the same rows, e.g. the recent labelled
    feedback. A challenger that is worse on any window by more than ``tolerance`` is rejected:
    a model that learns the new traffic must not get worse at it than what is serving it."""
    if held_out.alias != CHALLENGER:
        return held_out  # rejected already, or no champion to compare with
    reasons = [held_out.reason]
    for name, (candidate, champion) in windows.items():
        verdict = decide_promotion(candidate, champion, higher_is_better, tolerance)
        if not verdict.accepted:
            return replace(held_out, alias=None, reason=f"{name} window: {verdict.reason}")
        reasons.append(f"{name} window: {verdict.reason}")
    return replace(held_out, reason="; ".join(reasons))


def plan_promotion(aliases: dict[str, int]) -> dict[str, int]:
    """Aliases after promoting: challenger -> champion, old champion -> previous.

    The challenger alias is consumed; an old previous is dropped (one step of history).
    """
    if CHALLENGER not in aliases:
        raise NotFoundError("no challenger to promote", hint="gate a new version: it earns 'challenger'")
    planned = {alias: version for alias, version in aliases.items() if alias not in VALID_ALIASES}
    planned[CHAMPION] = aliases[CHALLENGER]
    if CHAMPION in aliases and aliases[CHAMPION] != aliases[CHALLENGER]:
        planned[PREVIOUS] = aliases[CHAMPION]
    elif PREVIOUS in aliases and aliases[PREVIOUS] != aliases[CHALLENGER]:
        planned[PREVIOUS] = aliases[PREVIOUS]
    return planned


def plan_rollback(aliases: dict[str, int]) -> dict[str, int]:
    """Aliases after rolling back: previous -> champion; the demoted champion loses its alias.

    The demoted version is not made challenger, so a later ``promote`` cannot bring the
    bad model back by accident. A challenger other than the demoted version is kept.
    """
    if PREVIOUS not in aliases:
        raise NotFoundError("no previous champion to roll back to", hint="rollback needs an earlier promote")
    demoted = aliases.get(CHAMPION)
    planned = {alias: version for alias, version in aliases.items() if alias not in VALID_ALIASES}
    planned[CHAMPION] = aliases[PREVIOUS]
    challenger = aliases.get(CHALLENGER)
    if challenger is not None and challenger not in (demoted, aliases[PREVIOUS]):
        planned[CHALLENGER] = challenger
    return planned
