"""``rollouts.json``: each model's traffic split, kept across gateway restarts.

Locally (``<state_dir>/serving/rollouts.json``) the gateway is the only writer: it applies
changes from its admin API, then writes the file atomically; the CLI reads it through the
admin API. On Kubernetes the same document is the ``<release>-rollouts`` ConfigMap: ``yard
rollout --target k8s`` applies changes with ``apply_spec`` exactly as the gateway does, and
the gateways only read it. An entry remembers the configured
stable upstream it replaced (``base``): after a fresh ``yard serve`` the routes change and a
stale entry is dropped instead of sending traffic to ports that now belong to nobody.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modelyard.endpoints import BaseUrl, VersionLabel
from modelyard.errors import DataError
from modelyard.fsutil import write_json_atomically

SCHEMA_VERSION = 1
ROLLOUTS_FILE = "rollouts.json"

Mode = Literal["canary", "shadow"]
Phase = Literal["running", "promoted", "rolled_back"]
MAX_REASON_CHARS = 500
Reason = Annotated[str, Field(max_length=MAX_REASON_CHARS, pattern=r"^[^\x00-\x1f\x7f]*$")]
"""One line of plain text: it is logged, printed by the CLI and kept in the history."""


class Variant(BaseModel):
    """One deployed version behind the gateway: a transformer's base URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: VersionLabel
    url: BaseUrl


class RolloutSpec(BaseModel):
    """What an operator asks for (the body of ``PUT /admin/rollouts/{model}``)."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "canary"
    canary: Variant | None = None
    """The candidate; None ends the experiment (all traffic on ``stable``)."""
    percent: int = Field(0, ge=0, le=100)
    """Canary: share of routing keys sent to the candidate. Shadow: share of requests mirrored."""
    stable: Variant | None = None
    """None: keep the current stable (the configured route when no rollout exists yet)."""
    previous: Variant | None = None
    """The stable before a promote, kept routable so a rollback is instant."""
    phase: Phase = "running"
    reason: Reason | None = None
    """Why the last change happened (an automated rollback says which check failed)."""

    @model_validator(mode="after")
    def _percent_needs_canary(self) -> RolloutSpec:
        if self.canary is None and self.percent:
            raise ValueError("percent > 0 needs a canary")
        return self


class HistoryEntry(BaseModel):
    at: float
    phase: Phase
    mode: Mode
    percent: int
    canary: VersionLabel | None
    stable: VersionLabel
    reason: Reason | None = None


class Rollout(BaseModel):
    """The split the gateway applies to one model."""

    model: str
    mode: Mode
    stable: Variant
    canary: Variant | None
    percent: int = Field(ge=0, le=100)
    previous: Variant | None = None
    phase: Phase
    reason: Reason | None = None
    base: Variant
    """The configured stable upstream this rollout took over from."""
    updated_at: float
    history: list[HistoryEntry] = []

    def with_spec(self, spec: RolloutSpec) -> Rollout:
        """This rollout after applying ``spec`` (history appended)."""
        return build_rollout(self.model, spec, self.base, self.stable, self.history)


HISTORY_LIMIT = 50


def build_rollout(
    model: str, spec: RolloutSpec, base: Variant, current_stable: Variant, history: list[HistoryEntry]
) -> Rollout:
    stable = spec.stable or current_stable
    if spec.canary is not None and spec.canary.version == stable.version:
        raise ValueError(f"canary and stable are both version {stable.version}")
    now = time.time()
    entry = HistoryEntry(
        at=now,
        phase=spec.phase,
        mode=spec.mode,
        percent=spec.percent,
        canary=spec.canary.version if spec.canary else None,
        stable=stable.version,
        reason=spec.reason,
    )
    return Rollout(
        model=model,
        mode=spec.mode,
        stable=stable,
        canary=spec.canary,
        percent=spec.percent,
        previous=spec.previous,
        phase=spec.phase,
        reason=spec.reason,
        base=base,
        updated_at=now,
        history=[*history, entry][-HISTORY_LIMIT:],
    )


def apply_spec(model: str, current: Rollout | None, spec: RolloutSpec, configured: Variant) -> Rollout:
    """The rollout after ``spec``: ``current`` updated, or a new one over the configured stable.

    ValueError (or ValidationError) when the spec contradicts itself or the current split.
    """
    if current is not None:
        return current.with_spec(spec)
    return build_rollout(model, spec, configured, configured, history=[])


class RolloutsFile(BaseModel):
    schema_version: int = SCHEMA_VERSION
    rollouts: dict[str, Rollout] = {}


def dump_rollouts(rollouts: dict[str, Rollout]) -> str:
    return RolloutsFile(rollouts=rollouts).model_dump_json(indent=2)


def parse_rollouts(text: str, source: str) -> dict[str, Rollout]:
    """The rollouts in a document ({} when empty); a corrupt one is a DataError naming ``source``."""
    if not text.strip():
        return {}
    try:
        return RolloutsFile.model_validate_json(text).rollouts
    except ValidationError as exc:
        raise DataError(
            f"{source} is not a rollouts file of this modelyard version ({exc.error_count()} errors)",
            hint=f"delete {source}: every model then serves its configured stable version",
        ) from exc


def write_rollouts(path: Path, rollouts: dict[str, Rollout]) -> None:
    write_json_atomically(path, dump_rollouts(rollouts))


def read_rollouts(path: Path) -> dict[str, Rollout]:
    """The saved rollouts ({} when there is no file); a corrupt file is a DataError naming it."""
    if not path.is_file():
        return {}
    return parse_rollouts(path.read_text(), str(path))
