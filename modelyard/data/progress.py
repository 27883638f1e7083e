"""Progress bars for long data steps, on stderr so ``--json`` output on stdout stays clean."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from rich.console import Console
from rich.progress import track

T = TypeVar("T")

_console = Console(stderr=True)


def progress(items: Sequence[T], description: str) -> Iterable[T]:
    """Iterate ``items`` behind a transient progress bar (silent when stderr is not a terminal)."""
    return track(
        items,
        description=description,
        total=len(items),
        console=_console,
        transient=True,
        disable=not _console.is_terminal,
    )
