"""Soak on the shared stack (``served_stack``): steady concurrent load mixing the three models through
the gateway for ``MODELYARD_SOAK_SECONDS`` (default 60: the CI version; the long one is
``python -m bench --only soak``, measured by the same ``measure_soak``).

No request may fail, p99 must stay flat and the whole stack's resident memory must not grow by 10 %
or more between the first window after the warm-up and the last.
"""

from __future__ import annotations

import os

import pytest
from rich.console import Console
from rich.table import Table

from bench.soak_bench import measure_soak, mixed_requests, window_table
from serving.stack.state import read_state
from tests.integration.faults import key_header

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECONDS = float(os.environ.get("MODELYARD_SOAK_SECONDS", "60"))
WINDOWS = 6
"""The run is cut into this many windows; the first is the warm-up."""
CONCURRENCY = 8
P99_FACTOR = 3.0
"""Generous: the machine is shared and noisy; a leak or a growing queue shows as far more."""
RSS_GROWTH_LIMIT = 0.10


def test_soak_has_no_errors_a_flat_p99_and_no_memory_growth(served_stack) -> None:
    settings, _, _ = served_stack
    state = read_state(settings)
    make_request = mixed_requests(settings, state)

    soak = measure_soak(
        state.gateway_url,
        make_request,
        key_header(settings),
        state.supervisor_pid,
        seconds=SECONDS,
        window_s=SECONDS / WINDOWS,
        warmup_windows=1,
        concurrency=CONCURRENCY,
    )

    columns, rows = window_table(soak)
    table = Table(
        *columns, title=f"soak: {SECONDS:.0f} s at concurrency {CONCURRENCY}, {sorted(state.models)}"
    )
    for row in rows:
        table.add_row(*map(str, row))
    Console(width=120).print(table)
    assert soak.requests > 0 and soak.errors == 0, soak.failures
    assert soak.p99_drift <= P99_FACTOR, f"p99 drifted x{soak.p99_drift:.2f}"
    assert soak.rss_growth < RSS_GROWTH_LIMIT, f"stack RSS grew {soak.rss_growth:+.1%}"
