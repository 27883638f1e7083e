"""Live training progress on the driver: workers push events into a Ray queue, a thread draws them.

Rank 0 puts ``{"kind": "batch", ...}`` every few batches and ``{"kind": "epoch", ...}`` after each
epoch; the driver shows a progress bar per epoch and prints one readable line per finished epoch.
(Ray Train's own reporting runs in its controller actor, out of reach of the driver's console.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

POLL_SECONDS = 0.5


@contextmanager
def epoch_progress(
    console: Console, model: str, epochs: int, rows_per_epoch: int, enabled: bool = True
) -> Iterator[Any]:
    """Yields the queue to hand to the workers (None when disabled, e.g. ``--json``)."""
    if not enabled:
        yield None
        return
    # lazy: ray takes seconds to import; only this path needs it
    from ray.util.queue import Empty, Queue

    queue = Queue(actor_options={"num_cpus": 0})
    stop = threading.Event()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        current = bar.add_task(f"{model} waiting for workers", total=rows_per_epoch)

        def draw() -> None:
            while True:  # after ``stop``, keep going until the queue is drained
                try:
                    item = queue.get(timeout=POLL_SECONDS)
                except Empty:
                    if stop.is_set():
                        return
                    continue
                if item["kind"] == "batch":
                    bar.update(
                        current, description=f"{model} epoch {item['epoch']}/{epochs}", completed=item["rows"]
                    )
                else:
                    bar.console.print(format_epoch(model, epochs, item))
                    bar.update(current, completed=0)

        drawer = threading.Thread(target=draw, name="train-progress", daemon=True)
        drawer.start()
        try:
            yield queue
        finally:
            stop.set()
            drawer.join()
            queue.shutdown()


def format_epoch(model: str, epochs: int, metrics: dict[str, Any]) -> str:
    return (
        f"[cyan]{model}[/] epoch {int(metrics['epoch'])}/{epochs}  "
        f"train_loss [bold]{metrics['train_loss']:.4f}[/]  val_loss [bold]{metrics['val_loss']:.4f}[/]  "
        f"lr {metrics['lr']:.2e}  {metrics['epoch_seconds']:.1f}s"
    )
