"""Retention: the database stops growing with every webhook body and sent message, and keeps
what the bot still needs; the file is the owner's alone."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.config import Settings
from bot.domain.clock import ManualClock
from bot.web.keys import OUTBOX
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.slack_api import FakeSlack
from tests.harness.alerts import TOKEN, deliver, parents, settled
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, stop_bot

API = "api-token"
DAY = 86400.0


def rows(database: Path, sql: str) -> list[tuple[Any, ...]]:
    """What the file holds, read the way an operator would look at it."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


async def until(check: Callable[[], bool], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


async def test_old_bodies_and_sent_messages_are_pruned_and_what_is_needed_stays(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    tmp_path: Path,
) -> None:
    database = tmp_path / "bot.db"
    settings = make_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        SLACK_ALERTS_CHANNEL="C_ALERTS",
        SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
        ALERTMANAGER_TOKEN=TOKEN,
        INCIDENT_BOT_API_TOKEN=API,
        INCIDENT_BOT_DATABASE=str(database),
    )
    auth = {"Authorization": f"Bearer {API}"}
    clock = ManualClock(datetime.now(UTC))
    bot = await start_bot(settings, clock=clock)
    assert await deliver(bot, notification("quiet", [alert("q1")])) == "stored"
    assert await deliver(bot, notification("repeating", [alert("r1")])) == "stored"
    declared = await bot.request(
        "POST", "/api/incidents", json={"title": "Records down", "severity": "P2"}, headers=auth
    )
    incident = (await declared.json())["id"]
    await settled(bot)
    edits = {m.ts: m.edits for m in parents(fake_slack)}
    assert len(edits) == 2
    timeline = await (
        await bot.request("GET", f"/api/incidents/{incident}/timeline", headers=auth)
    ).json()
    assert timeline["events"]
    sent_before = rows(database, "SELECT count(*) FROM outbox")[0][0]
    # Alertmanager re-sends a group that did not change every repeat_interval: still needed.
    clock.advance(29 * DAY)
    assert await deliver(bot, notification("repeating", [alert("r1")])) == "duplicate"
    await stop_bot(bot)

    clock.advance(2 * DAY)  # past the default 30 days for everything sent on the first day
    bot = await start_bot(settings, clock=clock)
    await until(
        lambda: (
            not any(
                "quiet" in body for (body,) in rows(database, "SELECT body FROM webhook_deliveries")
            )
        )
    )

    bodies = [body for (body,) in rows(database, "SELECT body FROM webhook_deliveries")]
    assert len(bodies) == 1 and "repeating" in bodies[0]
    assert await deliver(bot, notification("repeating", [alert("r1")])) == "duplicate"
    # Sent messages went, but each message's post is kept: threads are still edited in place.
    left = rows(database, "SELECT method, message_key FROM outbox")
    assert 0 < len(left) < sent_before
    assert all(method == "chat.postMessage" and key for method, key in left), left
    assert await deliver(bot, notification("quiet", [alert("q1", status="resolved")])) == "stored"
    await settled(bot)
    # The resolution edits the group's own thread: no second parent.
    now = {m.ts: m.edits for m in parents(fake_slack)}
    assert now.keys() == edits.keys()
    assert sum(now.values()) > sum(edits.values())
    # Timelines are never pruned.
    after = await (
        await bot.request("GET", f"/api/incidents/{incident}/timeline", headers=auth)
    ).json()
    assert after["events"][: len(timeline["events"])] == timeline["events"]


async def test_unfinished_messages_are_never_pruned(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    tmp_path: Path,
) -> None:
    database = tmp_path / "bot.db"
    settings = make_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        INCIDENT_BOT_DATABASE=str(database),
    )
    clock = ManualClock(datetime.now(UTC))
    bot = await start_bot(settings, clock=clock)
    fake_slack.fail_for("*", 3600, status=500)  # Slack is down for good
    await bot.app[OUTBOX].post("C_WAR", "still to be said")
    await stop_bot(bot)

    clock.advance(60 * DAY)
    bot = await start_bot(settings, clock=clock)
    await asyncio.sleep(1)

    [(text, state)] = rows(database, "SELECT json_extract(args, '$.text'), state FROM outbox")
    assert text == "still to be said"
    assert state in ("pending", "in_flight")


async def test_the_database_and_its_journal_files_are_the_owners_alone(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    folder = tmp_path / "data"
    database = folder / "bot.db"
    bot = await start_bot(make_settings(INCIDENT_BOT_DATABASE=str(database)))
    response = await bot.request(
        "POST", "/webhooks/alertmanager", json=notification("g", [alert("f")])
    )
    assert response.status == 200

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("bot.db", "bot.db-wal", "bot.db-shm"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name


async def test_a_database_file_an_older_version_left_open_to_others_is_made_private(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    database = tmp_path / "bot.db"
    sqlite3.connect(database).close()  # as SQLite makes it: 0644 under the usual umask
    database.chmod(0o644)
    await start_bot(make_settings(INCIDENT_BOT_DATABASE=str(database)))
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_a_retention_under_a_day_is_refused_naming_the_variable(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValidationError, match="INCIDENT_BOT_RETENTION_DAYS"):
        make_settings(INCIDENT_BOT_RETENTION_DAYS="0.01")
    assert make_settings(INCIDENT_BOT_RETENTION_DAYS="0").retention_days == 0
    assert make_settings().retention_days == 30
