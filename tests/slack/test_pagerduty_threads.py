"""PagerDuty incidents as Slack threads, and the buttons that act on them as the clicker."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.web.keys import STORE
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.pagerduty_api import FakePagerDuty
from tests.fakes.slack_api import FakeSlack, Message
from tests.harness.alerts import TOKEN, block_text, deliver, parents, replies
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot

PD_SECRET = "pd-webhook-secret"


@pytest.fixture
async def fake_pagerduty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty()
    await fake.start(tmp_path)
    # The pagerduty client (httpx) trusts this CA through the standard variable.
    monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca_file))
    yield fake
    await fake.stop()


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


async def test_a_pagerduty_refusal_is_told_to_the_clicker(
    start_bot: BotFactory,
    settings: Settings,
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
) -> None:
    bot = await start_bot(settings)
    await send_pd(bot, pd_event("e1", "triggered"))
    await settled(bot)
    [parent] = parents(fake_slack)
    text = await answer(bot, fake_slack, "pd_ack", "PNOPE", parent.ts)
    assert text.startswith(":warning: PagerDuty answered 404")
    fake_slack.add_user("U9", "bob")  # no email on the profile
    before = len(fake_slack.responses)
    await bot.slack_action(
        "pd_ack", "PINC1", user_id="U9", response_url=fake_slack.issue_response_url()
    )
    async with asyncio.timeout(10):
        while len(fake_slack.responses) == before:
            await asyncio.sleep(0.02)
    assert "users:read.email" in fake_slack.responses[-1]["text"]
