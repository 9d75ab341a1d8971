"""A store that fails fast: the bot says so once, backs off, and is not ready while it cannot
commit. The bot runs as a real process, so what it writes to its log is what a person sees."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.domain.incident import NewIncident, Severity
from bot.services.outbox import message
from bot.store.sqlite import SqliteStore
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.slack_api import FakeSlack
from tests.harness.bot import BOT_TOKEN, CONTRACT_ENV, SIGNING_SECRET
from tests.harness.ports import free_tcp_port

BOT = str(Path(sys.executable).parent / "incident-bot")
WINDOW = 4.0  # seconds of a failing store watched after the bot is up


def make_read_only(path: Path) -> None:
    """Marks the database file as written by a newer SQLite: SQLite then reads it but refuses
    every write at once (SQLITE_READONLY), whoever runs the bot, root included."""
    with path.open("r+b") as db:
        db.seek(18)  # the header's write and read format versions
        db.write(bytes([3, 2]))


async def work_waiting(path: Path) -> None:
    """Messages to send, an alert group to thread and an incident owed a reminder."""
    store = SqliteStore(path)
    await store.open()
    try:
        await store.enqueue(
            [message("chat.postMessage", f"C{n % 4}", f"waiting {n}") for n in range(12)]
        )
        await store.record_delivery(
            "alertmanager",
            "d1",
            notification("g1", [alert("f1")]),
            datetime.now(UTC),
        )
        incident = await store.create_incident(
            NewIncident("Records down", Severity.P1, "U1", datetime.now(UTC) - timedelta(hours=2))
        )
        await store.update_incident(incident.id, channel_id="C_WAR")
    finally:
        await store.close()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=BOT_TOKEN) as fake:
        yield fake


async def test_a_store_that_cannot_commit_makes_the_bot_not_ready_and_quiet(
    tmp_path: Path, slack: FakeSlack
) -> None:
    database = tmp_path / "bot.db"
    await work_waiting(database)
    make_read_only(database)
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_ENV}
    env.update(
        INCIDENT_BOT_DATABASE=str(database),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.url,
        SLACK_ALERTS_CHANNEL="C_ALERTS",
        SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
    )
    log = tmp_path / "bot.log"
    port = free_tcp_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            BOT, "serve", "--port", str(port), env=env, stdout=stderr, stderr=stderr
        )
    try:
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(20):
                while True:
                    try:
                        async with session.get(url + "/healthz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.05)
            started, size_then = time.monotonic(), log.stat().st_size
            await asyncio.sleep(WINDOW)
            grew = log.stat().st_size - size_then
            per_second = grew / (time.monotonic() - started)
            async with session.get(url + "/readyz") as response:
                status, body = response.status, await response.json()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)

    assert status == 503, body
    assert body["integrations"]["store"]["state"] == "down"
    assert per_second < 1000, f"{per_second:.0f} bytes of log a second"
    # Said once by each part of the bot that waits for the store, not once per retry.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    warned = [line["message"] for line in lines if line["level"] == "warning"]
    assert warned and len(warned) == len(set(warned)), warned
    assert not any(line["level"] == "error" for line in lines)
    assert not any(slack.messages.values())
