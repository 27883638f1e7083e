"""What ``yard simulate`` refuses before it sends anything, and how its timeline records events."""

from __future__ import annotations

import pytest

from loop.simulate import Plan, Timeline, check_plan
from modelyard.errors import UsageError


def test_known_drift_passes_and_an_unknown_one_names_what_exists() -> None:
    check_plan(Plan("moderation", "campaign"))
    check_plan(Plan("visual-search", "rotate"))
    check_plan(Plan("ranking", "popularity"))
    with pytest.raises(UsageError) as error:
        check_plan(Plan("moderation", "invert"))
    assert error.value.hint == (
        "simulate one of: moderation --drift campaign, visual-search --drift invert, "
        "visual-search --drift rotate, ranking --drift popularity"
    )


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (Plan("moderation", "rotate"), "no simulation moderation --drift rotate"),
        (Plan("ranking", "campaign"), "no simulation ranking --drift campaign"),
        (Plan("moderation", "campaign", feedback_share=1.5), "--feedback-share is 1.5"),
    ],
)
def test_unknown_drift_or_share_is_a_usage_error_naming_what_exists(plan: Plan, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_plan(plan)


def test_timeline_keeps_events_in_order_and_tells_the_listener() -> None:
    heard: list[str] = []
    timeline = Timeline(on_event=lambda entry: heard.append(entry["event"]))
    timeline.add("sent shifted", requests=3)
    timeline.add("drift detected", window="shifted")
    assert heard == ["sent shifted", "drift detected"]
    assert [e["event"] for e in timeline.events] == heard
    assert timeline.events[0]["requests"] == 3 and 0 <= timeline.events[0]["t"] <= timeline.events[1]["t"]
