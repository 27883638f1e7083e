"""``python -m serving.triton``: run Triton on a repository (supervisor, Helm chart, dev).

``serve`` runs in the foreground until SIGTERM/SIGINT and exits with Triton's code;
``configure`` sets the instance kind/count of models in place (an init step before a stock
``tritonserver`` starts, e.g. in the official image).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from modelyard.artifact.layout import list_models
from modelyard.artifact.triton_config import INSTANCE_KINDS, configure_instances
from modelyard.errors import ModelyardError
from modelyard.logs import configure as configure_logging


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()
    try:
        return args.run(args)
    except ModelyardError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


def _serve(args: argparse.Namespace) -> int:
    # lazy: loaded after the arguments parse, so --help and usage errors answer at once
    from serving.triton.server import TritonServer

    server = TritonServer(
        args.repository,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        host=args.host,
        model_control=args.model_control,
        load_models=args.load_model,
        log_dir=args.log_dir,
        instance_kind=args.instance_kind,
        instance_count=args.instance_count,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.start().wait_ready(args.ready_timeout)
        print(f"triton ready: http {server.url}  grpc {server.grpc_url}  metrics {server.metrics_url}")
        print(f"log: {server.log_path}", flush=True)
        return server.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so ``finally`` stops Triton outside the signal handler."""
    raise KeyboardInterrupt


def _configure(args: argparse.Namespace) -> int:
    for name in args.model or list_models(args.repository):
        group = configure_instances(args.repository / name, args.kind, args.count)
        print(f"{name}: {group.kind} x {group.count}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serving.triton", description=__doc__)
    commands = parser.add_subparsers(required=True)

    serve = commands.add_parser("serve", help="run tritonserver in the foreground")
    serve.add_argument("--repository", type=Path, required=True, help="model repository folder")
    serve.add_argument("--http-port", type=int, default=8000)
    serve.add_argument("--grpc-port", type=int, default=8001)
    serve.add_argument("--metrics-port", type=int, default=8002)
    serve.add_argument("--host", default=None, help="bind address (default: MODELYARD_HOST, 127.0.0.1)")
    serve.add_argument("--model-control", choices=["explicit", "none"], default="explicit")
    serve.add_argument(
        "--load-model", action="append", default=None, help="model to load (repeat; default: all)"
    )
    serve.add_argument(
        "--instance-kind", choices=INSTANCE_KINDS, default=None, help="default: MODELYARD_DEVICE"
    )
    serve.add_argument("--instance-count", type=int, default=None, help="default: keep each model's count")
    serve.add_argument("--log-dir", type=Path, default=None, help="default: <state_dir>/triton/logs")
    serve.add_argument("--ready-timeout", type=float, default=180.0)
    serve.set_defaults(run=_serve)

    configure = commands.add_parser("configure", help="set instance kind/count in config.pbtxt files")
    configure.add_argument("--repository", type=Path, required=True)
    configure.add_argument("--kind", choices=INSTANCE_KINDS, required=True)
    configure.add_argument("--count", type=int, default=None, help="default: keep each model's count")
    configure.add_argument(
        "--model", action="append", default=None, help="model to change (repeat; default: all)"
    )
    configure.set_defaults(run=_configure)
    return parser


if __name__ == "__main__":
    sys.exit(main())
