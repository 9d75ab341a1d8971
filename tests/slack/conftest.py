"""Fixtures of the Slack tests: a fake Slack that enforces Slack's post rate and the settings of
a bot posting alerts to it, the fake Kubernetes and fake PagerDuty the commands act on, and the
factories of the worlds in tests/harness/commands.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp import web

from bot.config import PlatformConfig, Settings
from bot.domain.clock import ManualClock
from tests.fakes.kube_api import FakeKubernetes
from tests.fakes.pagerduty_api import FakePagerDuty
from tests.fakes.slack_api import FakeSlack
from tests.harness.alerts import TOKEN
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory
from tests.harness.commands import (
    NS,
    TUESDAY_10AM_NEW_YORK,
    ActionWorld,
    ActionWorlds,
    C,
    IncidentWorld,
    IncidentWorlds,
    slack_env,
)


@pytest.fixture
async def health_server() -> AsyncIterator[str]:
    """Answers each service's /health: records is down (503), the others are fine."""

    async def health(request: web.Request) -> web.Response:
        if request.match_info["name"] == "records-service":
            return web.Response(status=503, text="db pool exhausted")
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/{name}/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def strict_slack() -> AsyncIterator[FakeSlack]:
    """A fake Slack that answers 429 to a second post in the same channel within 1 s."""
    async with FakeSlack(bot_token=BOT_TOKEN, enforce_post_rate=True) as fake:
        yield fake


@pytest.fixture
def settings_for(make_settings: Callable[..., Settings]) -> Callable[[FakeSlack], Settings]:
    """Settings of a bot posting alert threads to C_ALERTS of the given fake Slack."""

    def make(fake: FakeSlack) -> Settings:
        return make_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake.url,
            SLACK_ALERTS_CHANNEL="C_ALERTS",
            SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
            ALERTMANAGER_TOKEN=TOKEN,
        )

    return make


@pytest.fixture
async def kube() -> AsyncIterator[FakeKubernetes]:
    async with FakeKubernetes(namespace=NS) as fake:
        fake.add_deployment(
            "records-service", image="registry.local/records:1.0", change_cause="release 1.0"
        )
        yield fake


@pytest.fixture
def action_world(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    kube: FakeKubernetes,
    platform_config: PlatformConfig,
    tmp_path: Path,
) -> ActionWorlds:
    async def make(
        clock: C,
        *,
        config: PlatformConfig | None = None,
        operators: str = "U1,@sre",
        env: Mapping[str, str] | None = None,
    ) -> ActionWorld[C]:
        fake_slack.add_user("U5", "erin", email="erin@example.com")
        fake_slack.add_user("U6", "frank", email="frank@example.com")
        fake_slack.add_usergroup("sre", "S9", ["U5"])
        settings = make_settings(
            **slack_env(fake_slack),
            KUBECONFIG=str(kube.write_kubeconfig(tmp_path / "kubeconfig")),
            INCIDENT_BOT_OPERATORS=operators,
            **(env or {}),
        )
        bot = await start_bot(settings, config or platform_config, clock)
        return ActionWorld(bot, fake_slack, kube, clock, settings)

    return make


@pytest.fixture
async def fake_pagerduty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty()
    await fake.start(tmp_path)
    # The pagerduty client (httpx) trusts this CA through the standard variable.
    monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca_file))
    yield fake
    await fake.stop()


@pytest.fixture
def incident_world(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
    platform_config: PlatformConfig,
) -> IncidentWorlds:
    async def make(
        *,
        now: datetime = TUESDAY_10AM_NEW_YORK,
        users: Mapping[str, str] | None = None,
        config: PlatformConfig | None = None,
        **env: str,
    ) -> IncidentWorld:
        for user, name in (users or {}).items():
            fake_slack.add_user(user, name, email=f"{name}@example.com")
        settings = make_settings(
            **slack_env(fake_slack),
            SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
            PAGERDUTY_ROUTING_KEY=fake_pagerduty.routing_key,
            PAGERDUTY_EVENTS_URL=fake_pagerduty.url + "/v2/enqueue",
            **env,
        )
        clock = ManualClock(now)
        bot = await start_bot(settings, config or platform_config, clock)
        return IncidentWorld(bot, fake_slack, fake_pagerduty, clock)

    return make
