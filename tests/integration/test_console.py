"""The console in a real browser: Debian's chromium, driven by Playwright, against the shared live
stack (``served_stack``): the page loads, takes the key, and each model's answer is drawn.

Playwright's own browser download cannot work here: it drives the system chromium that
scripts/install.sh installs. Set ``MODELYARD_SCREENSHOTS=docs/images`` to refresh the
screenshots docs/console.md shows (by default they go to the test's temporary folder).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from modelyard.data.fashion_mnist import CLASSES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
DRAW_TIMEOUT_MS = 30_000
"""A first visual-search answer on a cold stack takes a few seconds on 2 busy cores."""
SPAM = (
    "Subject: URGENT you WON $1,000,000 cash prize\n\nCLICK HERE now to claim your FREE money!!! "
    "Limited offer, act now, send your bank details to claim the cash prize today."
)


class Console:
    """The open page plus what it did: every URL it requested and every console message."""

    def __init__(self, page: Page, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.urls: list[str] = []
        self.messages: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("console", lambda message: self.messages.append(message.text))

    def shoot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"console-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def console(served_stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Console, str, str]]:
    """``(console, api key, gateway url)``: chromium on the stack's ``/ui/``, the key entered once."""
    settings, state, untrained = served_stack
    if untrained:
        pytest.skip(f"the console test queries all three models; not served: {untrained}")
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed: run scripts/install.sh as root (apt-get install chromium)")
    key = settings.api_key_file.read_text().strip()
    shots = tmp_path_factory.mktemp("console-shots")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(DRAW_TIMEOUT_MS)
        drawn = Console(page, shots)
        page.goto(f"{state.gateway_url}/ui/")
        page.fill("#api-key", key)
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("#key-status:has-text('key accepted')")
        yield drawn, key, state.gateway_url
        browser.close()
    wanted = os.environ.get("MODELYARD_SCREENSHOTS")
    if wanted:
        for shot in shots.glob("console-*.png"):
            shutil.copy(shot, Path(wanted) / shot.name)


def _until(page: Page, predicate: str) -> None:
    """Wait until the JavaScript function ``predicate`` returns true. Playwright's own
    ``wait_for_function`` evaluates a string, which the console's CSP (no 'unsafe-eval') refuses."""
    deadline = time.monotonic() + DRAW_TIMEOUT_MS / 1000
    while not page.evaluate(predicate):
        assert time.monotonic() < deadline, f"not drawn in time: {predicate}"
        time.sleep(0.1)


def _moderate(gateway: str, key: str, text: str) -> dict:
    """The moderation answer for ``text``, asked directly (not through the page)."""
    response = httpx.post(
        f"{gateway}/v1/models/moderation:predict",
        json={"instances": [{"text": text}]},
        headers={"x-api-key": key},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["predictions"][0]


def _version_shown(console: Console, prefix: str, model: str) -> None:
    assert re.fullmatch(rf"{model} v\d+", console.page.text_content(f"#{prefix}-version") or "")


def test_visual_search_draws_the_query_and_its_nearest_images(console) -> None:
    drawn, _, _ = console
    page = drawn.page
    expect(page.locator("#gallery figure img")).to_have_count(12)
    page.select_option("#search-label", str(CLASSES.index("Sneaker")))
    page.click("#gallery figure >> nth=0")
    expect(page.locator("#search-hits figure")).to_have_count(10)
    _until(page, "() => [...document.querySelectorAll('#search-hits img')].every(i => i.naturalWidth === 28)")
    names = page.locator("#search-hits figcaption:not(.score)").all_text_contents()
    scores = [float(s) for s in page.locator("#search-hits figcaption.score").all_text_contents()]
    assert names == ["Sneaker"] * 10  # the label filter reached the index
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1.0001 for s in scores)
    assert page.evaluate("document.getElementById('search-query').naturalWidth") == 28
    _version_shown(drawn, "search", "visual-search")
    drawn.shoot("visual-search")


def test_moderation_draws_the_decision_the_model_made_at_its_thresholds(console) -> None:
    drawn, key, gateway = console
    page = drawn.page
    page.click("#tabs button[data-tab=moderation]")
    page.fill("#moderation-text", SPAM)
    page.click("#moderation-form button[type=submit]")
    page.wait_for_selector("#moderation-result:not([hidden])")
    answer = _moderate(gateway, key, SPAM)
    assert page.text_content("#moderation-decision") == answer["decision"]
    spam = answer["scores"]["spam"]
    assert page.text_content("[data-head=spam] div") == f"spam probability {spam:.3f}"
    limits = answer["thresholds"]["spam"]
    assert page.text_content("[data-head=spam] .mark.review span") == f"review {limits['review']:.2f}"
    if limits["block"] is not None:
        assert page.text_content("[data-head=spam] .mark.block span") == f"block {limits['block']:.2f}"
    _version_shown(drawn, "moderation", "moderation")
    drawn.shoot("moderation")


def test_ranking_draws_top_movies_and_the_stage_that_found_them(console) -> None:
    drawn, _, _ = console
    page = drawn.page
    page.click("#tabs button[data-tab=ranking]")
    page.click("#ranking-unknown")
    page.wait_for_selector("#ranking-stage:has-text('cold start')")
    page.fill("#ranking-user", "42")
    page.click("#ranking-form button[type=submit]")
    page.wait_for_selector("#ranking-stage:has-text('history')")
    rows = page.locator("#ranking-rows tr")
    assert rows.count() == 10
    titles = page.locator("#ranking-rows td:nth-child(2)").all_text_contents()
    assert all(titles) and len(set(titles)) == 10
    scores = [float(s) for s in page.locator("#ranking-rows td:nth-child(4)").all_text_contents()]
    assert all(0 <= s <= 1 for s in scores)
    _version_shown(drawn, "ranking", "ranking")
    drawn.shoot("ranking")


def test_rollouts_show_live_figures_and_changes_need_the_admin_key(console, served_stack) -> None:
    drawn, key, gateway = console
    admin_key = served_stack[0].admin_key_file.read_text().strip()
    page = drawn.page
    page.click("#tabs button[data-tab=rollouts]")
    page.wait_for_selector("#traffic-window:has-text('last')")  # a second refresh: rates over a window
    cards = page.locator(".model-traffic")
    assert sorted(cards.evaluate_all("cs => cs.map(c => c.dataset.model)")) == [
        "moderation",
        "ranking",
        "visual-search",
    ]
    moderation = page.locator("[data-model=moderation] tr[data-role=stable] td")
    assert re.fullmatch(r"v\d+", moderation.nth(1).text_content() or "")
    for _ in range(3):  # traffic while the page watches: the next refresh counts it
        _moderate(gateway, key, "hello there")
    _until(
        page,
        "() => Number(document.querySelector("
        "'[data-model=moderation] tr[data-role=stable] td:nth-child(3)').textContent) >= 3",
    )
    assert float(moderation.nth(3).text_content() or "0") > 0  # req/s over the window
    assert moderation.nth(5).text_content() != "-"  # p99 of those requests
    page.click("#rollout-form button[type=submit]")
    assert "needs the admin key" in (page.text_content("#rollout-status") or "")
    page.fill("#admin-key", key)  # the client key is not the admin key
    page.click("#rollout-form button[type=submit]")
    page.wait_for_selector("#rollout-status:has-text('403')")
    page.fill("#admin-key", admin_key)  # admitted: the stack has no candidate to move traffic to
    page.click("#rollout-form button[type=submit]")
    page.wait_for_selector("#rollout-status:has-text('has no candidate')")
    assert page.input_value("#admin-key") == ""  # used for that one change, then cleared
    drawn.shoot("rollouts")
    assert not [url for url in drawn.urls if key in url or admin_key in url]  # keys travel in headers only
    assert not [m for m in drawn.messages if "Content Security Policy" in m]
