"""Connecting to Ray: a local Ray started (and stopped) by the command, or an existing cluster.

A Ray already initialised in this process (e.g. a test session's) is reused and left running.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from modelyard.errors import UnavailableError
from modelyard.logs import adopt_library_logger, event
from modelyard.settings import Settings

log = logging.getLogger(__name__)


@contextmanager
def ray_session(settings: Settings, address: str | None = None) -> Iterator[None]:
    """Ray for the duration of one command: ``address`` (or ``MODELYARD_RAY_ADDRESS``) joins a
    cluster, otherwise a local Ray with every CPU of this machine, its files in ``ray_temp_dir``."""
    # lazy: ray takes seconds to import; only this path needs it
    import ray

    adopt_library_logger("ray")  # Ray's own handler prints plain lines past our log format
    if ray.is_initialized():
        yield
        return
    address = address or settings.ray_address
    quiet_ray_data()
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            settings.ray_temp_dir.mkdir(parents=True, exist_ok=True)
            ray.init(
                num_cpus=os.cpu_count(),
                include_dashboard=False,
                _temp_dir=str(settings.ray_temp_dir),
                log_to_driver=False,
            )
    except (ConnectionError, RuntimeError) as exc:
        raise UnavailableError(
            f"cannot start or reach Ray ({address or 'local'}): {exc}",
            hint="check MODELYARD_RAY_ADDRESS / --address, or unset it to start a local Ray"
            " (MODELYARD_RAY_TEMP_DIR must be a short path)",
        ) from exc
    event(log, "ray_started", address=address or "local", cpus=ray.cluster_resources().get("CPU"))
    try:
        yield
    finally:
        ray.shutdown()


def quiet_ray_data() -> None:
    """Ray Data's per-dataset progress bars would drown the per-epoch lines on the console."""
    # lazy: ray takes seconds to import; only this path needs it
    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False


def cuda_available() -> bool:
    # lazy: torch takes seconds to import; only this path needs it
    import torch

    return torch.cuda.is_available()
