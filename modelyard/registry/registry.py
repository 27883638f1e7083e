"""The model registry: MLflow runs, versions and the champion/challenger/previous aliases.

Works the same on the embedded sqlite backend (no server) and against ``mlflow server``;
decisions come from ``policy`` (pure), this module only reads and writes MLflow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Run, RunTag
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from modelyard.errors import NotFoundError, UsageError
from modelyard.logs import event
from modelyard.registry import policy
from modelyard.registry.connection import mlflow_errors, prepare_backend
from modelyard.registry.lineage import lineage_tags
from modelyard.registry.policy import CHAMPION, GateDecision
from modelyard.registry.records import AliasMove, ModelSummary, ResolvedVersion
from modelyard.settings import Settings, get_settings

log = logging.getLogger(__name__)

GATE_TAG_PREFIX = "modelyard.gate."
GATE_METRIC_TAG = "modelyard.gate.metric"
GATE_DECISION_TAG = "modelyard.gate.decision"
GATE_REASON_TAG = "modelyard.gate.reason"
ROLLED_BACK_TAG = "modelyard.rolled_back"


class Registry:
    """Versions and aliases of the platform's models in MLflow (sqlite or server)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.uri = prepare_backend(self.settings)
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    # --- runs -----------------------------------------------------------------------

    def experiment(self, model: str) -> str:
        """Id of the experiment ``<prefix>/<model>``, created on first use.

        On the embedded backend its artifacts go under ``mlflow_artifact_root`` (not ./mlruns);
        a server chooses its own artifact store.
        """
        name = f"{self.settings.experiment_prefix}/{model}"
        with mlflow_errors(self.uri):
            found = self.client.get_experiment_by_name(name)
            if found is not None:
                return found.experiment_id
            location = None
            if self.settings.mlflow_is_embedded:
                location = (self.settings.mlflow_artifact_root / name).as_uri()
            try:
                return self.client.create_experiment(name, artifact_location=location)
            except MlflowException as exc:  # another process created it meanwhile
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                return self.client.get_experiment_by_name(name).experiment_id

    @contextmanager
    def start_run(
        self,
        model: str,
        run_name: str | None = None,
        params: dict | None = None,
        tags: dict | None = None,
        dataset_digest: str | None = None,
    ) -> Iterator[mlflow.ActiveRun]:
        """An active MLflow run carrying lineage tags; log metrics/artifacts inside with ``mlflow.*``."""
        experiment_id = self.experiment(model)
        mlflow.set_tracking_uri(self.uri)  # fluent API state is process-global; another Registry may move it
        all_tags = {**(tags or {}), **lineage_tags(model, dataset_digest)}
        with (
            mlflow_errors(self.uri),
            mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=all_tags) as run,
        ):
            if params:
                mlflow.log_params(params)
            event(log, "registry_run_started", model=model, run_id=run.info.run_id)
            yield run

    # --- versions -------------------------------------------------------------------

    def register(
        self,
        run_id: str,
        artifact_path: str,
        model: str,
        tags: dict | None = None,
        description: str | None = None,
    ) -> ResolvedVersion:
        """Register the run's artifact folder ``artifact_path`` as a new version of ``model``.

        The folder need not be an MLflow ``MLmodel``; the run's ``modelyard.*`` lineage tags are
        copied onto the version so it can be audited without opening the run.
        """
        with mlflow_errors(self.uri):
            run = self.client.get_run(run_id)
            if not self.client.list_artifacts(run_id, artifact_path):
                raise NotFoundError(
                    f"run {run_id} has no artifacts under {artifact_path!r}",
                    hint="log them first with mlflow.log_artifacts(local_dir, artifact_path)",
                )
            self._ensure_registered_model(model)
            lineage = {k: v for k, v in run.data.tags.items() if k.startswith("modelyard.")}
            created = self.client.create_model_version(
                name=model,
                source=f"{run.info.artifact_uri.rstrip('/')}/{artifact_path.strip('/')}",
                run_id=run_id,
                tags={**lineage, **(tags or {})},
                description=description,
            )
        event(log, "registry_version_registered", model=model, version=created.version, run_id=run_id)
        return self._resolved(created, aliases=[], run=run)

    def _ensure_registered_model(self, model: str) -> None:
        try:
            self.client.create_registered_model(model)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def resolve(self, ref: str) -> ResolvedVersion:
        """The version behind ``name@alias``, ``name/3`` or ``name`` (its champion)."""
        parsed = policy.parse_ref(ref)
        aliases = self._aliases(parsed.name)
        version = aliases.get(parsed.alias) if parsed.alias else parsed.version
        if version is None:
            raise NotFoundError(f"{parsed.name} has no {parsed.alias!r} alias", hint=self._hint(parsed.name))
        return self._version(parsed.name, version, aliases)

    def versions(self, model: str) -> list[ResolvedVersion]:
        """Every version of ``model``, oldest first, with its aliases and run metrics."""
        aliases = self._aliases(model)
        found = sorted(self._search_versions(model), key=lambda mv: int(mv.version))
        return [self._resolved(mv, _aliases_of(aliases, int(mv.version))) for mv in found]

    def download(self, ref: str, dst: Path) -> Path:
        """Copy a version's files into ``dst`` and return the local folder that holds them."""
        resolved = self.resolve(ref)
        dst.mkdir(parents=True, exist_ok=True)
        with mlflow_errors(self.uri):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=resolved.source, dst_path=str(dst), tracking_uri=self.uri
            )
        return Path(local)

    def download_file(self, ref: str, path: str, dst: Path) -> Path | None:
        """One file of a version (``path`` inside its folder) into ``dst``; None: it has no such file."""
        resolved = self.resolve(ref)
        dst.mkdir(parents=True, exist_ok=True)
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{resolved.source.rstrip('/')}/{path}", dst_path=str(dst), tracking_uri=self.uri
            )
        except (MlflowException, OSError):
            return None
        return Path(local)

    def tag_version(self, model: str, version: int, key: str, value: str) -> None:
        """Set one tag on a version (e.g. where it was published)."""
        with mlflow_errors(self.uri):
            self.client.set_model_version_tag(model, str(version), key, value)

    # --- aliases --------------------------------------------------------------------

    def set_alias(self, model: str, alias: str, version: int) -> None:
        """Point ``alias`` (champion/challenger/previous) at an existing version."""
        policy.validate_alias(alias)
        self._version(model, version, self._aliases(model))  # raises NotFoundError with a hint
        self._point_alias(model, alias, version)

    def _point_alias(self, model: str, alias: str, version: int) -> None:
        with mlflow_errors(self.uri):
            self.client.set_registered_model_alias(model, alias, str(version))
        event(log, "registry_alias_set", model=model, alias=alias, version=version)

    def delete_alias(self, model: str, alias: str) -> None:
        """Remove ``alias`` from ``model``; an alias that is not set is an error."""
        policy.validate_alias(alias)
        if alias not in self._aliases(model):
            raise NotFoundError(f"{model} has no {alias!r} alias", hint=self._hint(model))
        with mlflow_errors(self.uri):
            self.client.delete_registered_model_alias(model, alias)
        event(log, "registry_alias_deleted", model=model, alias=alias)

    def gate(
        self,
        model: str,
        version: int,
        metric: str,
        higher_is_better: bool,
        tolerance: float = 0.0,
        windows: dict[str, tuple[float, float]] | None = None,
    ) -> GateDecision:
        """Give ``version`` the alias its ``metric`` earns against the champion, and on each of
        ``windows`` (``policy.decide_on_windows``); record why.

        The decision is written as ``modelyard.gate.*`` tags on the version and on its run.
        """
        aliases = self._aliases(model)
        candidate = self._version(model, version, aliases)
        candidate_value = _metric_of(candidate, metric)
        champion_version = aliases.get(CHAMPION)
        if champion_version == version:
            decision = GateDecision(CHAMPION, "already champion", candidate_value, candidate_value)
        else:
            champion_value = None
            if champion_version is not None:
                champion_value = _metric_of(self._version(model, champion_version, aliases), metric)
            decision = policy.decide_promotion(candidate_value, champion_value, higher_is_better, tolerance)
            decision = policy.decide_on_windows(decision, windows or {}, higher_is_better, tolerance)
        if decision.alias is not None:
            self._point_alias(model, decision.alias, version)
        self._record_gate(candidate, metric, decision, champion_version, windows or {})
        event(log, "registry_gated", model=model, version=version, alias=decision.alias, why=decision.reason)
        return decision

    def _record_gate(
        self,
        candidate: ResolvedVersion,
        metric: str,
        decision: GateDecision,
        champion_version: int | None,
        windows: dict[str, tuple[float, float]],
    ) -> None:
        tags = {
            **{
                f"{GATE_TAG_PREFIX}{name}.{role}": repr(value)
                for name, pair in windows.items()
                for role, value in zip(("candidate", "champion"), pair, strict=True)
            },
            GATE_METRIC_TAG: metric,
            GATE_DECISION_TAG: decision.alias or "rejected",
            GATE_REASON_TAG: decision.reason,
            f"{GATE_TAG_PREFIX}candidate": repr(decision.candidate),
            f"{GATE_TAG_PREFIX}champion": repr(decision.champion),
            f"{GATE_TAG_PREFIX}champion_version": str(champion_version),
        }
        with mlflow_errors(self.uri):
            self.client.log_batch(candidate.run_id, tags=[RunTag(key, value) for key, value in tags.items()])
        for key, value in tags.items():  # the registry has no batch call for version tags
            self.tag_version(candidate.name, candidate.version, key, value)

    def promote(self, model: str) -> AliasMove:
        """Challenger becomes champion, the old champion becomes previous."""
        return self._move(model, "promote", policy.plan_promotion)

    def rollback(self, model: str) -> AliasMove:
        """Previous becomes champion again; the demoted champion loses its alias and is tagged
        ``modelyard.rolled_back=true`` (it is not made challenger, so it cannot be re-promoted by accident).
        """
        move = self._move(model, "rollback", policy.plan_rollback)
        demoted = move.before.get(CHAMPION)
        if demoted is not None and demoted != move.champion:
            self.tag_version(model, demoted, ROLLED_BACK_TAG, "true")
        return move

    def _move(self, model: str, action: str, plan) -> AliasMove:
        before = self._aliases(model)
        after = plan(before)
        with mlflow_errors(self.uri):
            for alias in before.keys() - after.keys():
                self.client.delete_registered_model_alias(model, alias)
            for alias, version in after.items():
                if before.get(alias) != version:
                    self.client.set_registered_model_alias(model, alias, str(version))
        event(log, f"registry_{action}", model=model, before=before, after=after)
        return AliasMove(name=model, action=action, before=before, after=after)

    # --- overview -------------------------------------------------------------------

    def list_models(self) -> list[ModelSummary]:
        """Every registered model with its aliases and the metrics of each aliased version."""
        with mlflow_errors(self.uri):
            models = _all_pages(self.client.search_registered_models)
        return [self._summary(rm.name, _alias_map(rm.aliases)) for rm in sorted(models, key=lambda m: m.name)]

    def _summary(self, model: str, aliases: dict[str, int]) -> ModelSummary:
        numbers = [int(mv.version) for mv in self._search_versions(model)]
        aliased = {alias: self._version(model, version, aliases) for alias, version in aliases.items()}
        gated = [aliased[a].tags.get(GATE_METRIC_TAG) for a in policy.VALID_ALIASES if a in aliased]
        return ModelSummary(
            name=model,
            latest_version=max(numbers, default=0),
            version_count=len(numbers),
            aliases=aliases,
            metrics={alias: rv.metrics for alias, rv in aliased.items()},
            headline_metric=next((m for m in gated if m), None),
        )

    # --- reading helpers ------------------------------------------------------------

    def _aliases(self, model: str) -> dict[str, int]:
        try:
            with mlflow_errors(self.uri):
                return _alias_map(self.client.get_registered_model(model).aliases)
        except NotFoundError as exc:
            raise NotFoundError(f"no registered model {model!r}", hint=self._models_hint()) from exc

    def _search_versions(self, model: str) -> list[ModelVersion]:
        with mlflow_errors(self.uri):
            return list(self.client.search_model_versions(f"name = '{_quoted(model)}'"))

    def _version(self, model: str, version: int, aliases: dict[str, int]) -> ResolvedVersion:
        try:
            with mlflow_errors(self.uri):
                found = self.client.get_model_version(model, str(version))
        except NotFoundError as exc:
            raise NotFoundError(f"{model} has no version {version}", hint=self._hint(model)) from exc
        return self._resolved(found, _aliases_of(aliases, version))

    def _resolved(self, mv: ModelVersion, aliases: list[str], run: Run | None = None) -> ResolvedVersion:
        if run is None:
            with mlflow_errors(self.uri):
                run = self.client.get_run(mv.run_id)
        return ResolvedVersion(
            name=mv.name,
            version=int(mv.version),
            run_id=mv.run_id,
            source=mv.source,
            aliases=aliases,
            tags=dict(mv.tags),
            metrics=dict(run.data.metrics),
            params=dict(run.data.params),
        )

    def _hint(self, model: str) -> str:
        """What exists for ``model``: its aliases and version numbers."""
        aliases = self._aliases(model)
        numbers = sorted(int(mv.version) for mv in self._search_versions(model))
        shown = ", ".join(f"{a}=v{v}" for a, v in sorted(aliases.items())) or "no aliases"
        return f"{model} has {shown}; versions: {', '.join(map(str, numbers)) or 'none'}"

    def _models_hint(self) -> str:
        with mlflow_errors(self.uri):
            names = sorted(rm.name for rm in _all_pages(self.client.search_registered_models))
        if not names:
            return "no model is registered yet: train one first"
        return f"registered models: {', '.join(names)}"


def _metric_of(version: ResolvedVersion, metric: str) -> float:
    if metric not in version.metrics:
        raise UsageError(
            f"{version.name} v{version.version} has no metric {metric!r}",
            hint=f"gate on a logged metric: {', '.join(sorted(version.metrics)) or 'none logged'}",
        )
    return version.metrics[metric]


def _alias_map(aliases: dict) -> dict[str, int]:
    return {alias: int(version) for alias, version in aliases.items()}


def _aliases_of(aliases: dict[str, int], version: int) -> list[str]:
    return sorted(alias for alias, number in aliases.items() if number == version)


def _quoted(name: str) -> str:
    return name.replace("'", "\\'")


def _all_pages(search) -> list:
    """All results of a paged MLflow search."""
    results, token = [], None
    while True:
        page = search(page_token=token)
        results.extend(page)
        token = page.token
        if not token:
            return results
