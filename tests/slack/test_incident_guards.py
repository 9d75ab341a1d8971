"""Who may change an incident from Slack (severity, roles, resolve, close), and the page that
follows the severity down, against the fake Slack and the fake PagerDuty."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.web.keys import STORE
from tests.harness.commands import IncidentWorld, IncidentWorlds

World = IncidentWorld


@pytest.fixture
def world_factory(incident_world: IncidentWorlds) -> Callable[..., Awaitable[World]]:
    """dan (U2) and frank (U6) are nobody in particular; olga (U7) is an operator."""

    async def make() -> World:
        return await incident_world(
            users={"U2": "dan", "U6": "frank", "U7": "olga"}, INCIDENT_BOT_OPERATORS="U7"
        )

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
