"""The incident channel when Slack's answer to creating it is lost: the bot finds the channel
its first attempt made instead of making a second one and leaving the first orphaned."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import PlatformConfig, Settings
from bot.domain.clock import ManualClock
from bot.web.keys import STORE
from tests.fakes.slack_api import FakeSlack
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot

TUESDAY = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


@pytest.fixture
async def bot(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    platform_config: PlatformConfig,
) -> RunningBot:
    settings = make_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
    )
    return await start_bot(settings, platform_config, ManualClock(TUESDAY))


async def declare(bot: RunningBot, fake: FakeSlack, text: str) -> str:
    before = len(fake.responses)
    response = await bot.slack_command(
        "/incident", f"declare {text}", response_url=fake.issue_response_url()
    )
    assert response.status == 200
    async with asyncio.timeout(30):
        while len(fake.responses) == before:
            await asyncio.sleep(0.05)
    return str(fake.responses[-1]["text"])


async def settled(bot: RunningBot) -> None:
    store = bot.app[STORE]
    async with asyncio.timeout(20):
        while (await store.outbox_stats(0)).depth:
            await asyncio.sleep(0.05)


def incident_channels(fake: FakeSlack) -> list[dict[str, Any]]:
    return [c for c in fake.channels.values() if c["name"].startswith("inc-")]


async def test_a_create_whose_answer_was_lost_leaves_no_orphan_channel(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    fake_slack.drop_after("conversations.create")

    answer = await declare(bot, fake_slack, "Records API down --sev P3")
    await settled(bot)

    [room] = incident_channels(fake_slack)
    assert len(fake_slack.calls_to("conversations.create")) == 2  # the lost one, then name_taken
    assert f"<#{room['id']}>" in answer
    incident = await bot.app[STORE].get_incident(1)
    assert incident is not None and incident.channel_id == room["id"]
    assert room["topic"].startswith("P3 ·")
    assert any(m.text.startswith("*Incident #1") for m in fake_slack.messages[room["id"]])


async def test_a_retry_that_meets_someone_elses_channel_takes_the_next_name(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """The first attempt failed before Slack acted; the retry finds the name taken by a
    channel a person made, which is not the incident's."""
    fake_slack.add_channel("C_PERSON", "inc-20260303-1-export-stuck")
    fake_slack.fail_next("conversations.create", status=500)

    answer = await declare(bot, fake_slack, "Export stuck --sev P3")
    await settled(bot)

    incident = await bot.app[STORE].get_incident(1)
    assert incident is not None and incident.channel_name == "inc-20260303-1-export-stuck-2"
    assert f"<#{incident.channel_id}>" in answer
    assert fake_slack.channels["C_PERSON"]["topic"] == ""
