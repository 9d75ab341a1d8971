"""Fault tests: the bot killed mid-storm, Slack failing for a while, dependencies hanging.
Bounded in time; everything on loopback."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import PlatformConfig, Settings
from bot.domain.timeline import EventKind
from bot.web.keys import STORE
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.kube_api import FakeKubernetes
from tests.fakes.slack_api import FakeSlack
from tests.harness.alerts import TOKEN, settled
from tests.harness.bot import BOT_TOKEN, CONTRACT_ENV, SIGNING_SECRET, BotFactory
from tests.harness.ports import free_tcp_port

BOT = str(Path(sys.executable).parent / "incident-bot")
PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"


class BotProcess:
    """`incident-bot serve` as a real process, so it can be killed with SIGKILL."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            BOT,
            "serve",
            "--port",
            str(self.port),
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(20), aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(self.url + "/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 20)


@pytest.fixture
async def strict_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=BOT_TOKEN, enforce_post_rate=True) as fake:
        yield fake


def outbox_ids(fake: FakeSlack) -> Counter[int]:
    found: Counter[int] = Counter()
    for messages in fake.messages.values():
        for m in messages:
            payload = (m.metadata or {}).get("event_payload") or {}
            if "outbox_id" in payload:
                found[int(payload["outbox_id"])] += 1
    return found


async def test_killed_mid_storm_every_alert_reaches_slack_exactly_once(
    strict_slack: FakeSlack, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_ENV}
    env.update(
        INCIDENT_BOT_DATABASE=str(tmp_path / "bot.db"),
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=strict_slack.url,
        SLACK_ALERTS_CHANNEL="C_ALERTS",
        ALERTMANAGER_TOKEN=TOKEN,
    )
    bot = BotProcess(env)
    await bot.start()
    groups = [f"g{n:02d}" for n in range(40)]
    bodies = [
        notification(
            g, [alert(f"{g}-{i}", alertname=f"Alert{g}") for i in range(5)], alertname=f"Alert{g}"
        )
        for g in groups
    ]
    unsent: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def send(session: aiohttp.ClientSession, body: dict[str, Any]) -> None:
        try:
            async with session.post(
                bot.url + "/webhooks/alertmanager", json=body, headers=headers
            ) as response:
                if response.status != 200:
                    unsent.append(body)
        except aiohttp.ClientError:
            unsent.append(body)  # Alertmanager retries what was not acknowledged

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(send(session, b) for b in bodies))
    async with asyncio.timeout(20):
        while len(strict_slack.calls_to("chat.postMessage")) < 3:
            await asyncio.sleep(0.02)
    await bot.kill()  # mid-storm: posts queued, some in flight

    bot = BotProcess(env)
    await bot.start()
    try:
        async with aiohttp.ClientSession() as session:
            for body in unsent:
                await send(session, body)
            # Converged: nothing waiting in the outbox any more.
            async with asyncio.timeout(90):
                while True:
                    async with session.get(bot.url + "/metrics") as response:
                        text = await response.text()
                    depth = next(
                        float(line.split()[-1])
                        for line in text.splitlines()
                        if line.startswith("incident_bot_outbox_depth ")
                    )
                    if depth == 0:
                        break
                    await asyncio.sleep(0.2)
    finally:
        await bot.stop()

    assert [i for i, n in outbox_ids(strict_slack).items() if n > 1] == []
    parents = [m for m in strict_slack.messages["C_ALERTS"] if m.thread_ts is None]
    titles = Counter(m.text for m in parents)
    assert [t for t, n in titles.items() if n > 1] == []
    shown = " ".join(m.text + json.dumps(m.blocks) for m in parents)
    for g in groups:  # each group is a thread or listed in the digest
        assert f"Alert{g}" in shown or "Alert storm" in shown
    digest = [m for m in parents if "Alert storm" in m.text]
    threads = [m for m in parents if "Alert storm" not in m.text]
    counted = int(digest[0].text.split("Alert storm: ")[1].split()[0]) if digest else 0
    assert len(threads) + counted == len(groups)


async def test_slack_failing_for_a_while_then_the_backlog_drains_once_in_order(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    strict_slack: FakeSlack,
) -> None:
    bot = await start_bot(
        make_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=strict_slack.url,
            SLACK_ALERTS_CHANNEL="C_ALERTS",
            ALERTMANAGER_TOKEN=TOKEN,
        )
    )
    # An outage (compressed): 500s for 3 s, then rate limiting for 3 s.
    strict_slack.fail_for("*", 3, status=500)
    from bot.web.keys import OUTBOX

    for i in range(6):
        await bot.app[OUTBOX].post("C_ALERTS", f"during outage {i}")
    await asyncio.sleep(3)
    strict_slack.fail_for("*", 3, status=429, retry_after=1)
    await asyncio.sleep(3)
    started = time.monotonic()
    async with asyncio.timeout(60):
        while (await bot.app[STORE].outbox_stats(0)).depth:
            await asyncio.sleep(0.05)
    drained_in = time.monotonic() - started
    texts = [m.text for m in strict_slack.messages["C_ALERTS"]]
    assert texts == [f"during outage {i}" for i in range(6)]
    accepted = [c.at for c in strict_slack.calls_to("chat.postMessage") if c.status == 200]
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(accepted))
    assert drained_in < 45


async def test_a_hanging_kubernetes_api_never_delays_slacks_ack(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    platform_config: PlatformConfig,
    tmp_path: Path,
) -> None:
    async with FakeKubernetes(namespace="factsway-prod") as kube:
        kube.add_deployment("records-service", image="registry.local/records:1.0")
        config = platform_config.model_copy(deep=True)
        config.playbooks_dir = PLAYBOOKS
        bot = await start_bot(
            make_settings(
                SLACK_BOT_TOKEN=BOT_TOKEN,
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=fake_slack.url,
                INCIDENT_BOT_OPERATORS="U1",
                KUBECONFIG=str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
            ),
            config,
        )
        kube.hang(30)
        slow = asyncio.create_task(
            bot.slack_command(
                "/incident",
                "run service-down records",
                response_url=fake_slack.issue_response_url(),
            )
        )
        await asyncio.sleep(0.5)
        acks = []
        for command, text in (
            ("/incident", "help"),
            ("/rollback", "records"),
            ("/incident", "list"),
        ):
            started = time.monotonic()
            response = await bot.slack_command(
                command, text, response_url=fake_slack.issue_response_url()
            )
            acks.append(time.monotonic() - started)
            assert response.status == 200
        assert max(acks) < 1.0, acks
        assert (await slow).status == 200
        # The rollback plan waits on the hung API and then says so, within its own timeout.
        async with asyncio.timeout(40):
            while not any(
                "Kubernetes" in r.get("text", "")
                or "timed out" in r.get("text", "")
                or "Timeout" in r.get("text", "")
                for r in fake_slack.responses
            ):
                await asyncio.sleep(0.1)


async def test_pagerduty_unreachable_is_said_in_the_war_room_not_hidden(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
) -> None:
    closed = free_tcp_port()
    bot = await start_bot(
        make_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake_slack.url,
            SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
            PAGERDUTY_ROUTING_KEY="rk",
            PAGERDUTY_EVENTS_URL=f"https://127.0.0.1:{closed}",
        )
    )
    started = time.monotonic()
    await bot.slack_command(
        "/incident",
        "declare Everything down --sev P0",
        response_url=fake_slack.issue_response_url(),
    )
    async with asyncio.timeout(60):
        while True:
            await settled(bot)
            rooms = [c for c in fake_slack.channels.values() if c["name"].startswith("inc-")]
            texts = [m.text for m in fake_slack.messages.get(rooms[0]["id"], [])] if rooms else []
            if any("Paging failed" in t for t in texts):
                break
            await asyncio.sleep(0.1)
    assert time.monotonic() - started < 45
    assert [e.kind for e in await bot.app[STORE].timeline(1)].count(EventKind.PAGE) == 1
