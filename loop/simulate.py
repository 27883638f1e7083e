"""``yard simulate MODEL --drift KIND``: the whole loop on a running stack, as a timeline.

1. in-distribution traffic (``loop.traffic``: held-out emails, test images, validation users),
   then the monitor's verdict on that window;
2. shifted traffic (a spam campaign in a style the corpus lacks; inverted or rotated images; a
   wave of long-tail users), then the monitor again;
3. feedback on a share of the answers all along: moderators' labels
   (``POST /v1/models/moderation/feedback``), users' clicks (``.../ranking/feedback``);
4. on drift, for a model that learns from feedback (moderation from labels, ranking from clicks):
   ``yard retrain`` (train on data + feedback, gate on held-out + recent window) and, when the
   gate passes, a progressive canary judged by the analysis while traffic keeps coming, ending
   promoted or rolled back."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from loop.feedback import JOINS
from loop.retrain import champion_is_smoke, retrain, roll_out
from loop.traffic import SCENARIOS, Request
from modelyard.errors import UsageError
from modelyard.payloads import read_feedback, read_payloads
from modelyard.settings import Settings
from monitoring import run as run_monitor
from rollout.analysis import AnalysisPolicy
from rollout.progressive import StepReport
from serving.stack.client import GatewayClient, http_error

RETRAINABLE = tuple(JOINS)
"""Models whose feedback ``yard retrain`` learns from."""
NO_RETRAIN = {
    "visual-search": "visual-search gets no labels to learn from: retrain it on new data "
    "(yard train visual-search)",
}
"""Why a drifted model outside ``RETRAINABLE`` is not retrained, and what to do instead."""
LOG_SETTLE_S = 10.0
"""Beyond the writer's file age, how long a window's rows may take to land in the logs."""


@dataclass
class Plan:
    model: str
    drift: str
    requests: int = 300
    """Per window: in-distribution, then shifted."""
    feedback_share: float = 0.5
    """Share of answers that get feedback: a moderator's label, a user's clicks."""
    steps: tuple[int, ...] = (25, 50, 100)
    interval_s: float = 20.0
    min_requests: int = 30
    smoke: bool | None = None
    retrain: bool = True
    seed: int = 0


@dataclass
class Timeline:
    """What happened, when (seconds since the start), for the printout and ``--json``."""

    on_event: Callable[[dict[str, Any]], None] = lambda entry: None
    track: Callable[[list[Request], str], Iterable[Request]] = lambda requests, what: requests
    """Wraps a window's requests as they are sent (the CLI shows a progress bar)."""
    started: float = field(default_factory=time.monotonic)
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, what: str, **details: Any) -> dict[str, Any]:
        entry = {"t": round(time.monotonic() - self.started, 1), "event": what, **details}
        self.events.append(entry)
        self.on_event(entry)
        return entry


def check_plan(plan: Plan) -> None:
    if plan.drift not in SCENARIOS.get(plan.model, {}):
        kinds = ", ".join(f"{model} --drift {kind}" for model, kinds in SCENARIOS.items() for kind in kinds)
        raise UsageError(f"no simulation {plan.model} --drift {plan.drift}", hint=f"simulate one of: {kinds}")
    if not 0.0 <= plan.feedback_share <= 1.0:
        raise UsageError(f"--feedback-share is {plan.feedback_share}", hint="give a share between 0 and 1")


def simulate(settings: Settings, plan: Plan, timeline: Timeline, console: Any) -> dict[str, Any]:
    """Run ``plan`` against the running stack; returns the summary document (``--json``)."""
    check_plan(plan)
    rng = random.Random(plan.seed)
    scenario = SCENARIOS[plan.model][plan.drift]
    smoke = champion_is_smoke(settings, plan.model) if plan.smoke is None else plan.smoke
    timeline.add("preparing traffic", smoke=smoke)
    traffic = scenario(settings, plan.requests, smoke, plan.seed)
    windows = {}
    with GatewayClient.from_settings(settings) as client:
        for name, requests in (("in-distribution", traffic.in_distribution), ("shifted", traffic.shifted)):
            windows[name] = _window(settings, client, plan, name, requests, rng, timeline)
        drifted = windows["shifted"]["drift"]
        result: dict[str, Any] = {"model": plan.model, "drift": plan.drift, "windows": windows}
        if not drifted or not plan.retrain or plan.model not in RETRAINABLE:
            timeline.add("no retrain", why=_why_no_retrain(plan, drifted))
            return result | {"timeline": timeline.events}
        result["retrain"] = _retrain(settings, plan, smoke, timeline, console)
        if result["retrain"]["alias"] == "challenger":
            later = scenario(settings, plan.requests, smoke, plan.seed + 1).shifted
            result["rollout"] = _rollout(
                settings,
                client,
                plan,
                result["retrain"]["version"],
                traffic.in_distribution + later,
                timeline,
            )
        else:
            timeline.add("not rolled out", why=result["retrain"]["reason"])
    return result | {"timeline": timeline.events}


def _why_no_retrain(plan: Plan, drifted: bool) -> str:
    if not drifted:
        return "no drift detected"
    if not plan.retrain:
        return "--no-retrain"
    return NO_RETRAIN.get(plan.model, f"{plan.model} does not retrain from feedback")


def _window(
    settings: Settings,
    client: GatewayClient,
    plan: Plan,
    name: str,
    requests: list[Request],
    rng: random.Random,
    timeline: Timeline,
) -> dict[str, Any]:
    """Send one window of traffic (with labels), wait for its payload log, run the monitor on it."""
    since = time.time()
    counts = send(client, plan.model, timeline.track(requests, f"sending {name}"), plan.feedback_share, rng)
    until = time.time()
    timeline.add(f"sent {name}", **counts)
    logged = _wait_rows(
        settings, lambda: read_payloads(settings, plan.model, since, until + 1.0).num_rows, counts["requests"]
    )
    fed_back = _wait_rows(
        settings,
        lambda: read_feedback(settings, plan.model, since).num_rows,
        sum(counts.get(kind, 0) for kind in FEEDBACK_KINDS),
    )
    report = run_monitor(settings, plan.model, _utc(since), _utc(until + 1.0))
    drifted = [signal["name"] for signal in report["signals"] if signal["drift"]]
    timeline.add(
        "drift detected" if report["drift"] else "no drift",
        window=name,
        logged=logged,
        feedback=fed_back,
        requests=report["requests"],
        signals=drifted,
        **({"online": _online(report["online"])} if report["online"] else {}),
    )
    return {**counts, "drift": bool(report["drift"]), "monitor": report}


def send(
    client: GatewayClient,
    model: str,
    requests: Iterable[Request],
    feedback_share: float,
    rng: random.Random,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """One prediction per request, counted by its decision (moderation) or as ``answered``;
    ``feedback_share`` of the answers get their request's feedback (a moderator's label, a
    user's clicks), counted by ``FEEDBACK_KINDS``."""
    counts: Counter[str] = Counter()
    for request in requests:
        if stop is not None and stop.is_set():
            break
        answer = client.predict(model, request.body)
        counts["requests"] += 1
        first = answer.predictions[0]  # moderation: a decision; visual-search: a list of hits
        counts[first.get("decision", "answered") if isinstance(first, dict) else "answered"] += 1
        if request.react is not None and rng.random() < feedback_share:
            for body in request.react(first, rng):
                post_feedback(client, model, {"request_id": answer.request_id, **body})
                counts[_feedback_kind(body)] += 1
    return dict(counts)


FEEDBACK_KINDS = ("labelled", "clicked", "skipped")
"""How ``send`` counts the feedback rows it posted: a moderator's label, a click, a shown item
left unclicked."""


def _feedback_kind(body: dict[str, Any]) -> str:
    if "label" in body:
        return "labelled"
    return "clicked" if body["clicked"] else "skipped"


def post_feedback(client: GatewayClient, model: str, body: dict[str, Any]) -> None:
    try:
        response = client.http.post(f"{client.url}/v1/models/{model}/feedback", json=body)
    except httpx.TransportError as exc:
        raise UsageError(f"feedback not sent: {exc}", hint="is the stack running? yard serve status") from exc
    if response.status_code != 202:
        raise http_error(model, response)


def _wait_rows(settings: Settings, read: Callable[[], int], expected: int) -> int:
    """Rows of a window in a log once they all landed, or what landed within the writer's file
    age plus ``LOG_SETTLE_S`` (it batches rows into a file at most that old)."""
    deadline = time.monotonic() + settings.payload_file_age_s + LOG_SETTLE_S
    while True:
        found = read()
        if found >= expected or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


def _retrain(settings: Settings, plan: Plan, smoke: bool, timeline: Timeline, console: Any) -> dict[str, Any]:
    timeline.add("retrain started")
    done = retrain(settings, plan.model, console, smoke=smoke)
    trained = done.trained
    metric = trained.headline_metric
    timeline.add(
        "retrained",
        version=trained.version,
        feedback=done.feedback,
        **{metric: round(trained.metrics[metric], 4)},
        champion=round(trained.champion[metric], 4) if trained.champion else None,
        recent=_rounded(trained.metrics.get(f"recent_{metric}")),
        recent_champion=_rounded(trained.metrics.get(f"recent_champion_{metric}")),
        gate=trained.alias or "rejected",
        why=trained.reason,
        seconds=trained.total_seconds,
    )
    return {
        "version": trained.version,
        "alias": trained.alias,
        "reason": trained.reason,
        "feedback": done.feedback,
        "metrics": {k: v for k, v in trained.metrics.items() if k.startswith(("recent_", metric))},
        "champion_version": trained.champion_version,
        "seconds": trained.total_seconds,
    }


def _rollout(
    settings: Settings,
    client: GatewayClient,
    plan: Plan,
    version: int,
    requests: list[Request],
    timeline: Timeline,
) -> dict[str, Any]:
    """The progressive canary, with traffic flowing from a second thread while it is judged."""
    stop = threading.Event()
    sent: dict[str, int] = {}

    def traffic() -> None:
        rng = random.Random(plan.seed + 2)
        while not stop.is_set():
            for key, value in send(
                client, plan.model, rng.sample(requests, len(requests)), 0.0, rng, stop
            ).items():
                sent[key] = sent.get(key, 0) + value

    def on_step(report: StepReport) -> None:
        timeline.add(
            f"canary {report.percent}%",
            stable=report.stable.requests,
            canary=report.canary.requests,
            decision=report.verdict.decision,
            why=report.verdict.summary,
        )

    thread = threading.Thread(target=traffic, name="simulated-traffic", daemon=True)
    thread.start()
    timeline.add("rollout started", version=version, steps=list(plan.steps))
    try:
        policy = AnalysisPolicy(min_requests=plan.min_requests)
        result = roll_out(settings, plan.model, version, list(plan.steps), plan.interval_s, policy, on_step)
    finally:
        stop.set()
        thread.join()
    timeline.add("promoted" if result["passed"] else "rolled back", version=version, why=result["reason"])
    return result | {"requests_during_rollout": sent.get("requests", 0)}


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _online(metrics: dict[str, Any]) -> dict[str, Any]:
    """The monitor's online metrics, rates to three places (counts stay whole)."""
    return {name: round(v, 3) if isinstance(v, float) else v for name, v in metrics.items()}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
