"""Moderators' labels joined to the texts the model saw: the rows a retrained version learns
from, and the recent window it is gated on.

A label answers a request (``request_id``); every instance of that request gets it, and a
request labelled twice keeps the latest verdict (a moderator may correct one). Rows are split
by a hash of the request id, so the same request always lands in the same part: ``recent``
rows are never trained on, and only rows the champion itself answered can be recent (their
logged scores are the champion's real answers to compare with).
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow as pa

from training.feedback import RECENT, SCHEMA, TRAIN

RECENT_SHARE = 0.5
"""Share of the labelled requests held out as the recent window the gate judges on."""


def join_labels(
    payloads: pa.Table, feedback: pa.Table, champion_version: str | None, recent_share: float = RECENT_SHARE
) -> pa.Table:
    """Labelled rows in ``training.feedback.SCHEMA`` (oldest first)."""
    logged = payloads.select(["time", "request_id", "text", "version", "scores"]).to_pandas()
    labels = (
        feedback.select(["time", "request_id", "label"])
        .to_pandas()
        .dropna(subset=["label"])
        .sort_values("time")
        .drop_duplicates("request_id", keep="last")
    )
    rows = logged.dropna(subset=["text"]).merge(labels[["request_id", "label"]], on="request_id")
    rows = rows.sort_values("time").reset_index(drop=True)
    recent = rows["request_id"].map(lambda rid: _unit(rid) < recent_share)
    if champion_version is not None:
        recent &= rows["version"] == champion_version
    table = pd.DataFrame(
        {
            "request_id": rows["request_id"],
            "text": rows["text"],
            "label": rows["label"].astype("int8"),
            "part": recent.map({True: RECENT, False: TRAIN}),
            "served_version": rows["version"],
            "served_score": [_worst(scores) for scores in rows["scores"]],
        }
    )
    return pa.Table.from_pandas(table, schema=SCHEMA, preserve_index=False)


def summary(table: pa.Table) -> dict[str, int]:
    """Row counts per part and positives: what ``yard retrain`` prints before training."""
    frame = table.select(["part", "label"]).to_pandas()
    return {
        "rows": len(frame),
        "train": int((frame["part"] == TRAIN).sum()),
        "recent": int((frame["part"] == RECENT).sum()),
        "harmful": int(frame["label"].sum()),
    }


def _unit(request_id: str) -> float:
    """A request id -> [0, 1), stable across runs and machines."""
    return int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big") / 2**64


def _worst(scores: object) -> float | None:
    """A text is as harmful as its worst head (how serving decides)."""
    values = [] if scores is None else list(scores)
    return float(max(values)) if values else None
