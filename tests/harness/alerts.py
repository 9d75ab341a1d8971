"""Alertmanager deliveries to the bot under test, and what its alert threads look like in the
fake Slack once every stored change has been sent."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from bot.web.keys import STORE
from tests.fakes.slack_api import FakeSlack, Message
from tests.harness.bot import RunningBot

TOKEN = "am-token"  # the ALERTMANAGER_TOKEN the tests' bots are started with
STORM = "Alert storm"  # how a digest message begins


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


def section_texts(blocks: Any) -> list[str]:
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return [
        b["text"]["text"]
        for b in blocks or []
        if b.get("type") == "section" and isinstance(b.get("text"), dict)
    ]


def digest_lines(fake: FakeSlack) -> list[str]:
    """Every group line the channel's digest messages show now."""
    return [
        line
        for m in parents(fake)
        if STORM in m.text
        for line in section_texts(m.blocks)
        if line.startswith("•")
    ]


def threads(fake: FakeSlack) -> list[Message]:
    return [m for m in parents(fake) if STORM not in m.text]


def live_places(fake: FakeSlack, name: str) -> list[str]:
    """Each live top-level message, or digest line, that shows the group called `name`."""
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    found = [f"thread: {m.text}" for m in threads(fake) if pattern.search(m.text)]
    found += [f"digest: {line}" for line in digest_lines(fake) if pattern.search(line)]
    return found
