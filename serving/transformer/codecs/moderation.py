"""moderation requests and responses.

V1: ``{"instances": ["text", ...]}`` or ``{"instances": [{"text": "..."}, ...]}`` (raw RFC 822
emails welcome). V2: input ``text`` BYTES [N] (UTF-8). The decision logic (allow / review /
block against the version's thresholds) is here too: it is pure and the codec tests pin it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest, InferResponse

from serving.transformer.codecs.common import (
    as_json_object,
    instance_list,
    reject_unknown_inputs,
    reject_unknown_keys,
    v2_bytes_items,
    v2_input,
    v2_response,
)

MAX_TEXT_BYTES = 256 * 1024
"""A raw email with its headers fits; the featurizer keeps only the first 6,000 normalised chars."""
DECISIONS = ("allow", "review", "block")


@dataclass(frozen=True)
class ModerationRequest:
    texts: list[str]


@dataclass(frozen=True)
class HeadThresholds:
    """One head's operating points (thresholds.json); ``block`` None means the head never blocks."""

    review: float
    block: float | None
    short_words: int = 0
    """Texts under this many (normalised) words are short: never blocked (0: no short-text rule,
    as in versions trained before it)."""
    short_review: float | None = None
    """The review threshold of a short text (it needs net spam evidence, see training)."""


@dataclass(frozen=True)
class Decision:
    decision: str
    reason: str
    scores: dict[str, float]
    thresholds: dict[str, HeadThresholds]
    """The thresholds this text was decided at (a short text's own, see ``for_length``)."""


def parse_v1(body: Any) -> ModerationRequest:
    payload = as_json_object(body)
    reject_unknown_keys(payload, {"instances"})
    items = instance_list(payload)
    return ModerationRequest([_text_of(item, index) for index, item in enumerate(items)])


def _text_of(item: Any, index: int) -> str:
    where = f"instances[{index}]"
    if isinstance(item, dict):
        reject_unknown_keys(item, {"text"}, where)
        if "text" not in item:
            raise InvalidInput(f'{where} needs "text"')
        item = item["text"]
        where += ".text"
    if not isinstance(item, str):
        raise InvalidInput(f'{where} must be a string or {{"text": string}}, got {type(item).__name__}')
    try:
        size = len(item.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise InvalidInput(f"{where} is not valid UTF-8 text (lone surrogate at {error.start})") from error
    return _checked_text(item, size, where)


def parse_v2(request: InferRequest) -> ModerationRequest:
    reject_unknown_inputs(request, {"text"})
    texts = []
    for index, raw in enumerate(v2_bytes_items(v2_input(request, "text", ("BYTES",)))):
        where = f"text[{index}]"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidInput(f"{where} is not valid UTF-8 (byte {error.start})") from error
        texts.append(_checked_text(text, len(raw), where))
    return ModerationRequest(texts)


def _checked_text(text: str, size: int, where: str) -> str:
    if not text.strip():
        raise InvalidInput(f"{where} is empty: send the text (or raw email) to moderate")
    if size > MAX_TEXT_BYTES:
        raise InvalidInput(f"{where} is {size} bytes; at most {MAX_TEXT_BYTES} per text")
    return text


def read_thresholds(payload: dict[str, Any], heads: list[str]) -> dict[str, HeadThresholds]:
    """thresholds.json (``{head: {"review": r, "block": b | null, ...}}``) for every served head."""
    missing = [head for head in heads if head not in payload]
    if missing:
        raise ValueError(f"thresholds.json has no thresholds for heads {missing}")
    return {
        head: HeadThresholds(
            review=float(payload[head]["review"]),
            block=_maybe_float(payload[head]["block"]),
            short_words=int(payload[head].get("short_words", 0)),
            short_review=_maybe_float(payload[head].get("short_review")),
        )
        for head in heads
    }


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)


def for_length(limits: HeadThresholds, words: int) -> HeadThresholds:
    """The thresholds that apply to a text of ``words`` normalised words: a short text is never
    blocked and is reviewed at its own threshold."""
    if words >= limits.short_words or limits.short_review is None:
        return limits
    return HeadThresholds(review=limits.short_review, block=None)


def decide(scores: dict[str, float], thresholds: dict[str, HeadThresholds], words: int) -> Decision:
    """The strictest action any head asks for, and the head + threshold that asked for it."""
    thresholds = {head: for_length(thresholds[head], words) for head in scores}
    verdict, reason = (
        "allow",
        "every score is below its review threshold: "
        + ", ".join(f"{head} {score:.3f} < {thresholds[head].review:.3f}" for head, score in scores.items()),
    )
    for head, score in scores.items():
        limits = thresholds[head]
        if limits.block is not None and score >= limits.block:
            return Decision(
                "block", f"{head} score {score:.3f} >= block threshold {limits.block:.3f}", scores, thresholds
            )
        if score >= limits.review and verdict == "allow":
            verdict, reason = "review", f"{head} score {score:.3f} >= review threshold {limits.review:.3f}"
    return Decision(verdict, reason, scores, thresholds)


def encode_v1(decisions: list[Decision]) -> list[dict[str, Any]]:
    """Each decision with the thresholds it was decided at beside it, so a client can draw where
    the scores fall without knowing which version answered or how long the text was."""
    return [
        {
            "decision": d.decision,
            "reason": d.reason,
            "scores": d.scores,
            "thresholds": {head: {"review": t.review, "block": t.block} for head, t in d.thresholds.items()},
        }
        for d in decisions
    ]


def encode_v2(
    decisions: list[Decision], heads: list[str], model: str, version: int, request_id: str
) -> InferResponse:
    """Outputs ``decision`` BYTES [N], ``reason`` BYTES [N], ``scores`` FP32 [N, heads]."""
    tensors = [
        ("decision", np.array([d.decision.encode() for d in decisions], dtype=np.object_), "BYTES"),
        ("reason", np.array([d.reason.encode() for d in decisions], dtype=np.object_), "BYTES"),
        (
            "scores",
            np.array([[d.scores[head] for head in heads] for d in decisions], dtype=np.float32),
            "FP32",
        ),
    ]
    return v2_response(tensors, model, version, request_id)
