"""Alertmanager deliveries to the bot under test, and what its alert threads look like in the
fake Slack once every stored change has been sent."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.web.keys import STORE
from tests.fakes.slack_api import FakeSlack, Message
from tests.harness.bot import RunningBot

TOKEN = "am-token"  # the ALERTMANAGER_TOKEN the tests' bots are started with


async def deliver(bot: RunningBot, body: dict[str, Any]) -> str:
    response = await bot.request(
        "POST",
        "/webhooks/alertmanager",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status == 200, await response.text()
    status: str = (await response.json())["status"]
    return status


async def settled(bot: RunningBot, timeout: float = 30) -> None:
    """Until every stored change (alert groups, PagerDuty incidents, the outbox) has reached
    Slack. A bot without PagerDuty has no PagerDuty rows, so waiting on them costs one query."""
    store = bot.app[STORE]
    async with asyncio.timeout(timeout):
        while (
            await store.dirty_alert_groups(limit=1)
            or await store.dirty_pagerduty_incidents(limit=1)
            or (await store.outbox_stats(0)).depth
        ):
            await asyncio.sleep(0.05)


def parents(fake: FakeSlack, channel: str = "C_ALERTS") -> list[Message]:
    return [m for m in fake.messages.get(channel, []) if m.thread_ts is None]


def replies(fake: FakeSlack, parent: Message) -> list[Message]:
    return [m for m in fake.messages.get(parent.channel, []) if m.thread_ts == parent.ts]


def block_text(message: Message) -> str:
    return repr(message.blocks)
