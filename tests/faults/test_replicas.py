"""Several replicas on one PostgreSQL act as one bot and outlive any one of them: three
`incident-bot serve` processes, one real Alertmanager delivering every notification to all
three (one receiver, three webhooks, as behind no balancer), and the replica that leads killed
with SIGKILL in the middle of a storm and never restarted."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import yaml
from aiohttp import web

from bot.domain.incident import NewIncident, Severity
from bot.store.postgres import PostgresStore
from tests.fakes.slack_api import FakeSlack
from tests.harness.alertmanager import LocalAlertmanager
from tests.harness.alerts import TOKEN, block_text, digest_lines, parents, threads
from tests.harness.bot import BOT_TOKEN, CONTRACT_ENV, SIGNING_SECRET, RunningBot
from tests.harness.ports import free_tcp_port
from tests.harness.postgres import ThrowawayPostgres

SCRIPT = Path(sys.executable).parent / "incident-bot"
BUNDLED_CONFIG = Path(__file__).resolve().parents[2] / "bot" / "defaults" / "factsway.yaml"
API_TOKEN = "replicas-api-token"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
GROUPS = 40
ALERTS_PER_GROUP = 50  # 2,000 alerts
# The bundled policy's P1 wants an update every 15 minutes.
P1_UPDATE_EVERY = timedelta(minutes=15)
OVERDUE = "No status update for"


@dataclass
class Replica:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    dsn: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None


async def readyz(session: aiohttp.ClientSession, replica: Replica) -> dict[str, Any] | None:
    try:
        async with session.get(f"{replica.url}/readyz", headers=AUTH) as resp:
            if resp.status != 200:
                return None
            body: dict[str, Any] = await resp.json()
            return body
    except (aiohttp.ClientError, OSError):
        return None


@pytest.fixture
def bot_config(tmp_path: Path) -> Path:
    """The bundled platform with no playbooks: no automatic enrichment to wait for."""
    config = yaml.safe_load(BUNDLED_CONFIG.read_text())
    (tmp_path / "no-playbooks").mkdir()
    config["playbooks_dir"] = str(tmp_path / "no-playbooks")
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    # Not the strict fake: the test measures the pacing itself, across the replicas.
    async with FakeSlack(bot_token=BOT_TOKEN) as slack:
        yield slack


@pytest.fixture
def replicas(
    postgres: ThrowawayPostgres, fake: FakeSlack, bot_config: Path, tmp_path: Path
) -> Iterator[list[Replica]]:
    name = f"replicas_{os.getpid()}_{time.monotonic_ns() % 10**6}"
    postgres.psql(f'CREATE DATABASE "{name}"')
    dsn = postgres.dsn.rsplit("/", 1)[0] + f"/{name}"
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_ENV}
    env.update(
        INCIDENT_BOT_DATABASE=dsn,
        INCIDENT_BOT_CONFIG=str(bot_config),
        INCIDENT_BOT_API_TOKEN=API_TOKEN,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.url,
        SLACK_ALERTS_CHANNEL="C_ALERTS",
        SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
        ALERTMANAGER_TOKEN=TOKEN,
    )
    started: list[Replica] = []
    for n in range(3):
        port = free_tcp_port()
        log = tmp_path / f"replica-{n}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(SCRIPT), "serve", "--port", str(port)],
                env=env,
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(Replica(f"replica-{n}", port, proc, log, dsn))
    yield started
    for replica in started:
        if replica.alive():
            replica.proc.send_signal(signal.SIGTERM)
    for replica in started:
        try:
            replica.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            replica.proc.kill()
            replica.proc.wait(timeout=5)


def group_alerts(group: int, upto: int) -> list[dict[str, Any]]:
    return [
        {
            "labels": {
                "alertname": f"ReplicaStorm{group:02d}",
                "group": f"g{group:02d}",
                "pod": f"records-service-{group:02d}-{i:03d}",
                "severity": "critical",
                "service": "records",
            },
            "annotations": {"summary": f"pod {i} of group {group} is down"},
        }
        for i in range(upto)
    ]


async def incidents_falling_due(
    dsn: str, slack: FakeSlack, around: float, spread_s: int
) -> dict[str, float]:
    """P1 incidents declared earlier (history, as a team moving up would have), each with its
    war room, whose first update reminder falls due one second apart over `spread_s` seconds
    either side of `around` (a time.time()); returns each war room's due time."""
    store = PostgresStore(dsn)
    await store.open()
    due: dict[str, float] = {}
    try:
        for n, offset in enumerate(range(-spread_s, spread_s + 1)):
            at = around + offset
            declared = datetime.fromtimestamp(at, UTC) - P1_UPDATE_EVERY
            incident = await store.create_incident(
                NewIncident(f"Older incident {n}", Severity.P1, "U_OLDER", declared)
            )
            channel = f"C_WAR_OLDER_{n:02d}"
            slack.add_channel(channel, f"inc-older-{n}")
            await store.update_incident(incident.id, channel_id=channel)
            due[channel] = at
    finally:
        await store.close()
    return due


def ours(replica: Replica) -> list[dict[str, Any]]:
    lines = replica.log.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


async def test_three_replicas_lose_the_leader_mid_storm_and_lose_nothing(
    replicas: list[Replica],
    fake: FakeSlack,
    test_tools_bin: Path,
) -> None:
    session = aiohttp.ClientSession()
    am: LocalAlertmanager | None = None
    try:
        async with asyncio.timeout(30):
            while not all([await readyz(session, r) for r in replicas]):
                await asyncio.sleep(0.1)
        hooks = [f"{r.url}/webhooks/alertmanager" for r in replicas]
        am = LocalAlertmanager(
            hooks[0],
            also_to=hooks[1:],
            bearer_token=TOKEN,
            group_by=("alertname", "group"),
            group_interval="1s",
            bin_dir=test_tools_bin,
        )
        am.start()

        async def leader() -> Replica:
            async with asyncio.timeout(30):
                while True:
                    for r in replicas:
                        body = await readyz(session, r) if r.alive() else None
                        if body and body["store"]["role"] == "leader":
                            return r
                    await asyncio.sleep(0.1)

        first_leader = await leader()
        # The storm: every group grows to 50 alerts over ~10 s; the leader dies halfway
        # (about 6 s from here), and reminders fall due before, during and after the takeover.
        due = await incidents_falling_due(replicas[0].dsn, fake, time.time() + 12, spread_s=12)
        steps = 10
        killed_at = 0.0
        for step in range(1, steps + 1):
            upto = ALERTS_PER_GROUP * step // steps
            await am.post_alerts([a for g in range(GROUPS) for a in group_alerts(g, upto)])
            if step == steps // 2:
                first_leader.proc.send_signal(signal.SIGKILL)
                first_leader.proc.wait(timeout=5)
                killed_at = time.monotonic()
                killed_wall = time.time()
                survivor = next(r for r in replicas if r.alive())
                declared = RunningBot(survivor.url, web.Application(), None, session)  # type: ignore[arg-type]
                resp = await declared.slack_command(
                    "/incident", "declare P1 Records down", response_url=fake.issue_response_url()
                )
                assert resp.status == 200, await resp.text()
            await asyncio.sleep(1)
        new_leader = await leader()
        takeover = time.monotonic() - killed_at
        led_again = killed_wall + takeover
        assert new_leader is not first_leader

        def expected(g: int) -> str:
            return f"{ALERTS_PER_GROUP} firing, 0 resolved"

        def places(g: int) -> list[str]:
            name = f"ReplicaStorm{g:02d}"
            found = [block_text(m) for m in threads(fake) if name in m.text]
            found += [line for line in digest_lines(fake) if name in line]
            return found

        # Every group true, in exactly one live place, once the survivors have caught up.
        async with asyncio.timeout(180):
            while not all(len(p := places(g)) == 1 and expected(g) in p[0] for g in range(GROUPS)):
                await asyncio.sleep(0.5)

        # Every reminder owed, those due while no replica led included, once in its war room.
        def overdue(channel: str) -> int:
            return sum(
                1
                for c in fake.calls_to("chat.postMessage")
                if c.response.get("ok")
                and c.args.get("channel") == channel
                and OVERDUE in str(c.args.get("text"))
            )

        async with asyncio.timeout(60):
            while not all(overdue(channel) for channel in due):
                await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # long enough for a second copy to go out
        during = [c for c, at in due.items() if killed_wall <= at <= led_again]
        assert during, "no reminder fell due while no replica led"
        assert {c: overdue(c) for c in due} == dict.fromkeys(due, 1)
        conn = await asyncpg.connect(replicas[0].dsn)
        try:
            stored = await conn.fetchval("SELECT count(*) FROM alerts")
            recorded = await conn.fetchval(
                "SELECT count(*) FROM timeline_events WHERE kind = 'reminder'"
            )
            # The declare ran on a replica that does not send: its channel came back anyway.
            async with asyncio.timeout(30):
                while not (
                    incidents := await conn.fetch(
                        "SELECT channel_id FROM incidents WHERE declared_by <> 'U_OLDER'"
                    )
                )[0]["channel_id"]:
                    await asyncio.sleep(0.2)
        finally:
            await conn.close()
        assert stored == GROUPS * ALERTS_PER_GROUP, "alerts were lost"
        assert recorded == len(due), "a reminder recorded twice, or not at all"
        texts = [m.text for m in parents(fake)]
        assert len(texts) == len(set(texts)), "a message was posted twice"
        created = [
            c
            for c in fake.calls_to("conversations.create")
            if c.status == 200 and c.response.get("ok")
        ]
        assert [c.response["channel"]["id"] for c in created] == [
            r["channel_id"] for r in incidents
        ]
        posts = sorted(
            c.at
            for c in fake.calls_to("chat.postMessage")
            if c.response.get("ok") and c.args.get("channel") == "C_ALERTS"
        )
        gaps = [b - a for a, b in itertools.pairwise(posts)]
        assert min(gaps) >= 0.95, f"two posts to the channel {min(gaps):.2f} s apart"
        for r in replicas:
            if r.alive():
                errors = [e for e in ours(r) if e.get("level") in ("error", "critical")]
                assert not errors, errors[:3]
        print(
            f"takeover seen {takeover:.1f} s after the kill; {len(posts)} posts;"
            f" {len(during)} of {len(due)} reminders fell due while no replica led"
        )
    finally:
        if am is not None:
            am.stop()
        await session.close()


FORM = {
    "title": {"value": {"type": "plain_text_input", "value": "Records down"}},
    "severity": {"value": {"type": "static_select", "selected_option": {"value": "P1"}}},
}


async def declare_by_command(
    bot: RunningBot, fake: FakeSlack
) -> tuple[aiohttp.ClientResponse, str]:
    response = await bot.slack_command(
        "/incident",
        "declare Records down --sev P1",
        response_url=fake.issue_response_url(),
        trigger_id="replica-kill-declare",
    )
    return response, "slash_command"


async def declare_by_form(bot: RunningBot, fake: FakeSlack) -> tuple[aiohttp.ClientResponse, str]:
    response = await bot.slack_view_submission("declare_incident", FORM)
    return response, "declare_form"


@pytest.mark.parametrize("send", [declare_by_command, declare_by_form], ids=["command", "form"])
async def test_a_declare_acked_by_a_replica_killed_at_once_is_opened_once_by_a_survivor(
    replicas: list[Replica], fake: FakeSlack, send: Any
) -> None:
    """The work after the ack is a job row: the replica that acked `/incident declare` (or
    closed the declare form) is SIGKILLed as soon as its 200 arrives, and a survivor (the
    lease holder's recovery, once the dead replica's claim expires) opens the incident once
    and tells the caller once: through response_url for the command, in a DM for the form."""
    session = aiohttp.ClientSession()
    conn: asyncpg.Connection | None = None
    try:
        async with asyncio.timeout(30):
            while not all([await readyz(session, r) for r in replicas]):
                await asyncio.sleep(0.1)
        target = replicas[0]
        bot = RunningBot(target.url, web.Application(), None, session)  # type: ignore[arg-type]
        response, kind = await send(bot, fake)
        assert response.status == 200, await response.text()
        target.proc.send_signal(signal.SIGKILL)
        target.proc.wait(timeout=5)
        by_form = send is declare_by_form

        def answers() -> list[str]:
            if not by_form:
                return [str(r["text"]) for r in fake.responses]
            dms = [c for c in fake.calls_to("chat.postMessage") if c.args.get("channel") == "U1"]
            return [json.dumps(c.args.get("blocks") or c.args.get("text")) for c in dms]

        conn = await asyncpg.connect(target.dsn)
        async with asyncio.timeout(60):
            while True:
                rows = await conn.fetch("SELECT id, channel_id FROM incidents")
                if rows and rows[0]["channel_id"] and answers():
                    break
                await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # long enough for a second incident, channel or answer
        incidents = await conn.fetch("SELECT id, channel_id FROM incidents")
        assert len(incidents) == 1
        created = [c for c in fake.calls_to("conversations.create") if c.response.get("ok") is True]
        assert [c.response["channel"]["id"] for c in created] == [incidents[0]["channel_id"]]
        [answer] = answers()
        assert "Declared P1 incident #" in answer.replace("*", "")
        jobs = await conn.fetch("SELECT kind, state FROM jobs")
        assert [(j["kind"], j["state"]) for j in jobs] == [(kind, "done")]
        for r in replicas:
            if r.alive():
                errors = [e for e in ours(r) if e.get("level") in ("error", "critical")]
                assert not errors, errors[:3]
    finally:
        if conn is not None:
            await conn.close()
        await session.close()
