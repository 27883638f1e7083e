"""``python -m deploy.rehearsal`` (``make k8s-rehearsal``): run the rendered chart's pods, print the table.

Exit code 0 when every check passed, 1 when one failed, 2 for a usage error, 130 on Ctrl-C.
Needs root (network namespaces). Everything it made is removed on exit, also on Ctrl-C or
SIGTERM; what a killed run left behind is removed by the next run.
"""

from __future__ import annotations

import argparse
import atexit
import signal
import sys
from pathlib import Path

from modelyard.errors import ModelyardError
from modelyard.logs import configure as configure_logging

from .manifests import CHART
from .run import LOGS, Options, Rehearsal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.rehearsal", description=__doc__)
    parser.add_argument(
        "--images", action="store_true", help="run the pods from our images (make images-offline) with podman"
    )
    parser.add_argument(
        "--source", type=Path, default=None,
        help="state dir whose champions are copied into the chart's MLflow "
        "(default: .modelyard/rehearsal-source, smoke-trained on first use)",
    )  # fmt: skip
    parser.add_argument(
        "--set", dest="set_values", action="append", default=[], help="helm --set, repeatable"
    )
    parser.add_argument(
        "--chart", type=Path, default=CHART, help="the chart folder to rehearse (default: charts/modelyard)"
    )
    args = parser.parse_args(argv)
    configure_logging()
    signal.signal(signal.SIGTERM, _interrupt)
    options = Options(images=args.images, source=args.source, set_values=args.set_values, chart=args.chart)
    rehearsal = Rehearsal(options)
    try:
        with rehearsal:
            atexit.register(rehearsal.close)
            report = rehearsal.run()
    except KeyboardInterrupt:
        print("\ninterrupted: everything the rehearsal started is stopped and removed", file=sys.stderr)
        return 130
    except ModelyardError as error:
        print(rehearsal.report.render(), flush=True)
        print(f"error: {error}\npod logs: {LOGS}", file=sys.stderr)
        return 1 if rehearsal.report.rows else error.exit_code
    print(report.render(), flush=True)
    print(f"pod logs: {LOGS}")
    return 0 if report.ok else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
