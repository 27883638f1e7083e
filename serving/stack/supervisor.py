"""The local stack supervisor: Triton, one transformer per served model, and the gateway.

Children start in two phases (Triton, then the transformers and the gateway) and must all
be ready within a timeout. A child that crashes later is restarted alone, after a backoff,
until its restart budget is spent. Stopping drains from the outside in: the gateway first
(it finishes in-flight requests), then the transformers, then Triton, each group with its
own grace period; every child runs in its own process group, so nothing outlives the stack.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from modelyard.errors import UnavailableError, UsageError
from modelyard.logs import event
from modelyard.settings import Settings
from serving.stack.plan import GATEWAY, TRITON, StackPlan, build_plan, choose_models, resolve_served
from serving.stack.processes import Child, is_same_process, kill_group_if_same, start_ticks, stop_children
from serving.stack.restarts import RestartBudget, RestartPolicy
from serving.stack.state import (
    ChildState,
    ChildStatus,
    ModelState,
    StackState,
    StackStatus,
    read_state,
    serving_dir,
    state_path,
    write_state,
)

log = logging.getLogger(__name__)

POLL_S = 0.25
SUPERVISE_POLL_S = 0.5


@dataclass(frozen=True)
class ServeOptions:
    """What ``yard serve`` can change."""

    models: list[str] | None = None
    gateway_port: int | None = None
    """None: ``settings.gateway_port``; 0: any free port."""
    auth: bool | None = None
    """None: ``settings.auth_enabled``."""
    ready_timeout_s: float = 180.0
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)


@dataclass
class _Supervised:
    child: Child
    budget: RestartBudget
    status: ChildStatus = "starting"
    restarts: int = 0
    restart_at: float | None = None


class StackSupervisor:
    """Starts, watches and stops the local stack; mirrors it into ``stack.json``."""

    def __init__(self, settings: Settings, options: ServeOptions, console: Console | None = None) -> None:
        self.settings = settings
        self.options = options
        self.console = console or Console(stderr=True)
        self.stop_requested = threading.Event()
        self.plan: StackPlan | None = None
        self._children: dict[str, _Supervised] = {}
        self._state: StackState | None = None
        self._started = time.monotonic()
        self._stopped = False

    @property
    def state(self) -> StackState:
        if self._state is None:
            raise UsageError("the stack is not started", hint="call start() first")
        return self._state

    # --- start ---------------------------------------------------------------------------

    def start(self) -> StackState:
        """Resolve champions, build the repository, start every child and wait until all are ready."""
        self._started = time.monotonic()
        refuse_if_running(self.settings)
        auth = self.settings.auth_enabled if self.options.auth is None else self.options.auth
        port = self.settings.gateway_port if self.options.gateway_port is None else self.options.gateway_port
        with self.console.status("resolving champions and assembling the Triton repository"):
            served, skipped = resolve_served(self.settings, choose_models(self.options.models))
            self.plan = build_plan(self.settings, served, skipped, gateway_port=port, auth=auth)
        for name, reason in skipped.items():
            self.console.print(f"[yellow]warning:[/] not serving {name}: {reason}")
        self._children = {
            spec.name: _Supervised(Child(spec), RestartBudget(self.options.restart_policy))
            for spec in self.plan.children
        }
        self._state = self._initial_state(auth)
        self._write("starting")
        try:
            self._start_phases()
        except BaseException:
            self.stop(final_status="failed")
            raise
        self.state.ready_seconds = round(time.monotonic() - self._started, 1)
        self._write("ready")
        event(log, "stack_ready", seconds=self.state.ready_seconds, gateway=self.state.gateway_url)
        return self.state

    def _start_phases(self) -> None:
        transformers = [n for n in self._children if n not in (TRITON, GATEWAY)]
        deadline = time.monotonic() + self.options.ready_timeout_s
        columns = (SpinnerColumn(), TextColumn("{task.description:<28}"), TextColumn("{task.fields[status]}"))
        with Progress(*columns, TimeElapsedColumn(), console=self.console) as progress:
            tasks = {name: progress.add_task(name, total=1, status="waiting") for name in self._children}
            for phase in ([TRITON], [*transformers, GATEWAY]):
                for name in phase:
                    self._children[name].child.start()
                    progress.update(tasks[name], status="starting")
                self._write("starting")
                self._wait_ready(
                    phase, deadline, lambda n: progress.update(tasks[n], status="ready", completed=1)
                )

    def _wait_ready(self, names: list[str], deadline: float, on_ready: Callable[[str], None]) -> None:
        pending = list(names)
        while pending:
            if self.stop_requested.is_set():
                raise UnavailableError("stopped while starting", hint="run yard serve again")
            for name in list(pending):
                supervised = self._children[name]
                if not supervised.child.is_running():
                    raise UnavailableError(
                        f"{name} exited with code {supervised.child.exit_code()} while starting:\n"
                        + supervised.child.log_tail(),
                        hint=f"read {supervised.child.spec.log_path}",
                    )
                if supervised.child.is_ready():
                    supervised.status = "ready"
                    pending.remove(name)
                    on_ready(name)
            if pending and time.monotonic() > deadline:
                logs = ", ".join(str(self._children[n].child.spec.log_path) for n in pending)
                raise UnavailableError(
                    f"not ready within {self.options.ready_timeout_s:.0f} s: {', '.join(pending)}",
                    hint=f"read {logs}, or raise --ready-timeout",
                )
            time.sleep(POLL_S)

    # --- supervise -----------------------------------------------------------------------

    def supervise(self) -> None:
        """Watch the children until ``stop_requested``; restart crashed ones, one at a time."""
        while not self.stop_requested.wait(SUPERVISE_POLL_S):
            if any([self._tick(supervised, time.monotonic()) for supervised in self._children.values()]):
                all_ready = all(s.status == "ready" for s in self._children.values())
                self._write("ready" if all_ready else "degraded")

    def _tick(self, supervised: _Supervised, now: float) -> bool:
        """Advance one child's state machine; True when its state changed."""
        child = supervised.child
        if supervised.status in ("starting", "ready") and not child.is_running():
            delay = supervised.budget.on_crash(now)
            fields = {"child": child.name, "exit_code": child.exit_code(), "log": str(child.spec.log_path)}
            if delay is None:
                supervised.status = "failed"
                event(log, "child_gave_up", logging.ERROR, restarts=supervised.restarts, **fields)
            else:
                supervised.status, supervised.restart_at = "restarting", now + delay
                event(log, "child_crashed", logging.WARNING, restart_in_s=delay, **fields)
            return True
        if supervised.status == "restarting" and now >= (supervised.restart_at or now):
            child.signal_group(signal.SIGKILL)  # leftovers of the crashed group (e.g. Triton stubs)
            child.start()
            supervised.status, supervised.restart_at = "starting", None
            supervised.restarts += 1
            event(log, "child_restarted", child=child.name, pid=child.pid, restarts=supervised.restarts)
            return True
        if supervised.status == "starting" and child.is_ready():
            supervised.status = "ready"
            event(log, "child_ready", child=child.name, pid=child.pid)
            return True
        return False

    # --- stop ----------------------------------------------------------------------------

    def stop(self, final_status: StackStatus = "stopped") -> None:
        """Drain and stop: gateway, then transformers, then Triton (each with its grace)."""
        if not self._children or self._stopped:
            return
        self._stopped = True
        self._write("stopping")
        gateway = [s.child for n, s in self._children.items() if n == GATEWAY]
        transformers = [s.child for n, s in self._children.items() if n not in (GATEWAY, TRITON)]
        triton = [s.child for n, s in self._children.items() if n == TRITON]
        for group in (gateway, transformers, triton):
            stop_children(group, max((c.spec.grace_s for c in group), default=0.0))
        for supervised in self._children.values():
            supervised.status = "stopped"
        self._write(final_status)
        event(log, "stack_stopped", status=final_status)

    def run_until_signalled(self, on_ready: Callable[[StackState], None]) -> int:
        """Foreground mode: start, call ``on_ready``, supervise until SIGTERM/SIGINT, stop."""
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            on_ready(self.start())
            self.supervise()
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _request_stop(self, signum: int, frame: object) -> None:
        event(log, "stack_stop_requested", signal=signal.Signals(signum).name)
        self.stop_requested.set()

    # --- state ---------------------------------------------------------------------------

    def _initial_state(self, auth: bool) -> StackState:
        plan = self.plan
        assert plan is not None
        gateway = plan.child(GATEWAY)
        key_from_env = self.settings.api_key is not None
        admin_from_env = self.settings.admin_key is not None
        models = {
            model.name: ModelState(
                name=model.name,
                version=model.resolved.version,
                run_id=model.resolved.run_id,
                alias="champion",
                triton_models={
                    name: versions
                    for name, versions in plan.triton_models.items()
                    if name in model.artifacts.triton_models()
                },
                transformer=model.transformer,
                upstream_url=plan.child(model.transformer).url,
                replica_urls=plan.transformer_urls(model.name)[1:],
                artifact_dir=str(model.artifacts.root),
            )
            for model in plan.served
        }
        return StackState(
            supervisor_pid=os.getpid(),
            supervisor_start_ticks=start_ticks(os.getpid()),
            started_at=time.time(),
            host=self.settings.host,
            gateway_url=gateway.url,
            auth=auth,
            api_key_file=str(self.settings.api_key_file) if auth and not key_from_env else None,
            admin_key_file=str(self.settings.admin_key_file) if auth and not admin_from_env else None,
            model_repository=str(plan.model_repository),
            logs_dir=str(serving_dir(self.settings) / "logs"),
            models=models,
            skipped=plan.skipped,
        )

    def _write(self, status: StackStatus) -> None:
        if self._state is None:
            return
        self._state.status = status
        self._state.children = {
            name: ChildState(
                name=name,
                pid=s.child.pid,
                start_ticks=s.child.start_ticks,
                status=s.status,
                url=s.child.spec.url,
                ready_url=s.child.spec.ready_url,
                ports=s.child.spec.ports,
                log=str(s.child.spec.log_path),
                restarts=s.restarts,
            )
            for name, s in self._children.items()
        }
        write_state(state_path(self.settings), self._state)


def refuse_if_running(settings: Settings) -> None:
    """One stack per state dir: a live supervisor in ``stack.json`` is a usage error.

    Children left behind by a supervisor that was killed outright are stopped here, so they
    cannot hold ports or the embedded index against the new stack.
    """

    if not state_path(settings).is_file():
        return
    state = read_state(settings)
    if state.status == "stopped":
        return
    if is_same_process(state.supervisor_pid, state.supervisor_start_ticks):
        raise UsageError(
            f"a stack is already running here (supervisor pid {state.supervisor_pid}, {state.gateway_url})",
            hint="yard serve stop (or yard serve status)",
        )
    orphans = [c.name for c in state.children.values() if c.pid and kill_group_if_same(c.pid, c.start_ticks)]
    if orphans:
        event(log, "orphans_stopped", logging.WARNING, children=orphans, dead_supervisor=state.supervisor_pid)
