"""``python -m serving.transformer``: serve one model version as a KServe transformer.

    python -m serving.transformer --model_name moderation (--version N | --alias champion)
        --predictor_host 127.0.0.1:8001 --predictor_protocol grpc-v2 --http_port 8080 --grpc_port 8081
        [--artifact_dir DIR]

Flag names are kserve's (the Helm chart and KServe pass ``--model_name``, ``--predictor_host``,
``--predictor_protocol`` and ``--http_port``); every kserve ModelServer flag is accepted. With
no version flag the champion is served. Binds ``MODELYARD_HOST`` (default 127.0.0.1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modelyard.errors import ModelyardError, UsageError
from modelyard.logs import configure as configure_logging
from modelyard.settings import get_settings

DEFAULT_PREDICTOR_TIMEOUT_S = 30


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()
    try:
        return _serve(args)
    except ModelyardError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


def _serve(args: argparse.Namespace) -> int:
    # lazy: loaded after the arguments parse, so --help and usage errors answer at once
    from serving.transformer.models import TRANSFORMERS
    from serving.transformer.predictor import PROTOCOLS, TritonPredictor
    from serving.transformer.server import HostModelServer
    from serving.transformer.version import resolve_version_state

    if args.model_name not in TRANSFORMERS:
        raise UsageError(
            f"no transformer for model {args.model_name!r}", hint=f"use one of {sorted(TRANSFORMERS)}"
        )
    if args.predictor_protocol not in PROTOCOLS or not args.predictor_host:
        raise UsageError(
            f"the predictor is {args.predictor_protocol} at {args.predictor_host!r}",
            hint="give --predictor_host and --predictor_protocol grpc-v2 (Triton gRPC port) or v2 (HTTP)",
        )
    settings = get_settings()
    alias = args.alias or (None if args.version is not None else "champion")
    state = resolve_version_state(
        settings, args.model_name, version=args.version, alias=alias, artifact_dir=args.artifact_dir
    )
    predictor = TritonPredictor(
        args.predictor_host, args.predictor_protocol, args.predictor_request_timeout_seconds
    )
    transformer = TRANSFORMERS[args.model_name](state, predictor, settings)
    transformer.load()
    server = HostModelServer(
        settings.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        enable_grpc=args.enable_grpc,
        workers=args.workers,
    )
    server.start([transformer])
    return 0


def _parser() -> argparse.ArgumentParser:
    # lazy: loaded after the arguments parse, so --help and usage errors answer at once
    from kserve import model_server

    parser = argparse.ArgumentParser(
        prog="python -m serving.transformer",
        parents=[model_server.parser],
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--version", type=int, default=None, help="registered version number to serve")
    which.add_argument(
        "--alias", default=None, help="registry alias to serve (champion, challenger, previous)"
    )
    parser.add_argument(
        "--artifact_dir", type=Path, default=None, help="serve this exported version folder (needs --version)"
    )
    parser.set_defaults(
        predictor_protocol="grpc-v2", predictor_request_timeout_seconds=DEFAULT_PREDICTOR_TIMEOUT_S
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
