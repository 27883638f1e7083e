"""``python -m bench.plain_kserve``: the serving benchmark's baseline, one model version in a plain
single-process KServe ModelServer without Triton (what a user would write without this platform).

It runs the transformer's own code (codecs, featurisation, Qdrant searches, re-ranking) with one
difference: its predictor is the version's TorchScript modules, called in this process on the event
loop, one request at a time, as a hand-written KServe model calls its model; torch gets the same
threads as Triton's python backend (``MODELYARD_PREDICTOR_CPU_THREADS``). Only the predictor
differs, which is what makes the comparison fair. Its own process: kserve cannot share one with
``tritonclient.grpc``, and its CPU is accounted apart from the benchmark's load generator.

    python -m bench.plain_kserve --model_name ranking --version 3 --artifact_dir DIR --http_port 8090
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bench.torchscript import TorchScriptModels
from modelyard.net import free_ports
from serving.stack.processes import Child, ChildSpec, stop_children
from serving.transformer.version import VersionState

HOST = "127.0.0.1"
"""Loopback only, whatever MODELYARD_HOST says: a measurement baseline is never exposed."""
READY_TIMEOUT_S = 180.0
STOP_GRACE_S = 15.0


class TorchScriptPredictor:
    """A ``serving.transformer.predictor.Predictor`` answering from in-process TorchScript."""

    host = "in-process"
    protocol = "torchscript"

    def __init__(self, models: TorchScriptModels) -> None:
        self.models = models

    async def infer(
        self, model: str, version: str, inputs: dict[str, np.ndarray], request_id: str = ""
    ) -> dict[str, np.ndarray]:
        return self.models.forward(model, inputs)


@contextmanager
def plain_server(
    state: VersionState, env: dict[str, str], log_dir: Path, name: str = "plain-kserve"
) -> Iterator[Child]:
    """This module's server for ``state`` on a free loopback port, until ready; stopped on exit
    (``name``: its log's and child's name, when one model has two)."""
    port = free_ports(1, HOST)[0]
    url = f"http://{HOST}:{port}"
    command = [
        sys.executable, "-m", "bench.plain_kserve",
        "--model_name", state.model,
        "--version", str(state.version),
        "--artifact_dir", str(state.artifact_dir),
        "--http_port", str(port),
    ]  # fmt: skip
    spec = ChildSpec(
        name=f"{name}-{state.model}",
        command=command,
        ready_url=f"{url}/v2/health/ready",
        log_path=log_dir / f"{name}-{state.model}.log",
        url=url,
        ports={"http": port},
        env=env,
        grace_s=STOP_GRACE_S,
    )
    child = Child(spec)
    child.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not child.is_ready():
            if not child.is_running():
                raise RuntimeError(f"{spec.name} exited {child.exit_code()}:\n{child.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{spec.name} not ready in {READY_TIMEOUT_S:.0f} s:\n{child.log_tail()}")
            time.sleep(0.5)
        yield child
    finally:
        stop_children([child], STOP_GRACE_S)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # lazy: loaded when this bench runs: each bench pulls in only the floors it measures
    from modelyard.logs import configure as configure_logging
    from modelyard.settings import get_settings
    from serving.transformer.models import TRANSFORMERS
    from serving.transformer.server import HostModelServer
    from serving.transformer.version import read_version_state

    configure_logging()
    state = read_version_state(args.model_name, args.version, args.artifact_dir)
    predictor = TorchScriptPredictor(TorchScriptModels(state))
    transformer = TRANSFORMERS[args.model_name](state, predictor, get_settings())
    transformer.load()
    HostModelServer(HOST, http_port=args.http_port, enable_grpc=False).start([transformer])
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.plain_kserve", description=__doc__.splitlines()[0])
    parser.add_argument("--model_name", required=True, help="visual-search, moderation or ranking")
    parser.add_argument("--version", type=int, required=True, help="the registered version number")
    parser.add_argument("--artifact_dir", type=Path, required=True, help="the version's downloaded folder")
    parser.add_argument("--http_port", type=int, required=True)
    return parser


if __name__ == "__main__":
    sys.exit(main())
