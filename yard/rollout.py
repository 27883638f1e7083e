"""``yard rollout``: canary and shadow rollouts, on the local gateway or on Kubernetes (KServe).

Both targets run the same driver (``rollout.driver``): on Kubernetes the split is the
chart's rollouts ConfigMap, which the in-cluster gateways follow, and a candidate is its own
InferenceService; every kubectl change is printed as the command that does it by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from modelyard.errors import ModelyardError, UsageError
from modelyard.logs import event
from modelyard.settings import get_settings
from yard.output import console, emit_json, err_console

if TYPE_CHECKING:
    from rollout.driver import Rollouts
    from rollout.progressive import StepReport
    from serving.gateway.rollout.state import Rollout

log = logging.getLogger("rollout")
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


TARGET = typer.Option(
    Target.local,
    "--target",
    help="local: the yard serve gateway; k8s: the chart's gateways (rollouts ConfigMap).",
)
NAMESPACE = typer.Option("modelyard", "--namespace", "-n", help="k8s: namespace of the release.")
RELEASE = typer.Option("modelyard", "--release", help="k8s: Helm release name of the chart.")
GATEWAY = typer.Option(None, "--gateway", help="local: gateway URL (default: from stack.json).")
MODEL_STORE = typer.Option(
    None,
    "--model-store",
    help="k8s: where versions are published, <store>/<model>/<version> [default: MODELYARD_MODEL_STORE_URI].",
)
AS_JSON = typer.Option(False, "--json", help="Print JSON.")


@dataclass(frozen=True)
class Where:
    """The target of one command, as given on the command line."""

    target: Target
    gateway: str | None
    namespace: str
    release: str
    model_store: str | None


# --- drivers ---------------------------------------------------------------------------


def _backend(where: Where, commands: list[str]) -> Any:
    """Where the split lives: the local gateway's admin API, or the chart's rollouts ConfigMap."""
    settings = get_settings()
    if where.target is Target.k8s:
        # lazy: loaded when the command runs, so `yard --help` and typos answer at once
        from rollout.kube import ChartRelease, ConfigMapRollouts, Kubectl

        chart = ChartRelease(where.namespace, where.release)
        return ConfigMapRollouts(Kubectl(where.namespace), chart, commands)
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from rollout.local import local_admin

    return local_admin(settings, where.gateway)


def _rollouts(where: Where) -> tuple[Rollouts, list[str]]:
    """The driver, and the kubectl commands it runs (k8s). Registry first: an unreachable MLflow
    stops the command before anything moves."""
    settings = get_settings()
    if where.target is Target.local:
        # lazy: loaded when the command runs, so `yard --help` and typos answer at once
        from rollout.local import local_rollouts

        return local_rollouts(settings, where.gateway), []
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from modelyard.registry.publish import resolve_store
    from rollout.driver import Rollouts
    from rollout.kube import KubeCandidates
    from rollout.lifecycle import open_registry
    from serving.stack.candidates import index_candidate

    registry = open_registry(settings)
    commands: list[str] = []
    backend = _backend(where, commands)
    store = resolve_store(where.model_store, settings)
    index = partial(index_candidate, settings)
    host = KubeCandidates(backend.api, where.namespace, store, index, commands)
    return Rollouts(settings, backend, registry, host), commands


# --- output ----------------------------------------------------------------------------


def _rollout_document(rollout: Rollout, commands: list[str]) -> dict[str, Any]:
    document = _numbered(rollout)
    return {"rollout": document, "kubectl": commands} if commands else document


def _numbered(rollout: Rollout) -> dict[str, Any]:
    """The rollout as JSON with its versions as numbers, as every ``--json`` of yard prints them
    (the gateway's own documents keep them as strings)."""
    document = rollout.model_dump(mode="json")
    for role in ("stable", "canary", "previous", "base"):
        if document.get(role):
            document[role]["version"] = _number(document[role]["version"])
    for entry in document["history"]:
        entry["stable"], entry["canary"] = _number(entry["stable"]), _number(entry["canary"])
    return document


def _number(version: str | None) -> int | str | None:
    return int(version) if version is not None and version.isdecimal() else version


def _show_rollout(rollout: Rollout, as_json: bool, commands: list[str]) -> None:
    if as_json:
        emit_json(_rollout_document(rollout, commands))
        return
    canary = f"v{rollout.canary.version} ({rollout.canary.url})" if rollout.canary else "none"
    console.print(
        f"[bold]{rollout.model}[/] {rollout.phase}: stable v{rollout.stable.version}, "
        f"{rollout.mode} {canary} at {rollout.percent}%" + (f" — {rollout.reason}" if rollout.reason else "")
    )


@contextmanager
def _showing_commands(commands: list[str], as_json: bool) -> Iterator[None]:
    """After the command (even a failed one), what it did on Kubernetes, by hand."""
    try:
        yield
    finally:
        if commands and not as_json:
            console.print("the same by hand:")
            for command in commands:
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
    release: str = RELEASE,
    gateway: str | None = GATEWAY,
    model_store: str | None = MODEL_STORE,
    as_json: bool = AS_JSON,
) -> None:
    """Start the candidate next to stable, wait until it is ready, then shift traffic to it."""
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from rollout.analysis import AnalysisPolicy
    from rollout.lifecycle import resolve_candidate
    from rollout.progressive import parse_duration, parse_steps

    plan = parse_steps(steps) if steps else None
    if plan and not auto:
        raise UsageError(
            "--steps needs --auto (each step is judged)", hint="add --auto, or use yard rollout set"
        )
    if upstream and target is Target.k8s:
        raise UsageError(
            "--upstream is for the local target", hint="drop it: on k8s the CLI creates the candidate"
        )
    first = plan[0] if plan else percent if percent is not None else 100 if shadow else 10
    rollouts, commands = _rollouts(Where(target, gateway, namespace, release, model_store))
    candidate = resolve_candidate(rollouts.registry, model, version, alias)
    mode = "shadow" if shadow else "canary"
    with _showing_commands(commands, as_json):
        with console.status(f"starting {model} version {candidate.version} next to stable"):
            rollout = rollouts.start(model, candidate, first, mode, ready_timeout, upstream)
        if not (as_json and plan):  # with --json a progressive rollout prints one document at the end
            _show_rollout(rollout, as_json, commands)
        if plan:
            policy = AnalysisPolicy(error_margin, p99_margin, min_requests, min_agreement)
            _progress(rollouts, rollout, plan, parse_duration(interval), policy, as_json, commands)


def _progress(
    rollouts: Rollouts,
    rollout: Rollout,
    plan: list[int],
    interval_s: float,
    policy: Any,
    as_json: bool,
    commands: list[str],
) -> None:
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from rollout.progressive import run_steps

    out = err_console if as_json else console  # with --json stdout holds one JSON document
    outcome = run_steps(rollouts, rollout, plan, interval_s, policy, on_step=partial(_show_step, out=out))
    result: dict[str, Any] = {"passed": outcome.passed, "reason": outcome.reason}
    if outcome.passed:
        promoted, aliases, embeddings = rollouts.promote(rollout.model)
        result |= {"rollout": _numbered(promoted), "aliases": aliases, "embeddings": embeddings}
        out.print(f"[green]promoted[/] {rollout.model} v{promoted.stable.version}: {outcome.reason}")
    else:
        event(log, "rollout_auto_rollback", logging.WARNING, model=rollout.model, reason=outcome.reason)
    if as_json:
        emit_json(result | ({"kubectl": commands} if commands else {}))
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
    release: str = RELEASE,
    gateway: str | None = GATEWAY,
    model_store: str | None = MODEL_STORE,
    as_json: bool = AS_JSON,
) -> None:
    """Move the candidate's share of traffic."""
    rollouts, commands = _rollouts(Where(target, gateway, namespace, release, model_store))
    with _showing_commands(commands, as_json):
        _show_rollout(rollouts.set_percent(model, percent), as_json, commands)


@app.command()
def promote(
    model: str = typer.Argument(...),
    target: Target = TARGET,
    namespace: str = NAMESPACE,
    release: str = RELEASE,
    gateway: str | None = GATEWAY,
    model_store: str | None = MODEL_STORE,
    as_json: bool = AS_JSON,
) -> None:
    """The candidate becomes champion: all traffic, MLflow aliases, and the live Qdrant index."""
    rollouts, commands = _rollouts(Where(target, gateway, namespace, release, model_store))
    with _showing_commands(commands, as_json):
        rollout, aliases, embeddings = rollouts.promote(model)
        if as_json:
            emit_json({**_rollout_document(rollout, commands), "aliases": aliases, "embeddings": embeddings})
            return
        _show_rollout(rollout, False, commands)
        console.print(f"aliases: {aliases}; embeddings: {embeddings or 'no collection'}")


@app.command()
def rollback(
    model: str = typer.Argument(...),
    reason: str = typer.Option("manual rollback", "--reason", help="Recorded in the rollout and the logs."),
    target: Target = TARGET,
    namespace: str = NAMESPACE,
    release: str = RELEASE,
    gateway: str | None = GATEWAY,
    model_store: str | None = MODEL_STORE,
    as_json: bool = AS_JSON,
) -> None:
    """Canary running: all traffic back to stable. After a promote: the previous champion returns."""
    rollouts, commands = _rollouts(Where(target, gateway, namespace, release, model_store))
    with _showing_commands(commands, as_json):
        _show_rollout(rollouts.rollback(model, reason), as_json, commands)


@app.command()
def status(
    model: str = typer.Argument(...),
    target: Target = TARGET,
    namespace: str = NAMESPACE,
    release: str = RELEASE,
    gateway: str | None = GATEWAY,
    as_json: bool = AS_JSON,
) -> None:
    """Versions, split and per-variant figures (requests, errors, p50/p99 since each gateway started)."""
    # Status reads the split and the gateways only: it works while MLflow is down.
    backend = _backend(Where(target, gateway, namespace, release, None), [])
    report = _status_report(backend, model)
    if as_json:
        emit_json(report)
        return
    _print_status(report)


def _status_report(backend: Any, model: str) -> dict[str, Any]:
    # lazy: loaded when the command runs, so `yard --help` and typos answer at once
    from serving.gateway.rollout.figures import variant_roles, window

    configured, rollout = backend.view(model)
    snapshot = backend.snapshot()
    figures = []
    for entry in variant_roles(configured[0], rollout):
        role, variant, source = entry.role, entry.variant, entry.source
        totals = window({}, snapshot, source, model, variant.version)
        figures.append(
            {
                "role": role,
                "version": _number(variant.version),
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
        "rollout": _numbered(rollout) if rollout else None,
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
            f"v{v['version']}",
            str(v["requests"]),
            str(v["errors"]),
            f"{v['error_rate']:.2%}",
            str(v["p50_ms"] or "-"),
            str(v["p99_ms"] or "-"),
            agreement,
        )
    console.print(table)
