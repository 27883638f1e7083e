"""Every runnable example of README.md and docs/*.md, run verbatim against the shared live stack.

Which blocks run, which are only checked and which are skipped is decided by the rule in
tests/docs_examples.py. A block runs as one bash script with ``set -euo pipefail``, in a folder
where ``.modelyard`` is the stack's state dir (as after ``make demo``), with ``yard`` on PATH;
``curl`` gets ``--fail-with-body``, so any answer that is not 2xx fails the block, and so does any
``yard`` command that exits non-zero. The one text substitution: the docs' gateway address
(``localhost:8080``, ``127.0.0.1:8080``) becomes the stack's, which runs on a free port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs_examples import CLUSTER, RUN, Block, examples

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCS_GATEWAY = ("localhost:8080", "127.0.0.1:8080")
BLOCK_TIMEOUT_S = 120
_PREAMBLE = 'set -euo pipefail\ncurl() { command curl --fail-with-body --show-error --max-time 60 "$@"; }\n'


@pytest.fixture(scope="module")
def docs_shell(served_stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """(working folder, environment, gateway host:port) shared by every block, in document order."""
    settings, state, untrained = served_stack
    if untrained:
        pytest.skip(f"the examples query all three models; not served: {untrained}")
    folder = tmp_path_factory.mktemp("docs-examples")
    (folder / ".modelyard").symlink_to(settings.state_dir, target_is_directory=True)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MODELYARD_STATE_DIR": str(settings.state_dir),
        "MODELYARD_FASHION_MNIST_SOURCE": str(settings.fashion_mnist_source),
        "MODELYARD_SPAMASSASSIN_SOURCE": str(settings.spamassassin_source),
        "COLUMNS": "80",
    }
    if settings.movielens_source is not None:
        env["MODELYARD_MOVIELENS_SOURCE"] = str(settings.movielens_source)
    return folder, env, state.gateway_url.removeprefix("http://")


def _runnable() -> list[Block]:
    return examples(RUN)


@pytest.mark.parametrize("block", _runnable(), ids=lambda block: block.where)
def test_the_example_runs_against_a_live_stack(block: Block, docs_shell) -> None:
    folder, env, gateway = docs_shell
    script = block.text
    for address in DOCS_GATEWAY:
        script = script.replace(address, gateway)
    done = subprocess.run(
        ["bash", "-c", _PREAMBLE + script],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )
    assert done.returncode == 0, (
        f"{block.where} failed (exit {done.returncode}):\n{block.text}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )


@pytest.mark.parametrize("block", examples(CLUSTER), ids=lambda block: block.where)
def test_cluster_examples_are_listed_as_skipped(block: Block) -> None:
    pytest.skip(f"{block.where} is marked `{CLUSTER}`: needs Kubernetes, a container engine or S3")
