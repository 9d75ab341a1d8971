"""Who may change an incident from Slack (severity, roles, resolve, close), and the page that
follows the severity down, against the fake Slack and the fake PagerDuty."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import PlatformConfig, Settings
from bot.domain.clock import ManualClock
from bot.web.keys import STORE
from tests.fakes.pagerduty_api import FakePagerDuty
from tests.fakes.slack_api import FakeSlack
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot

TUESDAY_10AM_NEW_YORK = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


@pytest.fixture
async def fake_pagerduty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty()
    await fake.start(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca_file))
    yield fake
    await fake.stop()


@dataclass
class World:
    bot: RunningBot
    slack: FakeSlack
    pagerduty: FakePagerDuty

    async def command(self, text: str, *, channel: str, user: str = "U1") -> str:
        before = len(self.slack.responses)
        response = await self.bot.slack_command(
            "/incident",
            text,
            user_id=user,
            channel_id=channel,
            response_url=self.slack.issue_response_url(),
        )
        assert response.status == 200
        async with asyncio.timeout(20):
            while len(self.slack.responses) == before:
                await asyncio.sleep(0.02)
        return str(self.slack.responses[-1]["text"])

    async def settled(self) -> None:
        store = self.bot.app[STORE]
        async with asyncio.timeout(20):
            while (await store.outbox_stats(0)).depth:
                await asyncio.sleep(0.02)

    async def declared(self, text: str, *, user: str = "U1") -> str:
        """Declares from the alerts channel; the war room's channel ID."""
        await self.command(f"declare {text}", channel="C_ALERTS", user=user)
        await self.settled()
        incident = (await self.bot.app[STORE].list_incidents())[0]
        assert incident.channel_id
        return incident.channel_id

    async def refusals(self) -> list[str]:
        return [e.actor for e in await self.bot.app[STORE].timeline(1) if e.kind == "refused"]


@pytest.fixture
def world_factory(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
    platform_config: PlatformConfig,
) -> Callable[..., Any]:
    async def make() -> World:
        for user, name in (("U2", "dan"), ("U6", "frank"), ("U7", "olga")):
            fake_slack.add_user(user, name, email=f"{name}@example.com")
        settings = make_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake_slack.url,
            SLACK_ALERTS_CHANNEL="C_ALERTS",
            SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
            PAGERDUTY_ROUTING_KEY=fake_pagerduty.routing_key,
            PAGERDUTY_EVENTS_URL=fake_pagerduty.url + "/v2/enqueue",
            INCIDENT_BOT_OPERATORS="U7",
        )
        bot = await start_bot(settings, platform_config, ManualClock(TUESDAY_10AM_NEW_YORK))
        return World(bot, fake_slack, fake_pagerduty)

    return make


async def severity(w: World) -> str:
    incident = await w.bot.app[STORE].get_incident(1)
    assert incident is not None
    return str(incident.severity)


async def test_anyone_in_the_channel_may_raise_the_severity_only_responders_lower_it(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    room = await w.declared("Records slow --sev P2")
    assert "P2 → P1" in await w.command("sev P1", channel=room, user="U6")  # escalating
    assert await severity(w) == "P1"
    refused = await w.command("sev P3", channel=room, user="U6")
    assert refused.startswith(":no_entry:")
    assert await severity(w) == "P1"
    assert await w.refusals() == ["U6"]
    assert "P1 → P2" in await w.command("sev P2", channel=room, user="U7")  # an operator
    assert "P2 → P3" in await w.command("sev P3", channel=room, user="U1")  # the declarer
    kinds = [str(e.kind) for e in await w.bot.app[STORE].timeline(1)]
    assert kinds.count("severity_changed") == 3 and kinds.count("refused") == 1


async def test_resolve_close_and_roles_need_a_responder_or_an_operator(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    room = await w.declared("Ingestion backlog --sev P2")
    assert (await w.command("role commander <@U6|frank>", channel=room, user="U6")).startswith(
        ":no_entry:"
    )
    assert (await w.command("resolve all fine", channel=room, user="U6")).startswith(":no_entry:")
    incident = await w.bot.app[STORE].get_incident(1)
    assert incident is not None and incident.is_open and incident.commander == "U1"
    assert "now scribe" in await w.command("role scribe <@U2|dan>", channel=room, user="U1")
    await w.command("resolve Drained the queue", channel=room, user="U2")  # has a role now
    incident = await w.bot.app[STORE].get_incident(1)
    assert incident is not None and incident.status == "resolved"
    assert (await w.command("close", channel=room, user="U6")).startswith(":no_entry:")
    await w.settled()
    assert not w.slack.channels[room]["is_archived"]
    assert "closed" in await w.command("close", channel=room, user="U7")
    await w.settled()
    assert w.slack.channels[room]["is_archived"]
    assert await w.refusals() == ["U6", "U6", "U6"]


async def test_naming_an_incident_from_another_channel_needs_a_right_to_it(
    world_factory: Callable[..., Any],
) -> None:
    """A command typed elsewhere must not act on an incident by id for anyone who could not
    act on it in its own channel; raising is open to the people in that channel only."""
    w: World = await world_factory()
    await w.declared("Exports failing --sev P2")
    assert (await w.command("sev #1 P1", channel="C_ALERTS", user="U6")).startswith(":no_entry:")
    assert (await w.command("resolve #1 ok", channel="C_ALERTS", user="U6")).startswith(
        ":no_entry:"
    )
    assert await severity(w) == "P2"
    assert await w.refusals() == ["U6", "U6"]
    assert "P2 → P1" in await w.command("sev #1 P1", channel="C_ALERTS", user="U1")


async def test_lowering_below_the_paging_policy_resolves_the_page_once(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    room = await w.declared("Everything down --sev P0")
    assert [e["event_action"] for e in w.pagerduty.events] == ["trigger"]
    await w.command("sev P2", channel=room, user="U1")  # P2 never pages
    await w.settled()
    assert [(e["event_action"], e["dedup_key"]) for e in w.pagerduty.events] == [
        ("trigger", "incident-bot-1"),
        ("resolve", "incident-bot-1"),
    ]
    await w.command("resolve Fixed", channel=room, user="U1")
    assert [e["event_action"] for e in w.pagerduty.events] == ["trigger", "resolve"]
    pages = [e for e in await w.bot.app[STORE].timeline(1) if e.kind == "page"]
    assert sum("resolved" in e.text for e in pages) == 1
