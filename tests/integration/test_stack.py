"""The whole local stack, for real: registered champions served by Triton, three KServe
transformers and the gateway, under the supervisor of ``yard serve``.

The tests share one stack (``served_stack``). What happens when a part of it fails is in the
``test_faults_*`` files, which run earlier and may have restarted children: the state is read anew.
"""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from modelyard.data import load
from serving.stack.client import GatewayClient, read_api_key
from serving.stack.processes import is_same_process
from serving.stack.state import read_state

pytestmark = [pytest.mark.integration, pytest.mark.slow]

UNKNOWN_USER = 999_999


@pytest.fixture(scope="module")
def client(served_stack) -> GatewayClient:
    settings, state, _ = served_stack
    with GatewayClient(state.gateway_url, read_api_key(settings)) as gateway:
        yield gateway


def require_served(served_stack, model: str) -> None:
    """Skip, saying why, when the training runner could not produce the model (not a serving failure)."""
    _, state, untrained = served_stack
    if model in untrained:
        pytest.skip(f"{model} is not served: {untrained[model]}")
    assert model in state.models, f"{model} was trained but is not served: {state.skipped.get(model)}"


def fashion_png(settings, index: int) -> tuple[bytes, int]:
    data = load("fashion-mnist", settings)
    buffer = io.BytesIO()
    Image.fromarray(data.test_images[index]).save(buffer, format="PNG")
    return buffer.getvalue(), int(data.test_labels[index])


def moderation_body(text: str) -> dict:
    return {"instances": [{"text": text}]}


def test_the_shared_stack_trained_indexed_and_serves_every_model(served_stack) -> None:
    """The shared fixture leaves a model out when its smoke training or index fails, so that the
    other models' tests still run and skip with the reason; this test is where that reason fails."""
    assert served_stack[2] == {}


def test_stack_json_names_every_child_and_the_champions(served_stack) -> None:
    settings, _, untrained = served_stack
    state = read_state(settings)
    served = {"visual-search", "moderation", "ranking"} - set(untrained)
    assert state.status == "ready"
    assert set(state.models) == served and not state.skipped
    assert set(state.children) == {"triton", "gateway"} | {f"transformer-{model}" for model in served}
    assert all(is_same_process(c.pid, c.start_ticks) for c in state.children.values())
    for model in state.models.values():
        assert model.triton_models and set(map(tuple, model.triton_models.values())) == {(model.version,)}
    assert state.api_key_file == str(settings.api_key_file)
    assert state.ready_seconds is not None and state.ready_seconds > 0


def test_visual_search_answers_with_its_version_and_honours_the_label_filter(served_stack, client) -> None:
    require_served(served_stack, "visual-search")
    settings, state, _ = served_stack
    image, label = fashion_png(settings, 0)
    body = {"instances": [{"image_b64": base64.b64encode(image).decode()}], "k": 5}

    answer = client.predict("visual-search", body)
    filtered = client.predict("visual-search", {**body, "filter": {"label": (label + 1) % 10}})

    assert answer.version == state.models["visual-search"].version
    assert len(answer.predictions[0]) == 5
    assert {hit["label"] for hit in filtered.predictions[0]} == {(label + 1) % 10}


def test_moderation_tells_spam_from_ham(served_stack, client) -> None:
    require_served(served_stack, "moderation")
    settings, state, _ = served_stack
    emails = load("spamassassin", settings).frame
    spam = emails[emails["group"] == "spam-2"].iloc[-1]["text"]
    ham = emails[emails["group"] == "easy-ham-2"].iloc[-1]["text"]

    spam_answer = client.predict("moderation", moderation_body(spam))
    ham_answer = client.predict("moderation", moderation_body(ham))

    assert spam_answer.version == ham_answer.version == state.models["moderation"].version
    spam_scores, ham_scores = spam_answer.predictions[0]["scores"], ham_answer.predictions[0]["scores"]
    assert spam_scores.keys() == ham_scores.keys()
    assert ham_answer.predictions[0]["decision"] in ("allow", "review", "block")
    assert sum(spam_scores.values()) > sum(ham_scores.values())


def test_ranking_serves_a_known_user_and_cold_starts_an_unknown_one(served_stack, client) -> None:
    require_served(served_stack, "ranking")
    _, state, _ = served_stack
    known = client.predict("ranking", {"user_id": 42, "n": 7})
    unknown = client.predict("ranking", {"user_id": UNKNOWN_USER, "n": 7})

    assert known.version == state.models["ranking"].version
    assert len(known.predictions[0]["items"]) == 7 and not known.predictions[0]["cold_start"]
    assert unknown.predictions[0]["cold_start"]
    scores = [item["score"] for item in known.predictions[0]["items"]]
    assert scores == sorted(scores, reverse=True)


def test_model_routes_need_the_key_and_health_does_not(served_stack) -> None:
    require_served(served_stack, "moderation")
    _, state, _ = served_stack
    no_key = httpx.post(f"{state.gateway_url}/v1/models/moderation:predict", json=moderation_body("hi"))
    wrong_key = httpx.post(
        f"{state.gateway_url}/v1/models/moderation:predict",
        json=moderation_body("hi"),
        headers={"Authorization": "Bearer wrong"},
    )
    ready = httpx.get(f"{state.gateway_url}/v2/health/ready")

    assert no_key.status_code == wrong_key.status_code == 401
    assert ready.status_code == 200
