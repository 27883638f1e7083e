"""``yard rollout``: canary and shadow rollouts, on the local gateway or on Kubernetes (KServe)."""

from __future__ import annotations

import logging
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from modelyard.cli.output import console, emit_json, err_console
from modelyard.errors import ModelyardError, UsageError
from modelyard.logs import event
from modelyard.settings import Settings, get_settings

if TYPE_CHECKING:
    from modelyard.rollout.kube import KubeChange, KubeRollouts
    from modelyard.rollout.local import LocalRollouts
    from modelyard.rollout.progressive import StepReport
    from modelyard.rollout.state import Rollout

log = logging.getLogger("modelyard.rollout")
app = typer.Typer(
    help="Canary and shadow rollouts: start, watch, step, promote, roll back.",
    no_args_is_help=True,
)


class AutoRollback(ModelyardError):
    """A progressive rollout failed a step and rolled itself back."""

    exit_code = 6


class Target(StrEnum):
    local = "local"
    k8s = "k8s"


class KubeMode(StrEnum):
    standard = "standard"
    knative = "knative"


TARGET = typer.Option(
    Target.local, "--target", help="local: the yard serve gateway; k8s: the InferenceService."
)
NAMESPACE = typer.Option("modelyard", "--namespace", "-n", help="k8s: namespace of the InferenceService.")
MODE = typer.Option(None, "--mode", help="k8s: KServe deployment mode [default: the object's annotation].")
GATEWAY = typer.Option(None, "--gateway", help="local: gateway URL [default: from stack.json].")
MODEL_STORE = typer.Option(
    None,
    "--model-store",
    help="k8s: where versions are published, <store>/<model>/<version> [default: MODELYARD_MODEL_STORE_URI].",
)
AS_JSON = typer.Option(False, "--json", help="Print JSON.")


# --- drivers ---------------------------------------------------------------------------


def _gateway_url(settings: Settings, gateway: str | None) -> str:
    if gateway:
        return gateway
    from serving.stack.state import read_state, state_path

    if state_path(settings).is_file():
        return read_state(settings).gateway_url
    return f"http://{settings.host}:{settings.gateway_port}"


def _api_key(settings: Settings) -> str | None:
    from serving.stack.client import read_api_key

    return read_api_key(settings, required=False)


def _local(gateway: str | None) -> LocalRollouts:
    """Registry first: an unreachable MLflow stops the command before anything moves."""
    from modelyard.rollout.admin_client import GatewayAdmin
    from modelyard.rollout.lifecycle import open_registry
    from modelyard.rollout.local import LocalRollouts
    from serving.rollout.candidates import retire_candidate

    settings = get_settings()
    registry = open_registry(settings)
    admin = GatewayAdmin(_gateway_url(settings, gateway), _api_key(settings))
    return LocalRollouts(settings, admin, registry, partial(retire_candidate, settings))


def _kube(namespace: str, mode: KubeMode | None, model_store: str | None) -> KubeRollouts:
    """The store comes from settings unless --model-store overrides it; unset is a UsageError."""
    from modelyard.registry.publish import resolve_store
    from modelyard.rollout.kube import Kubectl, KubeRollouts

    store = resolve_store(model_store, get_settings())
    return KubeRollouts(Kubectl(namespace), namespace, store, mode.value if mode else None)


# --- output ----------------------------------------------------------------------------


def _show_rollout(rollout: Rollout, as_json: bool) -> None:
    if as_json:
        emit_json(rollout.model_dump(mode="json"))
        return
    canary = f"v{rollout.canary.version} ({rollout.canary.url})" if rollout.canary else "none"
    console.print(
        f"[bold]{rollout.model}[/] {rollout.phase}: stable v{rollout.stable.version}, "
        f"{rollout.mode} {canary} at {rollout.percent}%" + (f" — {rollout.reason}" if rollout.reason else "")
    )


def _show_kube(change: KubeChange, as_json: bool) -> None:
    if as_json:
        emit_json({"patches": change.patches, "kubectl": change.kubectl_commands()})
        return
    console.print("[green]applied[/]; the same by hand:")
    for command in change.kubectl_commands():
        console.print(command, soft_wrap=True, highlight=False, markup=False)


def _show_step(report: StepReport, out: Console = console) -> None:
    verdict = report.verdict
    color = {"pass": "green", "fail": "red", "wait": "yellow"}[verdict.decision]
    out.print(
        f"step {report.percent:>3}%: stable {report.stable.requests} req, "
        f"canary {report.canary.requests} req "
        f"-> [{color}]{verdict.decision}[/] ({verdict.summary})"
    )
    event(
        log,
        "rollout_step",
        percent=report.percent,
        decision=verdict.decision,
        reason=verdict.summary,
        stable_requests=report.stable.requests,
        canary_requests=report.canary.requests,
    )


# --- commands --------------------------------------------------------------------------


@app.command()
def start(
    model: str = typer.Argument(..., help="Model to roll out."),
    version: int | None = typer.Option(None, "--version", min=1, help="Candidate registry version."),
    alias: str | None = typer.Option(None, "--alias", help="Candidate registry alias, e.g. challenger."),
    percent: int | None = typer.Option(
        None, "--percent", min=0, max=100, help="Canary share [10; shadow: 100]."
    ),
    shadow: bool = typer.Option(
        False, "--shadow", help="Mirror requests to the candidate; callers get stable."
    ),
    steps: str | None = typer.Option(None, "--steps", help="Progressive percents, e.g. 10,25,50,100."),
    interval: str = typer.Option("30s", "--interval", help="Time per step (30s, 2m)."),
    auto: bool = typer.Option(
        False, "--auto", help="Judge each step; roll back on failure, promote at the end."
    ),
    upstream: str | None = typer.Option(
        None, "--upstream", help="local: URL of an already running candidate."
    ),
    ready_timeout: float = typer.Option(
        180.0, "--ready-timeout", help="Seconds the candidate may take to be ready."
    ),
    error_margin: float = typer.Option(
        0.01, "--error-margin", help="Allowed canary error rate above stable."
    ),
    p99_margin: float = typer.Option(0.25, "--p99-margin", help="Allowed canary p99 above stable, relative."),
    min_requests: int = typer.Option(50, "--min-requests", help="Canary requests needed per step."),
    min_agreement: float | None = typer.Option(
        None, "--min-agreement", help="Shadow: lowest agreement (0..1)."
    ),
    target: Target = TARGET,
    namespace: str = NAMESPACE,
    mode: KubeMode | None = MODE,
    gateway: str | None = GATEWAY,
    model_store: str | None = MODEL_STORE,
    as_json: bool = AS_JSON,
) -> None:
    """Load the candidate next to stable, wait until it is ready, then shift traffic to it."""
    from modelyard.rollout.analysis import AnalysisPolicy
    from modelyard.rollout.progressive import parse_duration, parse_steps

    plan = parse_steps(steps) if steps else None
    if plan and not auto:
        raise UsageError(
            "--steps needs --auto (each step is judged)", hint="add --auto, or use yard rollout set"
        )
    first = plan[0] if plan else percent if percent is not None else 100 if shadow else 10
    if target is Target.k8s:
        if shadow or plan:
            raise UsageError(
                "--shadow and --steps/--auto are local-gateway features",
                hint="on k8s step by hand with yard rollout set --target k8s, watching your Prometheus",
            )
        from modelyard.rollout.lifecycle import open_registry, resolve_candidate

        candidate = resolve_candidate(open_registry(get_settings()), model, version, alias)
        change = _kube(namespace, mode, model_store).start(model, candidate.version, first, ready_timeout)
        _show_kube(change, as_json)
        return
    from modelyard.rollout.lifecycle import resolve_candidate

    rollouts = _local(gateway)
    candidate = resolve_candidate(rollouts.registry, model, version, alias)
    url = upstream or _launch_candidate(rollouts, model, candidate.version)
    rollout = rollouts.start(model, candidate, url, first, "shadow" if shadow else "canary", ready_timeout)
    if not (as_json and plan):  # with --json a progressive rollout prints one document at the end
        _show_rollout(rollout, as_json)
    if plan:
        policy = AnalysisPolicy(error_margin, p99_margin, min_requests, min_agreement)
        _progress(rollouts, rollout, plan, parse_duration(interval), policy, as_json)


def _launch_candidate(rollouts: LocalRollouts, model: str, version: int) -> str:
    from modelyard.rollout.local import routed_versions
    from serving.rollout.candidates import launch_candidate

    _, current = rollouts.admin.view(model)
    keep = routed_versions(current) if current else [int(rollouts.admin.stable(model).version)]
    with console.status(f"starting {model} version {version} next to stable"):
        return launch_candidate(get_settings(), model, version, keep)


def _progress(
    rollouts: LocalRollouts, rollout: Rollout, plan: list[int], interval_s: float, policy: Any, as_json: bool
) -> None:
    from modelyard.rollout.progressive import run_steps

    out = err_console if as_json else console  # with --json stdout holds one JSON document
    outcome = run_steps(rollouts, rollout, plan, interval_s, policy, on_step=partial(_show_step, out=out))
    result: dict[str, Any] = {"passed": outcome.passed, "reason": outcome.reason}
    if outcome.passed:
        promoted, aliases, embeddings = rollouts.promote(rollout.model)
        result |= {"rollout": promoted.model_dump(mode="json"), "aliases": aliases, "embeddings": embeddings}
        out.print(f"[green]promoted[/] {rollout.model} v{promoted.stable.version}: {outcome.reason}")
    else:
        event(log, "rollout_auto_rollback", logging.WARNING, model=rollout.model, reason=outcome.reason)
    if as_json:
        emit_json(result)
    if not outcome.passed:
        raise AutoRollback(
            f"rolled back {rollout.model} automatically: {outcome.reason}",
            hint=f"yard rollout status {rollout.model}; fix the candidate, then start again",
        )


@app.command("set")
def set_percent(
    model: str = typer.Argument(...),
    percent: int = typer.Option(..., "--percent", min=0, max=100, help="New canary (or shadow) share."),
    target: Target = TARGET,
    namespace: str = NAMESPACE,
    mode: KubeMode | None = MODE,
    gateway: str | None = GATEWAY,
    model_store: str | None = MODEL_STORE,
    as_json: bool = AS_JSON,
) -> None:
    """Move the candidate's share of traffic."""
    if target is Target.k8s:
        from modelyard.rollout.lifecycle import open_registry

        open_registry(get_settings())
        _show_kube(_kube(namespace, mode, model_store).set_percent(model, percent), as_json)
        return
    _show_rollout(_local(gateway).set_percent(model, percent), as_json)


@app.command()
def promote(
    model: str = typer.Argument(...),
    target: Target = TARGET,
    namespace: str = NAMESPACE,
    mode: KubeMode | None = MODE,
    gateway: str | None = GATEWAY,
    model_store: str | None = MODEL_STORE,
    as_json: bool = AS_JSON,
) -> None:
    """The candidate becomes champion: all traffic, MLflow aliases, and the live Qdrant index."""
    from modelyard.rollout.lifecycle import open_registry, promote_in_registry, switch_embeddings

    if target is Target.k8s:
        from modelyard.rollout import kserve

        settings = get_settings()
        registry = open_registry(settings)
        kube = _kube(namespace, mode, model_store)
        isvc = kube.api.get(model)
        version = int(kserve.traffic_status(isvc, kube.mode_of(isvc)).canary_version or 0)
        if not version:
            raise UsageError(f"{model} has no canary to promote", hint="yard rollout start --target k8s")
        change = kube.promote(model)
        promote_in_registry(registry, model, version)
        switch_embeddings(settings, model, version)
        _show_kube(change, as_json)
        return
    rollout, aliases, embeddings = _local(gateway).promote(model)
    if as_json:
        emit_json({"rollout": rollout.model_dump(mode="json"), "aliases": aliases, "embeddings": embeddings})
        return
    _show_rollout(rollout, False)
    console.print(f"aliases: {aliases}; embeddings: {embeddings or 'no collection'}")


@app.command()
def rollback(
    model: str = typer.Argument(...),
    reason: str = typer.Option("manual rollback", "--reason", help="Recorded in the rollout and the logs."),
    target: Target = TARGET,
    namespace: str = NAMESPACE,
    mode: KubeMode | None = MODE,
    gateway: str | None = GATEWAY,
    model_store: str | None = MODEL_STORE,
    as_json: bool = AS_JSON,
) -> None:
    """Canary running: all traffic back to stable. After a promote: the previous champion returns."""
    if target is Target.k8s:
        from modelyard.rollout import kserve
        from modelyard.rollout.lifecycle import open_registry, switch_embeddings

        settings = get_settings()
        registry = open_registry(settings)
        kube = _kube(namespace, mode, model_store)
        isvc = kube.api.get(model)
        if kserve.traffic_status(isvc, kube.mode_of(isvc)).canary_version:
            _show_kube(kube.rollback(model, reason), as_json)
            return
        champion = registry.rollback(model).champion
        switch_embeddings(settings, model, champion)
        _show_kube(kube.restore(model, champion), as_json)
        return
    _show_rollout(_local(gateway).rollback(model, reason), as_json)


@app.command()
def status(
    model: str = typer.Argument(...),
    target: Target = TARGET,
    namespace: str = NAMESPACE,
    mode: KubeMode | None = MODE,
    gateway: str | None = GATEWAY,
    model_store: str | None = MODEL_STORE,
    as_json: bool = AS_JSON,
) -> None:
    """Versions, split and per-variant figures (requests, errors, p50/p99 since the gateway started)."""
    if target is Target.k8s:
        report = _kube(namespace, mode, model_store).status(model)
        if as_json:
            emit_json(report)
        else:
            for key, value in report.items():
                console.print(f"{key}: {value}", highlight=False)
        return
    from modelyard.rollout.admin_client import GatewayAdmin

    settings = get_settings()  # status reads the gateway only: it works while MLflow is down
    admin = GatewayAdmin(_gateway_url(settings, gateway), _api_key(settings))
    report = _local_status(admin, model)
    if as_json:
        emit_json(report)
        return
    _print_status(report)


def _local_status(admin: Any, model: str) -> dict[str, Any]:
    from modelyard.rollout.scrape import window

    configured, rollout = admin.view(model)
    snapshot = admin.snapshot()
    stable = rollout.stable if rollout else configured[0]
    variants = [("stable", stable, "served")]
    if rollout and rollout.canary:
        variants.append(("canary", rollout.canary, "shadow" if rollout.mode == "shadow" else "served"))
    if rollout and rollout.previous:
        variants.append(("previous", rollout.previous, "served"))
    figures = []
    for role, variant, source in variants:
        totals = window({}, snapshot, source, model, variant.version)
        figures.append(
            {
                "role": role,
                "version": variant.version,
                "url": variant.url,
                "source": source,
                "requests": totals.requests,
                "errors": totals.errors,
                "error_rate": round(totals.error_rate, 4),
                "p50_ms": None if totals.p50_s is None else round(totals.p50_s * 1000, 2),
                "p99_ms": None if totals.p99_s is None else round(totals.p99_s * 1000, 2),
                "agreement": totals.agreement,
            }
        )
    return {
        "model": model,
        "rollout": rollout.model_dump(mode="json") if rollout else None,
        "variants": figures,
    }


def _print_status(report: dict[str, Any]) -> None:
    rollout = report["rollout"]
    if rollout is None:
        console.print(f"[bold]{report['model']}[/]: no rollout (configured stable only)")
    else:
        console.print(
            f"[bold]{report['model']}[/] {rollout['phase']} ({rollout['mode']}, {rollout['percent']}%)"
            + (f" — {rollout['reason']}" if rollout["reason"] else "")
        )
    table = Table()
    for column in ("role", "version", "requests", "errors", "error rate", "p50 ms", "p99 ms", "agreement"):
        table.add_column(column)
    for v in report["variants"]:
        agreement = "-" if v["agreement"] is None else f"{v['agreement']:.1%}"
        label = v["role"] + (" (shadow)" if v["source"] == "shadow" else "")
        table.add_row(
            label,
            v["version"],
            str(v["requests"]),
            str(v["errors"]),
            f"{v['error_rate']:.2%}",
            str(v["p50_ms"] or "-"),
            str(v["p99_ms"] or "-"),
            agreement,
        )
    console.print(table)
