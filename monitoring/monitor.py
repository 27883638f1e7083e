"""One monitoring pass: a window of logged traffic against the serving version's reference profile.

``run`` reads the payload log of the window, keeps the version that answered most of it, turns its
rows into signals with the functions the profile was made with, tests every signal (``drift``),
adds the online metrics from feedback, and writes the result where /metrics reads it.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow.compute as pc

from modelyard.errors import UsageError
from modelyard.models import MODEL_NAMES
from modelyard.payloads import read_feedback, read_payloads
from modelyard.settings import Settings
from monitoring.drift import (
    FAMILY_ALPHA,
    FEATURE,
    PREDICTION,
    SignalTest,
    chi2_test,
    holm,
    ks_test,
    mmd_test,
)
from monitoring.online import online_metrics
from monitoring.profiles import load_profile
from monitoring.report import write_latest
from monitoring.rows import SIGNALS
from training.profile import Signals, profile_signals

MIN_ROWS = 30
"""Fewer rows than this in a window say too little to test: the result says so, without drift."""


def compare(reference: Signals, current: Signals, alpha: float = FAMILY_ALPHA) -> list[SignalTest]:
    """Every signal of ``current`` tested against ``reference``, Holm-corrected as one family."""
    tests: list[SignalTest] = []
    for kind, ref_side, cur_side in (
        (FEATURE, reference.features, current.features),
        (PREDICTION, reference.prediction, current.prediction),
    ):
        for name, values in ref_side.items():
            observed = _finite(cur_side[name])
            if len(observed):
                tests.append(ks_test(name, kind, _finite(values), observed))
    for name, values in reference.categories.items():
        tests.append(chi2_test(name, values, current.categories[name]))
    if reference.embedding is not None and current.embedding is not None and len(current.embedding) > 1:
        tests.append(mmd_test("embedding", reference.embedding, current.embedding))
    return holm(tests, alpha)


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def run(
    settings: Settings, model: str, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """Monitor ``model`` over [since, until) (None: from the first logged row / until now) and
    write the result to ``monitoring.report.latest_path``. Raises NotFoundError when the serving
    version has no reference profile."""
    if model not in MODEL_NAMES:
        raise UsageError(f"no model named {model!r}", hint=f"use one of {', '.join(MODEL_NAMES)}")
    until = until or datetime.now(UTC)
    payloads = read_payloads(settings, model, since=since, until=until)
    feedback = read_feedback(settings, model, since=since, until=until)
    versions = Counter(str(v) for v in payloads.column("version").to_pylist())
    result: dict[str, Any] = {
        "model": model,
        "version": None,
        "since": since.isoformat() if since else None,
        "until": until.isoformat(),
        "checked_at": datetime.fromtimestamp(time.time(), UTC).isoformat(),
        "requests": len(set(payloads.column("request_id").to_pylist())),
        "rows": payloads.num_rows,
        "versions": dict(versions),
        "drift": False,
        "alpha": FAMILY_ALPHA,
        "note": None,
        "signals": [],
        "online": online_metrics(model, payloads, feedback),
    }
    if not versions:
        result["note"] = "no logged traffic in this window"
        return _written(settings, result)
    version = versions.most_common(1)[0][0]
    rows = payloads.filter(pc.equal(payloads.column("version"), version))
    profile = load_profile(settings, model, version.removeprefix("v"))
    current = SIGNALS[model](rows, profile["context"])
    result |= {"version": version, "profile_rows": profile["rows"], "tested_rows": current.rows}
    if current.rows < MIN_ROWS:
        result["note"] = f"{current.rows} rows to test: at least {MIN_ROWS} are needed"
        return _written(settings, result)
    tests = compare(profile_signals(profile), current)
    result["signals"] = [test.as_json() for test in tests]
    result["drift"] = any(test.drift for test in tests)
    return _written(settings, result)


def _written(settings: Settings, result: dict[str, Any]) -> dict[str, Any]:
    write_latest(settings, result)
    return result
