"""The incident lifecycle from Slack: declare, war room, paging, updates, reminders, timeline,
resolve and close, against the fake Slack and a fake PagerDuty."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import PlatformConfig
from bot.domain.timeline import verify_chain
from bot.web.keys import REMINDERS, STORE
from tests.fakes.pagerduty_api import FakePagerDuty
from tests.fakes.slack_api import FakeSlack
from tests.harness.commands import TUESDAY_10AM_NEW_YORK, IncidentWorld, IncidentWorlds

SATURDAY = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)
World = IncidentWorld


@pytest.fixture
def world_factory(
    incident_world: IncidentWorlds,
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
    platform_config: PlatformConfig,
) -> Callable[..., Awaitable[World]]:
    """PagerDuty's on-call (carol, U4) is found by email; the records service's owners
    (@factsway-backend) are dan (U2)."""

    async def make(now: datetime = TUESDAY_10AM_NEW_YORK) -> World:
        fake_pagerduty.oncall = {"PPOL1": [(1, "carol", "carol@example.com")]}
        fake_slack.add_usergroup("factsway-backend", "S1", ["U2"])
        config = platform_config.model_copy(deep=True)
        config.escalation_policies = ["PPOL1"]
        return await incident_world(
            now=now,
            users={"U2": "dan", "U4": "carol"},
            config=config,
            PAGERDUTY_API_TOKEN=fake_pagerduty.token,
            PAGERDUTY_API_URL=fake_pagerduty.url,
        )

    return make


async def test_declare_opens_a_war_room_with_topic_bookmarks_people_and_announcement(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    answer = await w.command("declare Records API returning 503 --sev P1 --service records")
    await w.settled()
    room = w.channel()
    assert room["name"] == "inc-20260303-1-records-api-returning-503"
    assert answer == f":rotating_light: Declared P1 incident #1 in <#{room['id']}>."
    assert room["topic"] == "P1 · investigating · Commander: <@U1>"
    assert [b["title"] for b in room["bookmarks"]] == ["Grafana dashboard", "Runbook"]
    # The declarer, the service's owner group and PagerDuty's on-call, matched by email.
    assert {"U1", "U2", "U4"} <= set(room["members"])
    [announcement] = w.texts("C_INCIDENTS")
    assert f"<#{room['id']}>" in announcement and "*P1* incident #1" in announcement
    intro = w.texts(room["id"])[0]
    assert "Paged the on-call" in intro and "business hours" in intro
    [page] = w.pagerduty.events
    assert page["event_action"] == "trigger" and page["dedup_key"] == "incident-bot-1"
    assert page["payload"]["severity"] == "error"


async def test_taken_and_long_names_still_give_a_valid_unique_channel(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    w.slack.add_channel("C_TAKEN", "inc-20260303-1-export-stuck")
    await w.command("declare Export stuck --sev P3")
    title = "Every DOCX export times out for documents over two hundred pages " * 3
    await w.command(f"declare {title} --sev P3")
    await w.settled()
    names = sorted(
        c["name"]
        for c in w.slack.channels.values()
        if c["name"].startswith("inc-") and c["id"] != "C_TAKEN"
    )
    assert names[0] == "inc-20260303-1-export-stuck-2"
    assert names[1].startswith("inc-20260303-2-every-docx-export") and len(names[1]) <= 80


async def test_the_declare_form_opens_without_text_and_declares_on_submit(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    trigger = w.slack.issue_trigger_id()
    response = await w.bot.slack_command("/incident", "declare", trigger_id=trigger)
    assert response.status == 200
    async with asyncio.timeout(10):
        while not w.slack.views:
            await asyncio.sleep(0.02)
    [form] = w.slack.views.values()
    assert form["callback_id"] == "declare_incident"

    empty = await w.bot.slack_view_submission(
        "declare_incident", {"title": {"value": {"type": "plain_text_input", "value": " "}}}
    )
    assert (await empty.json())["response_action"] == "errors"
    values = {
        "title": {"value": {"type": "plain_text_input", "value": "Caselaw search down"}},
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "P2"}}},
        "services": {
            "value": {"type": "multi_static_select", "selected_options": [{"value": "caselaw"}]}
        },
        "description": {"value": {"type": "plain_text_input", "value": "timeouts"}},
    }
    assert (await w.bot.slack_view_submission("declare_incident", values)).status == 200
    async with asyncio.timeout(20):
        while not await w.bot.app[STORE].list_incidents():
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    await w.settled()
    [incident] = await w.bot.app[STORE].list_incidents()
    assert (incident.title, incident.severity, incident.services) == (
        "Caselaw search down",
        "P2",
        ("caselaw",),
    )
    # A direct message to the declarer.
    assert any("Declared P2 incident #1" in t for t in w.texts(w.slack.dm_channel("U1")))


async def test_paging_follows_severity_and_business_hours(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory(SATURDAY)
    await w.command("declare Signature blocks missing --sev P1")
    await w.command("declare Typo on login page --sev P3")
    await w.settled()
    assert w.pagerduty.events == []
    p1_room = w.channel("inc-20260307-1-")
    assert any("outside them now, so nobody was paged" in t for t in w.texts(p1_room["id"]))
    answer = await w.command("sev P0", channel=p1_room["id"])
    await w.settled()
    assert "Severity P1 → P0" in answer
    [page] = w.pagerduty.events
    assert page["payload"]["severity"] == "critical" and page["dedup_key"] == "incident-bot-1"
    assert w.channel("inc-20260307-1-")["topic"].startswith("P0 ·")


async def test_updates_reach_channel_and_announcement_thread_and_only_published_ones_the_page(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    await w.command("declare Facts service slow --sev P2 --service facts")
    await w.settled()
    room = w.channel()
    answer = await w.command("update Rolled back to v1.4.2 --status monitoring", channel=room["id"])
    await w.settled()
    assert answer == "Update posted to #1 (internal: add `--public` to publish one)."
    assert any("Rolled back to v1.4.2" in t for t in w.texts(room["id"]))
    announcement = w.slack.messages["C_INCIDENTS"][0]
    assert any(
        "Rolled back" in m.text
        for m in w.slack.messages["C_INCIDENTS"]
        if m.thread_ts == announcement.ts
    )
    assert w.channel()["topic"] == "P2 · monitoring · Commander: <@U1>"
    page = await (await w.bot.request("GET", "/")).text()
    assert "Rolled back to v1.4.2" not in page and "Facts service slow" not in page

    refused = await w.command("update Facts are slow to load --public", channel=room["id"])
    assert "public title" in refused and "--public-title" in refused
    published = await w.command(
        "update Facts are slow to load; a fix is rolling out. --public"
        " --public-title “Statements of facts load slowly” --impact degraded_performance",
        channel=room["id"],
    )
    await w.settled()

    assert published == "Update posted to #1 and published on the status page."
    page = await (await w.bot.request("GET", "/")).text()
    assert "Statements of facts load slowly" in page
    assert "Facts are slow to load; a fix is rolling out." in page
    assert "Rolled back to v1.4.2" not in page and "Facts service slow" not in page
    for internal in (room["name"], room["id"], "U1", "alice", "Commander"):
        assert internal not in page
    summary = await (await w.bot.request("GET", "/api/v2/summary.json")).json()
    facts = next(c for c in summary["components"] if c["id"] == "facts")
    assert facts["status"] == "degraded_performance"  # the incident's service, by default


async def test_maintenance_is_scheduled_from_slack_with_a_short_usage(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()

    usage = await w.command("maintenance Database upgrade")
    answer = await w.command(
        'maintenance "Database upgrade" --start 2026-03-04T02:00Z --end 2026-03-04T03:00Z'
        " --components records,export"
    )

    assert "--start" in usage and len(usage) < 300
    assert answer.startswith("Maintenance “Database upgrade” scheduled on the status page")
    summary = await (await w.bot.request("GET", "/api/v2/summary.json")).json()
    [maintenance] = summary["scheduled_maintenances"]
    assert maintenance["name"] == "Database upgrade"
    assert maintenance["scheduled_for"] == "2026-03-04T02:00:00+00:00"
    assert [c["id"] for c in maintenance["components"]] == ["records", "export"]


async def test_reminders_fire_from_the_clock_once_each(world_factory: Callable[..., Any]) -> None:
    w: World = await world_factory()
    await w.command("declare Records down --sev P0")
    await w.settled()
    room = w.channel()
    scheduler = w.bot.app[REMINDERS]
    w.clock.advance(10 * 60)
    await scheduler.tick()
    await w.settled()
    assert not any("No status update" in t for t in w.texts(room["id"]))
    w.clock.advance(6 * 60)
    await scheduler.tick()
    await scheduler.tick()
    await w.settled()
    assert sum("No status update for 16 minutes" in t for t in w.texts(room["id"])) == 1
    w.clock.advance(15 * 60)
    await scheduler.tick()
    await w.settled()
    assert sum("notify affected customers" in t for t in w.texts(room["id"])) == 1
    await w.command("resolve Restarted the pool", channel=room["id"])
    w.clock.advance(61 * 60)
    await scheduler.tick()
    await scheduler.tick()
    await w.settled()
    assert sum("An hour since this was resolved" in t for t in w.texts(room["id"])) == 1


async def test_channel_messages_pins_and_pushpins_join_the_timeline_once(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    await w.command("declare Exhibits upload failing --sev P2")
    await w.settled()
    room = w.channel()["id"]
    message = {
        "type": "message",
        "channel": room,
        "user": "U2",
        "text": "S3 returns 403",
        "ts": "1772550000.000100",
    }
    for _ in range(2):  # Slack retries; the second delivery is the same event
        assert (await w.bot.slack_event(message, "Ev1")).status == 200
    async with asyncio.timeout(10):  # a person reacts after the message has landed
        while not await w.bot.app[STORE].find_event(1, "ts", "1772550000.000100"):
            await asyncio.sleep(0.02)
    bot_echo = {**message, "bot_id": "B1", "text": "bot says", "ts": "1772550001.000100"}
    await w.bot.slack_event(bot_echo, "Ev2")
    await w.bot.slack_event(
        {
            "type": "reaction_added",
            "user": "U1",
            "reaction": "pushpin",
            "item": {"type": "message", "channel": room, "ts": "1772550000.000100"},
            "event_ts": "1772550002.000100",
        },
        "Ev3",
    )
    await w.bot.slack_event(
        {
            "type": "pin_added",
            "user": "U1",
            "channel_id": room,
            "item": {
                "type": "message",
                "channel": room,
                "message": {
                    "text": "Root cause: expired IAM key",
                    "ts": "1772550003.1",
                    "user": "U2",
                },
            },
            "event_ts": "1772550004.000100",
        },
        "Ev4",
    )
    await w.command("status", channel=room)
    async with asyncio.timeout(10):
        while True:
            events = await w.bot.app[STORE].timeline(1)
            if sum(e.kind == "message" for e in events) >= 3:
                break
            await asyncio.sleep(0.02)
    messages = [e for e in events if e.kind == "message"]
    # Slack acks each event first and handles it after, so the two key events may swap.
    assert (messages[0].text, messages[0].key) == ("S3 returns 403", False)
    assert {(m.text, m.key) for m in messages[1:]} == {
        ("📌 S3 returns 403", True),
        ("pinned: Root cause: expired IAM key", True),
    }
    assert any(e.kind == "command" and e.text == "/incident status" for e in events)
    assert verify_chain(events) == []


async def test_roles_follow_ups_resolve_and_close(world_factory: Callable[..., Any]) -> None:
    w: World = await world_factory()
    await w.command("declare Ingestion backlog --sev P0")
    await w.settled()
    room = w.channel()
    assert "now commander" in await w.command("role commander <@U2|dan>", channel=room["id"])
    assert "owner <@U4>" in await w.command(
        "action Add queue alert <@U4|carol>", channel=room["id"]
    )
    assert "resolve it first" in await w.command("close", channel=room["id"])
    await w.command("resolve Scaled workers", channel=room["id"])
    await w.settled()
    assert w.channel()["topic"] == "P0 · resolved · Commander: <@U2>"
    assert [e["event_action"] for e in w.pagerduty.events] == ["trigger", "resolve"]
    assert "closed" in await w.command("close", channel=room["id"])
    await w.settled()
    assert w.channel()["is_archived"]
    incident = await w.bot.app[STORE].get_incident(1)
    assert incident is not None and incident.commander == "U2" and incident.status == "closed"


async def test_commands_outside_an_incident_channel_say_how_to_name_one(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    assert "works in an incident channel" in await w.command("update all good")
    assert await w.command("update #7 all good") == "No incident #7."
    assert "unknown service `nope`" in await w.command("declare X --service nope")


async def test_oncall_lists_who_pagerduty_says_is_on_call(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    before = len(w.slack.responses)
    await w.bot.slack_command("/oncall", "", response_url=w.slack.issue_response_url())
    async with asyncio.timeout(10):
        while len(w.slack.responses) == before:
            await asyncio.sleep(0.02)
    assert w.slack.responses[-1]["text"] == "*On call now*\n• Level 1 · carol (Policy PPOL1)"
