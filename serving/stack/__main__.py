"""``python -m serving.stack``: run the supervisor in the foreground (what ``yard serve --detach`` starts)."""

from __future__ import annotations

import argparse
import sys

from modelyard.errors import ModelyardError
from modelyard.logs import configure as configure_logging
from modelyard.settings import get_settings
from serving.stack.state import StackState
from serving.stack.supervisor import ServeOptions, StackSupervisor


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()
    options = ServeOptions(
        models=args.models.split(",") if args.models else None,
        gateway_port=args.port,
        auth=False if args.no_auth else None,
        ready_timeout_s=args.ready_timeout,
    )
    try:
        return StackSupervisor(get_settings(), options).run_until_signalled(_announce)
    except ModelyardError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


def _announce(state: StackState) -> None:
    versions = ", ".join(f"{name}@{model.version}" for name, model in state.models.items())
    print(f"stack ready in {state.ready_seconds} s: {state.gateway_url} serving {versions}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m serving.stack", description=__doc__)
    parser.add_argument("--models", default=None, help="comma-separated (default: all three)")
    parser.add_argument(
        "--port", type=int, default=None, help="gateway port (default: MODELYARD_GATEWAY_PORT)"
    )
    parser.add_argument("--no-auth", action="store_true", help="serve model routes WITHOUT an API key")
    parser.add_argument("--ready-timeout", type=float, default=180.0)
    return parser


if __name__ == "__main__":
    sys.exit(main())
