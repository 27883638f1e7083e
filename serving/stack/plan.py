"""What the stack will run: champions from the registry, their files, ports and command lines.

Everything here happens before the first process starts, so a missing champion, a broken
artifact or a busy port is reported up front (a model without a usable champion is skipped
with its reason; the others are served).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from modelyard.artifact.layout import VersionArtifacts, check_artifacts
from modelyard.artifact.model_repository import assemble
from modelyard.artifact.triton_config import configure_instances, instance_kind_for_device
from modelyard.errors import DataError, NotFoundError, UsageError
from modelyard.keys import new_key_file
from modelyard.logs import event
from modelyard.models import MODEL_NAMES
from modelyard.net import client_host
from modelyard.registry import Registry, ResolvedVersion
from modelyard.settings import Settings
from serving.gateway.config import auth_off_refusal
from serving.stack.ports import plan_ports
from serving.stack.processes import ChildSpec
from serving.stack.state import serving_dir, triton_key_path
from serving.triton.installation import find_installation, prepare_backend_directory, server_environment
from serving.triton.server import build_command

log = logging.getLogger(__name__)

SERVED_ALIAS = "champion"
TRITON = "triton"
GATEWAY = "gateway"
TRANSFORMER_PREFIX = "transformer-"
PREDICTOR_PROTOCOL = "grpc-v2"
TRANSFORMER_GRACE_S = 15.0
TRITON_GRACE_S = 20.0
GATEWAY_EXTRA_GRACE_S = 5.0


@dataclass(frozen=True)
class ServedModel:
    """A registered model version the stack serves, with its files on local disk."""

    resolved: ResolvedVersion
    artifacts: VersionArtifacts

    @property
    def name(self) -> str:
        return self.resolved.name

    @property
    def transformer(self) -> str:
        return TRANSFORMER_PREFIX + self.name

    def transformers(self, replicas: int) -> list[str]:
        """Child names of its transformer processes: ``transformer-<model>``, then ``.2``, ``.3``..."""
        return [self.transformer] + [f"{self.transformer}.{n}" for n in range(2, replicas + 1)]


@dataclass
class StackPlan:
    """The stack to start: served models, Triton's repository, and each child in start order."""

    served: list[ServedModel]
    skipped: dict[str, str]
    triton_models: dict[str, list[int]]
    model_repository: Path
    children: list[ChildSpec] = field(default_factory=list)
    transformers: dict[str, list[str]] = field(default_factory=dict)
    """Model -> the child names of its transformer replicas (the first is ``ServedModel.transformer``)."""

    def child(self, name: str) -> ChildSpec:
        return next(spec for spec in self.children if spec.name == name)

    def transformer_urls(self, model: str) -> list[str]:
        return [self.child(name).url for name in self.transformers[model]]


def choose_models(requested: list[str] | None) -> list[str]:
    """The models to serve: all three by default; an unknown name is a usage error."""
    if not requested:
        return list(MODEL_NAMES)
    unknown = [name for name in requested if name not in MODEL_NAMES]
    if unknown:
        raise UsageError(f"unknown model(s) {unknown}", hint=f"choose from {', '.join(MODEL_NAMES)}")
    return list(dict.fromkeys(requested))


def resolve_served(settings: Settings, models: list[str]) -> tuple[list[ServedModel], dict[str, str]]:
    """Each model's champion, downloaded and checked; models without a usable one are skipped."""
    registry = Registry(settings)
    served, skipped = [], {}
    for name in models:
        try:
            resolved = registry.resolve(f"{name}@{SERVED_ALIAS}")
            artifacts = download_version(registry, resolved, serving_dir(settings) / "artifacts")
            check_artifacts(artifacts)
        except (NotFoundError, DataError) as exc:
            skipped[name] = str(exc)
            event(log, "serve_model_skipped", logging.WARNING, model=name, reason=str(exc))
            continue
        served.append(ServedModel(resolved, artifacts))
    if not served:
        raise NotFoundError(
            f"none of {models} has a servable {SERVED_ALIAS}: " + "; ".join(skipped.values()),
            hint="train and register them first: yard train all",
        )
    return served, skipped


def download_version(registry: Registry, resolved: ResolvedVersion, root: Path) -> VersionArtifacts:
    """The version's files under ``root/<model>/<version>`` (downloaded once, atomically)."""
    target = root / resolved.name / str(resolved.version)
    artifacts = VersionArtifacts(resolved.name, resolved.version, target)
    if not target.is_dir():
        staging = target.with_name(f".{target.name}.download")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            os.replace(registry.download(f"{resolved.name}/{resolved.version}", staging), target)
        except NotFoundError as exc:  # the version is registered, so its files are what is missing
            raise DataError(
                f"{artifacts.label}: its files are missing from the artifact store: {exc}",
                hint=artifacts.repair_hint,
            ) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return artifacts


def build_plan(
    settings: Settings,
    served: list[ServedModel],
    skipped: dict[str, str],
    *,
    gateway_port: int,
    auth: bool,
) -> StackPlan:
    """Assemble Triton's repository and lay out every child's ports and command line."""
    repository = serving_dir(settings) / "model_repository"
    triton_models = assemble(repository, [model.artifacts for model in served])
    plan = StackPlan(served, skipped, triton_models, repository)
    plan.transformers = {
        model.name: model.transformers(transformer_replicas(settings, model.name)) for model in served
    }
    endpoints = [f"{TRITON}.{kind}" for kind in ("http", "grpc", "metrics")]
    for name in (name for names in plan.transformers.values() for name in names):
        endpoints += [f"{name}.http", f"{name}.grpc"]
    endpoints.append(f"{GATEWAY}.http")
    configured = {f"{GATEWAY}.http": gateway_port} if gateway_port else {}  # 0: any free port
    ports = plan_ports(endpoints, configured, settings.host)
    env = child_environment(settings)
    logs = serving_dir(settings) / "logs"
    plan.children.append(_triton_spec(settings, repository, list(triton_models), ports, env, logs))
    for model in served:
        for name in plan.transformers[model.name]:
            plan.children.append(_transformer_spec(settings, model, ports, env, logs, name))
    plan.children.append(_gateway_spec(settings, plan, ports[f"{GATEWAY}.http"], env, logs, auth))
    return plan


def transformer_replicas(settings: Settings, model: str) -> int:
    """How many transformer processes serve ``model`` (``settings.transformer_replicas``)."""
    from embeddings.sources import SOURCES  # here: the plan module stays light to import

    replicas = settings.transformer_replicas.get(model, 1)
    if replicas > 1 and model in SOURCES and settings.qdrant_url is None:
        raise UsageError(
            f"{model} cannot have {replicas} transformer replicas with the embedded Qdrant store: "
            "its collection admits one process",
            hint=f"serve {model} with one (MODELYARD_TRANSFORMER_REPLICAS) or set MODELYARD_QDRANT_URL",
        )
    return replicas


def child_environment(settings: Settings) -> dict[str, str]:
    """The supervisor's environment plus the settings children must share with it."""
    return {
        **os.environ,
        "MODELYARD_STATE_DIR": str(settings.state_dir),
        "MODELYARD_HOST": settings.host,
        "MODELYARD_LOG_FORMAT": os.environ.get("MODELYARD_LOG_FORMAT", "json"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONUNBUFFERED": "1",
    }


def torch_threads_environment(settings: Settings) -> dict[str, str]:
    """What sets the predictors' torch threads: Triton's python-backend stubs inherit it."""
    return {"OMP_NUM_THREADS": str(settings.predictor_cpu_threads)}


def client_url(host: str, port: int) -> str:
    return f"http://{client_host(host)}:{port}"


def _triton_spec(
    settings: Settings,
    repository: Path,
    load_models: list[str],
    ports: dict[str, int],
    env: dict[str, str],
    logs: Path,
) -> ChildSpec:
    """The real ``tritonserver`` binary, run directly so its pid is the one we supervise."""

    restricted_key = new_key_file(triton_key_path(settings)).get_secret_value()
    installation = find_installation()
    kind = instance_kind_for_device(settings.device)
    for name in load_models:
        configure_instances(repository / name, kind)
    http, grpc, metrics = (ports[f"{TRITON}.{endpoint}"] for endpoint in ("http", "grpc", "metrics"))
    command = build_command(
        installation.binary,
        repository,
        prepare_backend_directory(installation, settings.state_dir / "triton" / "backends"),
        host=settings.host,
        http_port=http,
        grpc_port=grpc,
        metrics_port=metrics,
        model_control="explicit",
        load_models=load_models,
        restricted_key=restricted_key,
    )
    url = client_url(settings.host, http)
    return ChildSpec(
        name=TRITON,
        command=command,
        ready_url=f"{url}/v2/health/ready",
        log_path=logs / f"{TRITON}.log",
        url=url,
        ports={"http": http, "grpc": grpc, "metrics": metrics},
        env=server_environment(installation, {**env, **torch_threads_environment(settings)}),
        grace_s=TRITON_GRACE_S,
    )


def _transformer_spec(
    settings: Settings,
    model: ServedModel,
    ports: dict[str, int],
    env: dict[str, str],
    logs: Path,
    name: str | None = None,
) -> ChildSpec:
    """The transformer child ``name`` (default: the model's first) of ``model``."""
    name = name or model.transformer
    http, grpc = ports[f"{name}.http"], ports[f"{name}.grpc"]
    command = [
        sys.executable, "-m", "serving.transformer",
        "--model_name", model.name,
        "--version", str(model.resolved.version),
        "--predictor_host", f"{client_host(settings.host)}:{ports[f'{TRITON}.grpc']}",
        "--predictor_protocol", PREDICTOR_PROTOCOL,
        "--http_port", str(http),
        "--grpc_port", str(grpc),
        "--artifact_dir", str(model.artifacts.root),
    ]  # fmt: skip
    url = client_url(settings.host, http)
    return ChildSpec(
        name=name,
        command=command,
        ready_url=f"{url}/v2/health/ready",
        log_path=logs / f"{name}.log",
        url=url,
        ports={"http": http, "grpc": grpc},
        env=env,
        grace_s=TRANSFORMER_GRACE_S,
    )


def _gateway_spec(
    settings: Settings, plan: StackPlan, port: int, env: dict[str, str], logs: Path, auth: bool
) -> ChildSpec:
    """The gateway child. Rollout candidates (``serving.stack.candidates``) start later on fresh
    ports of this host, so the gateway may route to any port of it (``--allow-upstream``)."""

    refusal = auth_off_refusal(auth, settings.host, settings.allow_no_auth_on_network)
    if refusal is not None:
        raise UsageError(refusal, hint="serve on 127.0.0.1 or drop --no-auth")
    routes = [f"{m.name}={','.join(plan.transformer_urls(m.name))}@{m.resolved.version}" for m in plan.served]
    command = [sys.executable, "-m", "serving.gateway", "--host", settings.host, "--port", str(port)]
    command += [arg for route in routes for arg in ("--route", route)]
    command += ["--allow-upstream", f"http://{client_host(settings.host)}"]
    if not auth:
        command.append("--no-auth")
    url = client_url(settings.host, port)
    return ChildSpec(
        name=GATEWAY,
        command=command,
        ready_url=f"{url}/v2/health/ready",
        log_path=logs / f"{GATEWAY}.log",
        url=url,
        ports={"http": port},
        env=env,
        grace_s=settings.drain_timeout_s + GATEWAY_EXTRA_GRACE_S,
    )
