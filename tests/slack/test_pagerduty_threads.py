"""PagerDuty incidents as Slack threads, and the buttons that act on them as the clicker."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import Settings
from bot.web.keys import STORE
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.pagerduty_api import FIXTURES, FakePagerDuty, webhook
from tests.fakes.slack_api import FakeSlack, Message
from tests.harness.alerts import TOKEN, block_text, deliver, parents, replies
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot

PD_SECRET = "pd-webhook-secret"


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], fake_slack: FakeSlack, fake_pagerduty: FakePagerDuty
) -> Settings:
    return make_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        SLACK_ALERTS_CHANNEL="C_ALERTS",
        ALERTMANAGER_TOKEN=TOKEN,
        PAGERDUTY_WEBHOOK_SECRET=PD_SECRET,
        PAGERDUTY_API_TOKEN=fake_pagerduty.token,
        PAGERDUTY_API_URL=fake_pagerduty.url,
    )


def pd_event(
    event_id: str,
    kind: str,
    *,
    incident: str = "PINC1",
    status: str = "triggered",
    at: str = "2026-03-01T02:01:00Z",
    incident_key: str | None = None,
    agent: str = "Alice",
) -> dict[str, Any]:
    return {
        "event": {
            "id": event_id,
            "event_type": f"incident.{kind}",
            "resource_type": "incident",
            "occurred_at": at,
            "agent": {"type": "user_reference", "summary": agent, "id": "PU1"},
            "client": None,
            "data": {
                "id": incident,
                "type": "incident",
                "number": 42,
                "status": status,
                "title": "Records API returning 503",
                "urgency": "high",
                "incident_key": incident_key,
                "html_url": f"https://acme.pagerduty.com/incidents/{incident}",
                "service": {
                    "id": "PSVC",
                    "summary": "records-service",
                    "type": "service_reference",
                },
                "assignees": [{"id": "PU1", "summary": "Alice", "type": "user_reference"}],
            },
        }
    }


async def send_pd(bot: RunningBot, body: dict[str, Any]) -> str:
    raw = json.dumps(body).encode()
    signature = hmac.new(PD_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    response = await bot.request(
        "POST",
        "/webhooks/pagerduty",
        data=raw,
        headers={"Content-Type": "application/json", "X-PagerDuty-Signature": f"v1={signature}"},
    )
    assert response.status == 200, await response.text()
    status: str = (await response.json())["status"]
    return status


async def settled(bot: RunningBot, timeout: float = 20) -> None:
    store = bot.app[STORE]
    async with asyncio.timeout(timeout):
        while (
            await store.dirty_pagerduty_incidents(limit=1)
            or await store.dirty_alert_groups(limit=1)
            or (await store.outbox_stats(0)).depth
        ):
            await asyncio.sleep(0.05)


async def answer(bot: RunningBot, fake: FakeSlack, action: str, value: str, ts: str) -> str:
    before = len(fake.responses)
    response = await bot.slack_action(
        action, value, message_ts=ts, response_url=fake.issue_response_url()
    )
    assert response.status == 200
    async with asyncio.timeout(15):
        while len(fake.responses) == before:
            await asyncio.sleep(0.02)
    text: str = fake.responses[-1]["text"]
    return text


async def test_an_incident_gets_its_own_thread_tracking_its_state(
    start_bot: BotFactory, settings: Settings, fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings)
    await send_pd(bot, pd_event("e1", "triggered"))
    await settled(bot)
    [parent] = parents(fake_slack)
    assert parent.text == "PagerDuty #42 triggered: Records API returning 503"
    assert "pd_ack" in block_text(parent) and "records-service" in block_text(parent)
    assert replies(fake_slack, parent) == []

    await send_pd(
        bot, pd_event("e2", "acknowledged", status="acknowledged", at="2026-03-01T02:02:00Z")
    )
    assert (
        await send_pd(
            bot, pd_event("e2", "acknowledged", status="acknowledged", at="2026-03-01T02:02:00Z")
        )
        == "duplicate"
    )
    await send_pd(bot, pd_event("e3", "resolved", status="resolved", at="2026-03-01T02:09:00Z"))
    await settled(bot)  # the resolution is in the thread before the late retry arrives
    # A late retry of an older event must not roll the state back.
    await send_pd(bot, pd_event("e0", "reassigned", status="triggered", at="2026-03-01T02:01:30Z"))
    await settled(bot)
    [parent] = parents(fake_slack)
    assert parent.text.startswith("PagerDuty #42 resolved")
    assert "pd_resolve" not in block_text(parent)
    texts = [r.text for r in replies(fake_slack, parent)]
    assert texts[:2] == [
        ":eyes: PagerDuty #42 acknowledged by Alice",
        ":white_check_mark: PagerDuty #42 resolved by Alice",
    ]
    assert len(texts) == 3 and "reassigned" in texts[2]


async def test_an_incident_from_an_alert_uses_the_alerts_thread(
    start_bot: BotFactory,
    settings: Settings,
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
) -> None:
    bot = await start_bot(settings)
    body = notification("g1", [alert("a1")])
    await deliver(bot, body)
    await settled(bot)
    # Alertmanager's PagerDuty receiver sends the group key's SHA-256 as the dedup key.
    key = hashlib.sha256(body["groupKey"].encode()).hexdigest()
    await send_pd(bot, pd_event("e1", "triggered", incident_key=key))
    await settled(bot)
    [parent] = parents(fake_slack)  # no second thread
    assert "PagerDuty #42 triggered" in replies(fake_slack, parent)[-1].text

    fake_pagerduty.add_incident("PINC1")
    text = await answer(bot, fake_slack, "alert_ack", _group_id(parent), parent.ts)
    assert text == "Done: PagerDuty incident acknowledged as alice@example.com."
    [put] = fake_pagerduty.requests
    assert put.headers["From"] == "alice@example.com"
    assert put.body == {"incident": {"type": "incident_reference", "status": "acknowledged"}}


def _group_id(parent: Message) -> str:
    for block in parent.blocks or []:
        if block["type"] == "actions":
            return str(block["elements"][0]["value"])
    raise AssertionError("no buttons")


async def test_ack_and_resolve_buttons_act_as_the_clicking_user(
    start_bot: BotFactory,
    settings: Settings,
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
) -> None:
    bot = await start_bot(settings)
    fake_pagerduty.add_incident("PINC1")
    await send_pd(bot, pd_event("e1", "triggered"))
    await settled(bot)
    [parent] = parents(fake_slack)
    assert await answer(bot, fake_slack, "pd_ack", "PINC1", parent.ts) == (
        "Done: PagerDuty incident acknowledged as alice@example.com."
    )
    assert await answer(bot, fake_slack, "pd_resolve", "PINC1", parent.ts) == (
        "Done: PagerDuty incident resolved as alice@example.com."
    )
    assert [r.body["incident"]["status"] for r in fake_pagerduty.requests] == [
        "acknowledged",
        "resolved",
    ]
    assert {r.headers["Authorization"] for r in fake_pagerduty.requests} == {
        f"Token token={fake_pagerduty.token}"
    }


async def test_a_clicker_without_a_readable_email_is_told_why(
    start_bot: BotFactory,
    settings: Settings,
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
) -> None:
    bot = await start_bot(settings)
    fake_pagerduty.add_incident("PINC1")
    fake_slack.add_user("U9", "bob")  # no email on the profile
    before = len(fake_slack.responses)
    await bot.slack_action(
        "pd_ack", "PINC1", user_id="U9", response_url=fake_slack.issue_response_url()
    )
    async with asyncio.timeout(10):
        while len(fake_slack.responses) == before:
            await asyncio.sleep(0.02)
    assert "users:read.email" in fake_slack.responses[-1]["text"]
    assert fake_pagerduty.requests == []  # PagerDuty was not asked as nobody


# -- every event PagerDuty sends, in words ------------------------------------------------------


async def test_every_documented_delivery_is_accepted(
    start_bot: BotFactory, settings: Settings
) -> None:
    """PagerDuty drops a delivery it got a 4xx for: each documented payload must be taken."""
    bot = await start_bot(settings)
    for path in sorted((FIXTURES / "webhooks").glob("*.json")):
        assert await send_pd(bot, webhook(path.stem)) == "stored", path.name


async def test_events_beyond_state_changes_reach_the_thread_with_their_content(
    start_bot: BotFactory, settings: Settings, fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings)
    await send_pd(bot, webhook("incident.triggered"))
    await settled(bot)
    sent = [
        webhook("incident.status_update_published"),
        webhook("incident.responder.added"),
        webhook("incident.conference_bridge.updated"),
        webhook("incident.workflow.started"),
        webhook("incident.custom_field_values.updated"),
        future := webhook("incident.annotated"),
    ]
    future["event"].update(
        id="future-1",
        event_type="incident.postmortem.published",
        occurred_at="2020-10-02T19:30:00Z",
        data={"type": "incident_postmortem", "incident": {"id": "PGR0VU2"}, "summary": "Friday"},
    )
    for body in sent:
        await send_pd(bot, body)
    await settled(bot)
    [parent] = parents(fake_slack)
    texts = [r.text for r in replies(fake_slack, parent)]
    assert len(texts) == len(sent)  # one reply each, in the order they happened
    update, responder, bridge, workflow, fields, later = texts
    assert "A fix for this incident is being developed" in update
    assert "Maeve" in responder and "Please help me make the tests pass" in responder
    assert "+1-555-555-5555" in bridge and "<https://example.com|" in bridge
    assert "|A Workflow Name>" in workflow
    assert "environment" in fields and "staging" in fields
    assert "postmortem published" in later and "Friday" in later
    for text, body in zip(texts, sent, strict=True):
        assert body["event"]["event_type"] not in text  # never the raw type


# -- the parent: edited only when what it shows changes, with the priority ----------------------


async def test_the_parent_is_edited_only_when_what_it_shows_changed(
    start_bot: BotFactory, settings: Settings, fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings)
    await send_pd(bot, webhook("incident.triggered"))
    await settled(bot)
    [parent] = parents(fake_slack)

    # A note, a status update and a priority it already had: replies, the parent untouched.
    await send_pd(bot, webhook("incident.annotated"))
    await send_pd(bot, webhook("incident.status_update_published"))
    await settled(bot)
    same_priority = webhook("incident.priority_updated")
    same_priority["event"]["occurred_at"] = "2020-10-02T18:31:00Z"  # before the acknowledgement
    same_priority["event"]["data"] = webhook("incident.triggered")["event"]["data"]  # P1 already
    await send_pd(bot, same_priority)
    await settled(bot)
    assert len(replies(fake_slack, parent)) == 3
    assert fake_slack.calls_to("chat.update") == []

    await send_pd(bot, webhook("incident.acknowledged"))
    await settled(bot)
    [edit] = fake_slack.calls_to("chat.update")
    assert edit.args["ts"] == parent.ts
    [parent] = parents(fake_slack)
    assert "pd_ack" not in block_text(parent)  # acknowledged: only Resolve is left


async def test_the_parent_shows_the_incidents_priority(
    start_bot: BotFactory, settings: Settings, fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings)
    triggered = webhook("incident.triggered")
    triggered["event"]["data"]["priority"] = None  # no priority yet
    await send_pd(bot, triggered)
    await settled(bot)
    [parent] = parents(fake_slack)
    assert "P1" not in parent.text and "P1" not in block_text(parent)

    priority = webhook("incident.priority_updated")
    name = priority["event"]["data"]["priority"]["summary"]
    await send_pd(bot, priority)
    await settled(bot)
    [parent] = parents(fake_slack)
    assert name in parent.text  # the notification text
    assert name in block_text(parent)
    assert name in replies(fake_slack, parent)[-1].text

    removed = webhook("incident.priority_updated")
    removed["event"].update(id="priority-removed", occurred_at="2020-10-02T19:59:00Z")
    removed["event"]["data"]["priority"] = None
    await send_pd(bot, removed)
    await settled(bot)
    [parent] = parents(fake_slack)
    assert name not in parent.text and name not in block_text(parent)


# -- Acknowledge / Resolve: what PagerDuty answered, said plainly -------------------------------


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]


def plain(text: str) -> None:
    """An answer for a person: no traceback, no exception or library internals."""
    for internal in ("Traceback", "HttpError", "Error(", "api.pagerduty", "/incidents/"):
        assert internal not in text


async def test_acknowledging_a_resolved_incident_says_it_is_resolved(
    start_bot: BotFactory,
    settings: Settings,
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_bot(settings)
    fake_pagerduty.add_incident("PINC1", status="resolved")
    for action in ("pd_ack", "pd_resolve"):
        text = await answer(bot, fake_slack, action, "PINC1", "1.000001")
        plain(text)
        assert "PINC1" in text and "already resolved" in text
        assert not text.startswith("Done")
    assert fake_pagerduty.incidents["PINC1"]["status"] == "resolved"
    assert len(fake_pagerduty.requests) == 2  # asked once each, no retry of a refusal
    no_errors_logged(caplog)


async def test_a_rate_limited_click_says_when_to_try_again_and_does_not_hang(
    start_bot: BotFactory,
    settings: Settings,
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_bot(settings)
    fake_pagerduty.add_incident("PINC1")
    fake_pagerduty.rate_limit(requests=5)
    text = await answer(bot, fake_slack, "pd_ack", "PINC1", "1.000001")
    plain(text)
    # PagerDuty's ratelimit-reset header says 20 s.
    assert "20 s" in text and "PINC1" in text and not text.startswith("Done")
    assert len(fake_pagerduty.requests) == 2  # one more try, then the person is told
    assert fake_pagerduty.incidents["PINC1"]["status"] == "triggered"
    no_errors_logged(caplog)

    fake_pagerduty.rate_limit(requests=0)
    assert (await answer(bot, fake_slack, "pd_ack", "PINC1", "1.000001")).startswith("Done")
    assert fake_pagerduty.incidents["PINC1"]["status"] == "acknowledged"


async def test_an_unknown_incident_or_requester_is_named(
    start_bot: BotFactory,
    settings: Settings,
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_bot(settings)
    text = await answer(bot, fake_slack, "pd_ack", "PNOPE", "1.000001")
    plain(text)
    assert "PNOPE" in text and not text.startswith("Done")

    fake_pagerduty.add_incident("PINC1")
    fake_slack.add_user("U7", "carol", email="carol@example.com")  # not a PagerDuty user
    before = len(fake_slack.responses)
    await bot.slack_action(
        "pd_resolve", "PINC1", user_id="U7", response_url=fake_slack.issue_response_url()
    )
    async with asyncio.timeout(15):
        while len(fake_slack.responses) == before:
            await asyncio.sleep(0.02)
    text = fake_slack.responses[-1]["text"]
    plain(text)
    assert "carol@example.com" in text and not text.startswith("Done")
    assert fake_pagerduty.incidents["PINC1"]["status"] == "triggered"
    no_errors_logged(caplog)


async def test_a_refused_api_token_is_said_without_showing_it(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "pd-wrong-Q7zX"
    bot = await start_bot(
        make_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake_slack.url,
            SLACK_ALERTS_CHANNEL="C_ALERTS",
            PAGERDUTY_API_TOKEN=wrong,
            PAGERDUTY_API_URL=fake_pagerduty.url,
        )
    )
    fake_pagerduty.add_incident("PINC1")
    text = await answer(bot, fake_slack, "pd_ack", "PINC1", "1.000001")
    plain(text)
    assert "PAGERDUTY_API_TOKEN" in text and not text.startswith("Done")
    assert wrong not in text and wrong[-4:] not in text  # not even the part the package quotes
    assert len(fake_pagerduty.requests) == 1  # a 401 is not retried
    assert fake_pagerduty.incidents["PINC1"]["status"] == "triggered"
    no_errors_logged(caplog)
