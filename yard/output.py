"""Console output shared by every command: rich for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one line, whatever the width


def emit_json(payload: Any) -> None:
    """Print machine-readable output on stdout, nothing else."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
