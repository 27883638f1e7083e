"""Feedback joined to what the model served: the rows a retrained version learns from, and the
recent window it is gated on (``training.feedback``).

moderation: a label answers a request (``request_id``); every instance of that request gets it,
and a request labelled twice keeps the latest verdict (a moderator may correct one). Rows are
split by a hash of the request id, so the same request always lands in the same part.

ranking: a click or skip answers one served item of a request (``monitoring.online.
served_clicks``, the join the monitor's CTR and AUC read). Rows are split by time: the newest
share of the requests is the recent window, the older ones are trained on, so the window is
traffic the candidate never saw, later than anything it learnt from.

Either way ``recent`` rows are never trained on, and only rows the champion itself answered can
be recent (their logged scores are the champion's real answers to compare with).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from modelyard.models import MODERATION, RANKING
from monitoring.online import served_clicks
from training.feedback import RECENT, TRAIN, labelled_table

RECENT_SHARE = 0.5
"""Share of the labelled requests held out as the recent window the gate judges on."""


def join_labels(
    payloads: pa.Table, feedback: pa.Table, champion_version: str | None, recent_share: float = RECENT_SHARE
) -> pa.Table:
    """Moderators' labels on logged texts in ``training.feedback.SCHEMA`` (oldest first)."""
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
    recent = rows["request_id"].map(lambda rid: _unit(rid) < recent_share).astype(bool)
    return labelled_table(
        {
            "request_id": rows["request_id"].tolist(),
            "text": rows["text"].tolist(),
            "label": rows["label"].astype("int8").tolist(),
            "part": _parts(recent, rows["version"], champion_version),
            "served_version": rows["version"].tolist(),
            "served_score": [_worst(scores) for scores in rows["scores"]],
        }
    )


def join_clicks(
    payloads: pa.Table, feedback: pa.Table, champion_version: str | None, recent_share: float = RECENT_SHARE
) -> pa.Table:
    """Users' clicks and skips on served items in ``training.feedback.SCHEMA`` (oldest first).

    ``timestamp`` is the moment the request asked about; rows logged before the payload log kept
    it fall back to the serving time, which is what the transformer assumes when a request gives
    none."""
    rows = served_clicks(payloads, feedback).sort_values(["time", "request_id", "item"], kind="stable")
    rows = rows.dropna(subset=["user"]).reset_index(drop=True)
    requests = rows.drop_duplicates("request_id")["request_id"]
    newest = requests.iloc[len(requests) - round(recent_share * len(requests)) :]
    return labelled_table(
        {
            "request_id": rows["request_id"].tolist(),
            "user": rows["user"].astype("int64").tolist(),
            "item": rows["item"].tolist(),
            "timestamp": rows["timestamp"].fillna(rows["time"]).astype("int64").tolist(),
            "label": rows["clicked"].astype("int8").tolist(),
            "part": _parts(rows["request_id"].isin(set(newest)), rows["version"], champion_version),
            "served_version": rows["version"].tolist(),
            "served_score": rows["score"].tolist(),
        }
    )


def _parts(recent: pd.Series, versions: pd.Series, champion_version: str | None) -> list[str]:
    """``recent`` where asked and the champion served the row, else ``train``."""
    if champion_version is not None:
        recent = recent & (versions == champion_version)
    return [RECENT if flag else TRAIN for flag in recent]


@dataclass(frozen=True)
class FeedbackJoin:
    """How a model's feedback becomes labelled rows, and what its label 1 is called."""

    join: Callable[[pa.Table, pa.Table, str | None], pa.Table]
    positive: str


JOINS = {
    MODERATION.name: FeedbackJoin(join_labels, "harmful"),
    RANKING.name: FeedbackJoin(join_clicks, "clicked"),
}
"""The models ``yard retrain`` learns from."""


def summary(table: pa.Table, positive: str = "harmful") -> dict[str, int]:
    """Row counts per part and positives: what ``yard retrain`` prints before training."""
    frame = table.select(["part", "label"]).to_pandas()
    return {
        "rows": len(frame),
        "train": int((frame["part"] == TRAIN).sum()),
        "recent": int((frame["part"] == RECENT).sum()),
        positive: int(frame["label"].sum()),
    }


def _unit(request_id: str) -> float:
    """A request id -> [0, 1), stable across runs and machines."""
    return int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big") / 2**64


def _worst(scores: object) -> float | None:
    """A text is as harmful as its worst head (how serving decides)."""
    values = [] if scores is None else list(scores)
    return float(max(values)) if values else None
