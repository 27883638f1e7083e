"""The command KubeRay v1.7 runs in a RayJob's submitter pod (K8sJobMode), and a check of it.

``BuildJobSubmitCommand`` joins its words with spaces and the submitter runs them with
``/bin/bash -ce --``: the entrypoint is pasted in unquoted, so shell syntax in it (``&&``, ``;``)
splits it. ``check_submitter`` runs that exact command in bash with stand-ins for ``ray`` (which
runs the submitted entrypoint the way a Ray job does: ``list2cmdline`` of the words after ``--``,
through a shell) and for ``yard`` (which records where it ran), so a step that would run in the
submitter pod instead of on the Ray cluster is caught.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARD_HEALTH = "api/gcs_healthz"
HEALTH_TIMEOUT_S = 10
_HEALTH = "python -c \"import urllib.request; r=urllib.request.urlopen('{url}', timeout={timeout}); exit(0 if b'success' in r.read() else 1)\""  # noqa: E501
SUBMITTER_COMMAND = ["/bin/bash", "-ce", "--"]
CHECK_TIMEOUT_S = 30


def submit_command(rayjob: dict[str, Any], dashboard_url: str, job_id: str) -> list[str]:
    """KubeRay v1.7's ``BuildJobSubmitCommand`` for K8sJobMode, word for word."""
    address = dashboard_url if dashboard_url.startswith("http://") else f"http://{dashboard_url}"
    entrypoint = rayjob["spec"]["entrypoint"].strip()
    health = _HEALTH.format(url=f"{address}/{DASHBOARD_HEALTH}", timeout=HEALTH_TIMEOUT_S)
    waiting = json.dumps(f"Waiting for Ray Dashboard GCS to become healthy at {address} ...")
    words = [
        "until",
        health,
        ">/dev/null",
        "2>&1",
        ";",
        "do",
        "echo",
        waiting,
        ";",
        "sleep",
        "2",
        ";",
        "done",
        ";",
    ]
    words += [
        "if",
        "!",
        "ray",
        "job",
        "status",
        "--address",
        address,
        job_id,
        ">/dev/null",
        "2>&1",
        ";",
        "then",
    ]
    words += ["ray", "job", "submit", "--address", address, "--no-wait", "--submission-id", job_id]
    words += [
        "--",
        entrypoint,
        ";",
        "fi",
        ";",
        "ray",
        "job",
        "logs",
        "--address",
        address,
        "--follow",
        job_id,
    ]
    return words


def submitter_argv(rayjob: dict[str, Any], dashboard_url: str, job_id: str) -> list[str]:
    """The submitter container's command and single argument (``configureSubmitterContainer``)."""
    return [*SUBMITTER_COMMAND, " ".join(submit_command(rayjob, dashboard_url, job_id))]


@dataclass(frozen=True)
class SubmitterCheck:
    """Where each ``yard`` invocation of a RayJob ran: in the Ray job or in the submitter pod."""

    rayjob: str
    in_job: list[list[str]]
    in_submitter: list[list[str]]
    exit_code: int
    output: str

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and bool(self.in_job) and not self.in_submitter


_RAY_STAND_IN = """#!{python}
# Stand-in for the Ray CLI (the rehearsal's KubeRay check): `job status` says "not submitted",
# `job submit ... -- WORDS` runs the entrypoint as a Ray job does (list2cmdline, then a shell).
import os, subprocess, sys
args = sys.argv[1:]
if args[:2] == ["job", "submit"]:
    entrypoint = subprocess.list2cmdline(args[args.index("--") + 1:])
    sys.exit(subprocess.call(entrypoint, shell=True, env={{**os.environ, "REHEARSAL_IN_RAY_JOB": "1"}}))
sys.exit(1 if args[:2] == ["job", "status"] else 0)
"""
_YARD_STAND_IN = """#!{python}
# Stand-in for `yard` (the rehearsal's KubeRay check): records its arguments and where it ran.
import json, os, sys
where = "job" if os.environ.get("REHEARSAL_IN_RAY_JOB") else "submitter"
with open(os.environ["REHEARSAL_RECORD"], "a") as record:
    record.write(json.dumps([where, sys.argv[1:]]) + "\\n")
"""
_PYTHON_STAND_IN = "#!/bin/sh\n# Stand-in for the submitter's dashboard health check: healthy.\nexit 0\n"


def check_submitter(rayjob: dict[str, Any], dashboard_url: str = "head-svc:8265") -> SubmitterCheck:
    """Run KubeRay's submitter command for ``rayjob`` in bash with stand-in ``ray``/``yard``/``python``."""
    name = rayjob["metadata"]["name"]
    with tempfile.TemporaryDirectory(prefix="rehearsal-kuberay-") as tmp:
        bin_dir, record = Path(tmp) / "bin", Path(tmp) / "record.jsonl"
        bin_dir.mkdir()
        for tool, text in {
            "ray": _RAY_STAND_IN.format(python=sys.executable),
            "yard": _YARD_STAND_IN.format(python=sys.executable),
            "python": _PYTHON_STAND_IN,
        }.items():
            (bin_dir / tool).write_text(text)
            (bin_dir / tool).chmod(0o755)
        record.touch()
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "REHEARSAL_RECORD": str(record), "HOME": tmp}
        proc = subprocess.run(
            submitter_argv(rayjob, dashboard_url, f"{name}-rehearsal"),
            env=env,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
            check=False,
        )
        calls = [json.loads(line) for line in record.read_text().splitlines()]
    return SubmitterCheck(
        rayjob=name,
        in_job=[argv for where, argv in calls if where == "job"],
        in_submitter=[argv for where, argv in calls if where == "submitter"],
        exit_code=proc.returncode,
        output=(proc.stdout + proc.stderr).strip()[-400:],
    )


def describe(check: SubmitterCheck) -> str:
    job = "; ".join("yard " + " ".join(argv) for argv in check.in_job) or "nothing"
    text = f"in the Ray job: {job}"
    if check.in_submitter:
        stray = "; ".join("yard " + " ".join(argv) for argv in check.in_submitter)
        text += f"; IN THE SUBMITTER POD (no MODELYARD_* env, read-only root): {stray}"
    if check.exit_code != 0:
        text += f"; bash exited {check.exit_code}: {check.output}"
    return text
