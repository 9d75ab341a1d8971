"""Events API envelopes about the bot itself: Slack's app_rate_limited notice is acknowledged,
counted, logged and told to every open incident's war room and timeline, once a minute."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from bot.config import Settings
from bot.domain.incident import Incident
from bot.domain.timeline import EventKind
from bot.web.keys import STORE
from tests.fakes.slack_api import FakeSlack
from tests.harness.bot import BotFactory, RunningBot

NOTICE = Path(__file__).resolve().parents[1] / "fixtures" / "slack" / "app_rate_limited.json"
COUNTER = "incident_bot_slack_events_rate_limited_total"


async def drained(bot: RunningBot, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while (await bot.app[STORE].outbox_stats(0)).depth:
            await asyncio.sleep(0.05)


async def war_room(bot: RunningBot, fake: FakeSlack) -> Incident:
    response = await bot.slack_command(
        "/incident", "declare Exports stuck --sev P3", response_url=fake.issue_response_url()
    )
    assert response.status == 200
    async with asyncio.timeout(20):
        while True:
            incidents = await bot.app[STORE].list_incidents(open_only=True)
            if incidents and incidents[0].channel_id:
                await drained(bot)
                return incidents[0]
            await asyncio.sleep(0.05)


async def counted(bot: RunningBot) -> float:
    async with await bot.request("GET", "/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith(COUNTER + " "):
                return float(line.split()[1])
    raise AssertionError(f"{COUNTER} is not exposed")


async def test_a_rate_limit_notice_is_acknowledged_and_told_to_the_war_room_once(
    start_bot: BotFactory,
    slack_settings: Settings,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_bot(slack_settings)
    incident = await war_room(bot, fake_slack)
    assert incident.channel_id is not None
    before = len(fake_slack.messages[incident.channel_id])

    body = NOTICE.read_text()
    for _ in range(2):  # Slack may say it again for the same minute
        notice = await bot.post_signed("/slack/events", body, content_type="application/json")
        assert notice.status == 200
    await drained(bot)

    said = [m.text for m in fake_slack.messages[incident.channel_id][before:]]
    assert len(said) == 1
    assert "20:37 UTC" in said[0]  # minute_rate_limited 1518467820 is 2018-02-12 20:37 UTC
    gaps = [e for e in await bot.app[STORE].timeline(incident.id) if e.kind == EventKind.NOTE]
    assert [e.data["app_rate_limited"] for e in gaps] == [1518467820]
    assert await counted(bot) == 2
    warned = [r for r in caplog.records if "dropped events" in r.getMessage()]
    assert {r.levelno for r in warned} == {logging.WARNING}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_with_no_open_incident_the_gap_is_only_logged(
    start_bot: BotFactory,
    slack_settings: Settings,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_bot(slack_settings)
    body = json.dumps({**json.loads(NOTICE.read_text()), "minute_rate_limited": 1772550000})
    notice = await bot.post_signed("/slack/events", body, content_type="application/json")
    assert notice.status == 200
    assert await counted(bot) == 1
    assert fake_slack.calls_to("chat.postMessage") == []
    [warned] = [r for r in caplog.records if "dropped events" in r.getMessage()]
    assert warned.levelno == logging.WARNING

    unsigned = await bot.request(
        "POST", "/slack/events", data=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status == 401
    assert await counted(bot) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
