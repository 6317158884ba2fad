"""``auth.events.CountedEvent``: identical lines within a window are one line and a count."""

from __future__ import annotations

import logging

import pytest

from auth.events import CountedEvent
from tests.support.clock import Clock


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.levelname} {r.getMessage()}" for r in caplog.records]


@pytest.fixture
def capture(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    monkeypatch.setattr(logging.getLogger("auth"), "propagate", True)
    caplog.set_level(logging.INFO, logger="auth")
    return caplog


def test_identical_lines_within_the_window_are_counted_then_reported(capture: pytest.LogCaptureFixture) -> None:
    clock = Clock(0.0)
    refused = CountedEvent("refused", level=logging.WARNING, window=10.0, clock=clock)
    for _ in range(50):
        refused.log(error="invalid_request", detail="bad signature")
        clock.now += 0.1  # fifty lines in five seconds
    assert messages(capture) == ['WARNING event=refused error=invalid_request detail="bad signature"']
    clock.now = 10.0
    refused.log(error="invalid_request", detail="bad signature")
    assert messages(capture)[1:] == ['WARNING event=refused error=invalid_request detail="bad signature" repeated=49']
    clock.now = 25.0  # nothing left out since: no count
    refused.log(error="invalid_request", detail="bad signature")
    assert messages(capture)[2:] == ['WARNING event=refused error=invalid_request detail="bad signature"']


def test_a_different_line_is_written_at_once_and_counted_apart(capture: pytest.LogCaptureFixture) -> None:
    """Alternating two refusals must not defeat the counting, nor hide the second kind."""
    clock = Clock(0.0)
    refused = CountedEvent("refused", clock=clock)
    for _ in range(10):
        refused.log(error="invalid_request", detail="a")
        refused.log(error="invalid_request", detail="b")
    assert messages(capture) == [
        "INFO event=refused error=invalid_request detail=a",
        "INFO event=refused error=invalid_request detail=b",
    ]
    clock.now = 60.0
    refused.log(error="invalid_request", detail="b")
    assert messages(capture)[2:] == ["INFO event=refused error=invalid_request detail=b repeated=9"]


def test_key_fields_decide_which_lines_are_identical(capture: pytest.LogCaptureFixture) -> None:
    """A store fault seen by different operations is one fault (how ``Sessions`` counts them)."""
    clock = Clock(0.0)
    fault = CountedEvent("store_down", level=logging.ERROR, key_fields=("failure",), clock=clock)
    for operation in ("ping", "check", "end"):
        fault.log(operation=operation, failure="connection refused")
    assert messages(capture) == ['ERROR event=store_down operation=ping failure="connection refused"']


def test_remembered_kinds_are_bounded(capture: pytest.LogCaptureFixture) -> None:
    clock = Clock(0.0)
    refused = CountedEvent("refused", clock=clock, max_kinds=3)
    for detail in ("a", "b", "c", "d"):
        refused.log(detail=detail)
    refused.log(detail="a")  # forgotten as the least recently seen: written again
    refused.log(detail="d")  # still remembered: counted
    assert [m.rsplit("=", 1)[1] for m in messages(capture)] == ["a", "b", "c", "d", "a"]
