"""Plain, frozen views of registry objects, so callers never handle MLflow entities."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ResolvedVersion:
    """One model version with everything needed to serve or audit it."""

    name: str
    version: int
    run_id: str
    source: str
    """Artifact URI of the version's files (what ``download`` fetches)."""
    aliases: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    """Latest value of each metric of the producing run."""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        """The MLflow ``models:/`` URI pinned to this exact version."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class ModelSummary:
    """One registered model at a glance: its versions, aliases and their metrics."""

    name: str
    latest_version: int
    version_count: int
    aliases: dict[str, int]
    metrics: dict[str, dict[str, float]]
    """Run metrics of each aliased version, keyed by alias."""
    headline_metric: str | None
    """The metric the model was last gated on (None: never gated)."""


@dataclass(frozen=True)
class AliasMove:
    """Result of ``promote`` or ``rollback``: the lifecycle aliases before and after."""

    name: str
    action: str
    before: dict[str, int]
    after: dict[str, int]

    @property
    def champion(self) -> int:
        return self.after["champion"]
