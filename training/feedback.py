"""Labelled feedback handed to a training job: the file ``yard retrain`` writes and training reads.

One row per verdict joined to what the model saw: a moderator's label on a text (``text``), or
a user's click or skip on an item served to them (``user``, ``item``, ``timestamp``: the moment
the request asked about; ``label`` 1 = clicked). ``part`` says where a row goes: ``train`` rows
are added to the training split; ``recent`` rows are never trained on and form the recent window
the candidate is gated on, next to ``served_score``, the score the version that answered gave
the same row (so the champion is judged on what it really did).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelyard.errors import DataError

TRAIN, RECENT = "train", "recent"
SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("text", pa.string()),
        ("user", pa.int64()),
        ("item", pa.int64()),
        ("timestamp", pa.int64()),
        ("label", pa.int8()),
        ("part", pa.string()),
        ("served_version", pa.string()),
        ("served_score", pa.float64()),
    ]
)
"""Model-specific columns (``text``; ``user``, ``item``, ``timestamp``) are null for the other model."""


@dataclass(frozen=True)
class LabelledRows:
    """The feedback file's columns, as arrays (a null id or timestamp reads as NaN)."""

    text: list[str | None]
    user: np.ndarray
    item: np.ndarray
    timestamp: np.ndarray
    label: np.ndarray
    part: np.ndarray
    served_score: np.ndarray
    digest: str
    """sha256 of the file: the lineage of a version trained on it."""

    def rows(self, part: str) -> np.ndarray:
        """Row numbers of one part."""
        return np.flatnonzero(self.part == part)

    def select(self, part: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(texts, labels, served scores) of one part."""
        rows = self.rows(part)
        return [self.text[row] or "" for row in rows], self.label[rows], self.served_score[rows]


def labelled_table(columns: dict[str, Any]) -> pa.Table:
    """``columns`` (equal lengths) as a table in ``SCHEMA``; the other model's columns null."""
    length = len(next(iter(columns.values())))
    return pa.table({field.name: columns.get(field.name, [None] * length) for field in SCHEMA}, schema=SCHEMA)


def write_labelled(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.select(SCHEMA.names).cast(SCHEMA), path)
    return path


def read_labelled(path: Path) -> LabelledRows:
    try:
        table = pq.read_table(path, schema=SCHEMA)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"cannot read feedback file {path}: {exc}", hint="rerun yard retrain") from exc

    def floats(name: str) -> np.ndarray:
        return np.asarray(table[name].to_numpy(zero_copy_only=False), dtype=np.float64)

    return LabelledRows(
        text=table["text"].to_pylist(),
        user=floats("user"),
        item=floats("item"),
        timestamp=floats("timestamp"),
        label=table["label"].to_numpy(zero_copy_only=False).astype(np.float32),
        part=np.array(table["part"].to_pylist(), dtype=object),
        served_score=floats("served_score"),
        digest=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def recent_window_metrics(
    metric: str,
    measure: Callable[[np.ndarray, np.ndarray], float],
    labels: np.ndarray,
    candidate: Callable[[], np.ndarray],
    served: np.ndarray,
) -> dict[str, float]:
    """``recent_<metric>`` of the candidate and ``recent_champion_<metric>`` of the version that
    served the window (its logged scores), on the rows whose served score is known: what the gate
    compares (``training.versioning.recent_window``). ``candidate`` scores every row; it is only
    called when there is a window to judge: without both classes there is none."""
    known = np.isfinite(served)
    labels = labels[known]
    if len(labels) == 0 or labels.min() == labels.max():
        return {"recent_rows": float(len(labels))}
    return {
        "recent_rows": float(len(labels)),
        f"recent_{metric}": float(measure(labels, candidate()[known])),
        f"recent_champion_{metric}": float(measure(labels, served[known])),
    }
