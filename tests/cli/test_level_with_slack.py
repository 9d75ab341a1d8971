"""The CLI changes an incident as `/incident` does: the same lifecycle, the same timeline events
(kind, actor, text, data) and the same PagerDuty calls, with the bot running beside it on the
same store. Run as a person runs it: the installed script in a subprocess."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from bot.domain.timeline import EventKind, TimelineEvent
from bot.web.keys import SETTINGS, STORE
from tests.fakes.pagerduty_api import FakePagerDuty
from tests.harness.bot import CONTRACT_ENV
from tests.harness.commands import IncidentWorlds

SCRIPT = Path(sys.executable).parent / "incident-bot"
# What `/incident` writes that the CLI has no counterpart for: the slash command's own echo.
SLACK_ONLY = {EventKind.COMMAND}


async def incident_bot(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def facts(events: list[TimelineEvent], since: int) -> list[tuple[Any, ...]]:
    return [
        (str(e.kind), e.actor, e.text, dict(e.data), e.key)
        for e in events
        if e.seq > since and e.kind not in SLACK_ONLY
    ]


async def test_sev_role_action_update_and_resolve_record_what_the_slash_commands_record(
    incident_world: IncidentWorlds, fake_pagerduty: FakePagerDuty
) -> None:
    w = await incident_world(users={"U2": "dan"})
    store, settings = w.bot.app[STORE], w.bot.app[SETTINGS]
    # Both declared in Slack (a war room each); #1 is then changed in Slack, #2 from the CLI.
    for title in ("Records down", "Export down"):
        await w.command(f"declare {title} --sev P3")
    await w.settled()
    since = {i: (await store.timeline(i))[-1].seq for i in (1, 2)}
    pages_before = len(fake_pagerduty.events)

    for text in (
        "sev #1 P0",
        "role #1 comms <@U2|dan>",
        "action #1 Alert on pool saturation <@U2|dan>",
        "update #1 Rolled back --status monitoring",
        "resolve #1 pool resized",
    ):
        await w.command(text, user="U1")
    await w.settled()
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_ENV}
    env |= {
        "INCIDENT_BOT_DATABASE": settings.database,
        "PAGERDUTY_ROUTING_KEY": fake_pagerduty.routing_key,
        "PAGERDUTY_EVENTS_URL": fake_pagerduty.url + "/v2/enqueue",
        "SLACK_INCIDENTS_CHANNEL": "C_INCIDENTS",
    }
    for args in (
        ("sev", "2", "P0"),
        ("role", "2", "comms", "<@U2|dan>"),
        ("action", "2", "Alert", "on", "pool", "saturation", "--owner", "<@U2|dan>"),
        ("update", "2", "Rolled", "back", "--status", "monitoring"),
        ("resolve", "2", "pool", "resized"),
    ):
        code, out, err = await incident_bot(env, "incidents", *args, "--actor", "U1")
        assert code == 0, (args, err)
        assert out.startswith("#2 "), out

    slack = facts(await store.timeline(1), since[1])
    cli = facts(await store.timeline(2), since[2])
    assert [f[0] for f in cli] == [
        "severity_changed",
        "page",
        "role_changed",
        "follow_up",
        "status_update",
        "resolved",
        "page",
    ]
    assert cli == slack
    # Paged and the page resolved through PagerDuty, for each incident alike.
    sent = [(e["dedup_key"], e["event_action"]) for e in fake_pagerduty.events[pages_before:]]
    assert [a for k, a in sent if k == "incident-bot-2"] == ["trigger", "resolve"]
    assert [a for k, a in sent if k == "incident-bot-1"] == ["trigger", "resolve"]
    # What the CLI said in the war room went out through the running bot's outbox.
    room = next(c for c in w.slack.channels.values() if c["name"].endswith("-2-export-down"))
    said = " ".join(w.texts(room["id"]))
    assert "Severity P3 → P0 by <@U1>" in said and "<@U2> is now comms" in said
