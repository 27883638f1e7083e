"""The loop on the live stack: campaign traffic through the gateway, moderator labels through
its feedback route, both logged by the real writers, joined into the rows a retrain learns from."""

from __future__ import annotations

import random
import time

import pytest

from loop.campaign import campaign
from loop.feedback import join_labels
from loop.simulate import send
from loop.traffic import Request, labelled
from modelyard.payloads import read_feedback, read_payloads
from serving.stack.client import GatewayClient, read_api_key
from training.moderation.preprocess import normalize_email

SETTLE_S = 20.0


def _wait(read, rows: int) -> None:  # noqa: ANN001 - a zero-argument reader of a table
    deadline = time.monotonic() + SETTLE_S
    while read().num_rows < rows and time.monotonic() < deadline:
        time.sleep(0.5)


def test_labels_posted_through_the_gateway_join_the_texts_the_model_saw(served_stack: tuple) -> None:
    settings, state, untrained = served_stack
    if "moderation" in untrained:
        pytest.skip(untrained["moderation"])
    messages = campaign(24, seed=7)
    since = time.time()
    with GatewayClient(state.gateway_url, read_api_key(settings, required=state.auth)) as client:
        requests = [Request({"instances": [{"text": m.text}]}, labelled(m.label)) for m in messages]
        counts = send(client, "moderation", requests, feedback_share=1.0, rng=random.Random(0))
        answers = [client.predict("moderation", {"instances": [{"text": messages[0].text}]})]
    assert counts["requests"] == counts["labelled"] == 24
    _wait(lambda: read_payloads(settings, "moderation", since=since), 25)
    _wait(lambda: read_feedback(settings, "moderation", since=since), 24)

    payloads = read_payloads(settings, "moderation", since=since)
    table = join_labels(payloads, read_feedback(settings, "moderation", since=since), None).to_pydict()
    assert len(table["text"]) == 24  # the unlabelled 25th request is not a training row
    expected = {normalize_email(m.text): m.label for m in messages}
    assert {text: label for text, label in zip(table["text"], table["label"], strict=True)} == expected
    served = answers[0].predictions[0]["scores"]
    logged = [row for row in payloads.to_pylist() if row["request_id"] == answers[0].request_id]
    assert logged and logged[0]["scores"] == pytest.approx(list(served.values()), rel=1e-6)
