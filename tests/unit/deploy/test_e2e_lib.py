"""deploy/kind/e2e.sh's checks can fail: each function of e2e-lib.sh run in bash against stand-in
``kubectl`` and ``curl`` scripts on PATH (no cluster here), answering what a broken cluster would.
Plus the script's own shape: bash 3.2 constructs only, no check hidden where `set -e` cannot see it,
and ``make kind-e2e`` installs the venv its step 3 needs before the hour-long steps 1 and 2.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from deploy.rehearsal.manifests import REPO_ROOT

KIND = REPO_ROOT / "deploy" / "kind"
LIB = KIND / "e2e-lib.sh"
REQUESTS = KIND / "requests"


def stand_in(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + script)
    path.chmod(0o755)


def run_lib(call: str, bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``call`` in bash with the library sourced, stand-ins first on PATH, like e2e.sh (set -euo pipefail)."""
    script = f"set -euo pipefail; source {LIB}; {call}"
    full_env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "NAMESPACE": "modelyard",
        "REQUESTS": str(REQUESTS),
        "E2E_POLL_S": "0.1",
        **env,
    }
    return subprocess.run(
        ["/bin/bash", "-c", script], capture_output=True, text=True, env=full_env, timeout=60
    )


# A stand-in gateway: 401 without the key, otherwise 200 with every body field a cluster returns;
# STAND_IN_STATUS forces one status for every request (a broken cluster).
CURL = r"""
out=""; key=""; url=""
while (($#)); do
  case "$1" in
    -o) out=$2; shift ;;
    -H) [[ "$2" == X-API-Key:* ]] && key=${2#X-API-Key: } ;;
    -w|--data) shift ;;
    http*) url=$1 ;;
  esac
  shift
done
if [[ -n "${STAND_IN_STATUS:-}" ]]; then code=$STAND_IN_STATUS; body='{"error": "stand-in failure"}'
elif [[ "$key" != "the-key" ]]; then code=401; body='{"error": "invalid API key"}'
else code=200; body='{"outputs": [{"name": "decision"}, {"name": "item_ids"}, {"name": "ids"}]}'; fi
printf '%s' "$body" > "$out"
printf '%s' "$code"
"""


def test_queries_pass_against_a_gateway_that_answers_like_a_cluster(tmp_path: Path) -> None:
    stand_in(tmp_path, "curl", CURL)
    proc = run_lib("run_queries http://gateway the-key", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("PASS") == 7


@pytest.mark.parametrize("status", ["500", "503", "000"])
def test_queries_fail_when_the_gateway_answers_otherwise(tmp_path: Path, status: str) -> None:
    stand_in(tmp_path, "curl", CURL)
    proc = run_lib("run_queries http://gateway the-key; echo after", tmp_path, STAND_IN_STATUS=status)
    assert proc.returncode != 0
    assert "after" not in proc.stdout, "set -e must stop the script at a failed check"
    assert f"FAIL moderation v2: HTTP {status} (expected 200" in proc.stderr


def test_queries_fail_with_a_wrong_body_even_on_the_right_status(tmp_path: Path) -> None:
    stand_in(tmp_path, "curl", CURL.replace('"item_ids"', '"something_else"'))
    proc = run_lib("run_queries http://gateway the-key", tmp_path)
    assert proc.returncode != 0
    assert 'FAIL ranking with candidates: HTTP 200 (expected 200, body with "item_ids")' in proc.stderr


def kubectl_status(deployment: str, job: str = "RUNNING") -> str:
    return f"""
case "$*" in
  *jobDeploymentStatus*) echo -n "{deployment}" ;;
  *jobStatus*) echo -n "{job}" ;;
  *reason*) echo -n "BackoffLimitExceeded: the job failed 3 times" ;;
esac
"""


def test_wait_rayjob_ends_at_once_when_kuberay_says_failed(tmp_path: Path) -> None:
    stand_in(tmp_path, "kubectl", kubectl_status("Failed", "FAILED"))
    started = time.monotonic()
    proc = run_lib("wait_rayjob modelyard-train-ranking 3600", tmp_path)
    assert proc.returncode != 0
    assert time.monotonic() - started < 10, "a Failed RayJob must not be waited on for an hour"
    assert "rayjob modelyard-train-ranking Failed: BackoffLimitExceeded" in proc.stderr


def test_wait_rayjob_passes_on_complete_and_succeeded(tmp_path: Path) -> None:
    stand_in(tmp_path, "kubectl", kubectl_status("Complete", "SUCCEEDED"))
    proc = run_lib("wait_rayjob modelyard-train-ranking 60", tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_wait_rayjob_fails_on_complete_without_success(tmp_path: Path) -> None:
    stand_in(tmp_path, "kubectl", kubectl_status("Complete", "STOPPED"))
    proc = run_lib("wait_rayjob modelyard-train-ranking 60", tmp_path)
    assert proc.returncode != 0
    assert "completed with job status STOPPED" in proc.stderr


def test_wait_rayjob_times_out_on_a_job_that_never_finishes(tmp_path: Path) -> None:
    stand_in(tmp_path, "kubectl", kubectl_status("Running"))
    proc = run_lib("wait_rayjob modelyard-train-ranking 1", tmp_path)
    assert proc.returncode != 0
    assert "not finished after 1 s (jobDeploymentStatus: Running)" in proc.stderr


def test_expect_gone_fails_while_the_object_exists(tmp_path: Path) -> None:
    stand_in(tmp_path, "kubectl", "exit 0\n")
    proc = run_lib("expect_gone inferenceservice ranking-v2; echo after", tmp_path)
    assert proc.returncode != 0 and "after" not in proc.stdout
    assert "inferenceservice/ranking-v2 still exists" in proc.stderr
    stand_in(tmp_path, "kubectl", "exit 1\n")
    assert run_lib("expect_gone inferenceservice ranking-v2", tmp_path).returncode == 0


def test_preflight_names_what_is_missing_before_anything_runs(tmp_path: Path) -> None:
    for tool in ("kubectl", "curl", "python3"):
        stand_in(tmp_path, tool, "exit 0\n")
    proc = run_lib(f"preflight {tmp_path / 'no-venv' / 'yard'}", tmp_path, PATH=str(tmp_path))
    assert proc.returncode != 0
    assert "missing: helm" in proc.stderr and "no-venv/yard (run make install)" in proc.stderr


def test_e2e_script_hides_no_check_from_set_e() -> None:
    """A failing command substitution inside another command's arguments, or a check after `!`,
    does not stop a `set -e` script (the old `echo "-- $m: $(infer ...)"` and `! kubectl get ...`)."""
    text = (KIND / "e2e.sh").read_text()
    assert not re.search(r"^\s*(echo|printf)\b.*\$\((infer|curl|kubectl|published_uri)", text, re.MULTILINE)
    assert not re.search(r"^\s*!\s", text, re.MULTILINE)


def test_set_e_really_ignores_those_two_shapes() -> None:
    """Why the rule above: both shapes carry on after a failure in bash."""
    for shape in ('echo "x: $(false)"', "! true"):
        proc = subprocess.run(
            ["bash", "-c", f"set -euo pipefail; {shape}; echo reached"], capture_output=True, text=True
        )
        assert "reached" in proc.stdout


@pytest.mark.parametrize("script", ["e2e.sh", "e2e-lib.sh", "bootstrap.sh"])
def test_kind_scripts_use_no_bash4_only_constructs(script: str) -> None:
    """macOS ships bash 3.2: no associative arrays, mapfile/readarray, case-changing expansions, `|&`."""
    text = "\n".join(line.split("#", 1)[0] for line in (KIND / script).read_text().splitlines())
    for pattern in (r"declare -A", r"\bmapfile\b", r"\breadarray\b", r"\$\{\w+(,,|\^\^)", r"\|&"):
        assert not re.search(pattern, text), f"{script}: {pattern}"


def test_make_kind_e2e_installs_the_venv_first() -> None:
    """e2e.sh step 3 runs .venv/bin/yard: `make kind-e2e` must build it before steps 1 and 2."""
    proc = subprocess.run(
        ["make", "-pn", "kind-e2e"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    rule = next(line for line in proc.stdout.splitlines() if line.startswith("kind-e2e:"))
    prerequisites = rule.split(":", 1)[1].split()
    assert prerequisites[0] == "install", rule
