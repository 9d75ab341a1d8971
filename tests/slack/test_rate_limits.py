"""The outbox's pacing keeps each method inside its Slack tier as the fake Slack counts it
(any 60 s), sends started together included, without starving the method."""

from __future__ import annotations

from bot.slack.rate_limits import Pacing
from tests.fakes.slack_limits import METHOD_TIER, TIER_PER_MINUTE, RateWindow

LATENCY = 0.05  # seconds between a request and Slack's answer


def test_a_tier_2_method_sent_as_fast_as_pacing_allows_is_never_refused() -> None:
    method = "conversations.setTopic"
    pacing, slack = Pacing(), RateWindow(TIER_PER_MINUTE[METHOD_TIER[method]])
    now, sent = 1000.0, 0
    while now < 1180.0:  # three minutes of a backlog that never empties
        if pacing.ready_at(method, "C1", now) <= now:
            pacing.begin(method)
            assert slack.retry_after(now) is None, f"refused at {now - 1000:.1f}s, call {sent}"
            pacing.sent(method, "C1", now + LATENCY)
            pacing.end(method)
            sent += 1
        now += 0.1
    assert sent >= 55  # the whole allowance is used: 20 a minute


def test_sends_started_together_count_before_their_answers() -> None:
    method = "chat.update"  # Tier 3: 50 a minute
    pacing, slack = Pacing(), RateWindow(TIER_PER_MINUTE[METHOD_TIER[method]])
    now, started = 1000.0, 0
    # The sender starts a send for every channel's head in one pass, before any answer.
    while pacing.ready_at(method, f"C{started}", now) <= now and started < 200:
        pacing.begin(method)
        started += 1
    assert started == 50
    for _ in range(started):
        assert slack.retry_after(now) is None
        pacing.sent(method, "C1", now + LATENCY)
        pacing.end(method)
    assert pacing.ready_at(method, "C1", now + 1) >= now + 60
