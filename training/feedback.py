"""Labelled feedback handed to a training job: the file ``yard retrain`` writes and training reads.

One row per moderator verdict joined to the text the model saw. ``part`` says where a row goes:
``train`` rows are appended to the training split; ``recent`` rows are never trained on and
form the recent window the candidate is gated on, next to ``served_score``, the score the
version that answered gave the same text (so the champion is judged on what it really did).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelyard.errors import DataError

TRAIN, RECENT = "train", "recent"
SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("text", pa.string()),
        ("label", pa.int8()),
        ("part", pa.string()),
        ("served_version", pa.string()),
        ("served_score", pa.float64()),
    ]
)


@dataclass(frozen=True)
class LabelledRows:
    """The feedback file's columns, as arrays."""

    text: list[str]
    label: np.ndarray
    part: np.ndarray
    served_score: np.ndarray
    digest: str
    """sha256 of the file: the lineage of a version trained on it."""

    def select(self, part: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(texts, labels, served scores) of one part."""
        rows = np.flatnonzero(self.part == part)
        return [self.text[row] for row in rows], self.label[rows], self.served_score[rows]


def write_labelled(path: Path, table: pa.Table) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.select(SCHEMA.names).cast(SCHEMA), path)
    return path


def read_labelled(path: Path) -> LabelledRows:
    try:
        table = pq.read_table(path, schema=SCHEMA)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"cannot read feedback file {path}: {exc}", hint="rerun yard retrain") from exc
    served = table["served_score"].to_numpy(zero_copy_only=False)
    return LabelledRows(
        text=table["text"].to_pylist(),
        label=table["label"].to_numpy(zero_copy_only=False).astype(np.float32),
        part=np.array(table["part"].to_pylist(), dtype=object),
        served_score=np.asarray(served, dtype=np.float64),
        digest=hashlib.sha256(path.read_bytes()).hexdigest(),
    )
