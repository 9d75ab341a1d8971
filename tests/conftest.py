"""Shared fixtures: a clean environment, the fake Slack, and the bot served over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import create_app
from bot.config import PlatformConfig, Settings, load_platform_config
from bot.domain.clock import Clock
from tests.fakes.slack_api import FakeSlack
from tests.harness.bot import (
    APP_TOKEN,
    BOT_TOKEN,
    CONTRACT_ENV,
    SIGNING_SECRET,
    BotFactory,
    RunningBot,
    stop_bot,
)
from tests.harness.postgres import ThrowawayPostgres

pytest_plugins = ["tests.harness.plugin"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own environment must not leak credentials into a test."""
    for name in CONTRACT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def bot_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the test's bot keeps its store: a SQLite file, or with `--store postgresql` a
    fresh database on the session's throwaway PostgreSQL."""
    if request.config.getoption("--store") != "postgresql":
        return str(tmp_path / "bot.db")
    server: ThrowawayPostgres = request.getfixturevalue("postgres")
    name = f"bot_{uuid.uuid4().hex[:12]}"
    server.psql(f'CREATE DATABASE "{name}"')
    return server.dsn.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def make_settings(bot_database: str) -> Callable[..., Settings]:
    def make(**env: Any) -> Settings:
        env.setdefault("INCIDENT_BOT_DATABASE", bot_database)
        return Settings(**env)

    return make


@pytest.fixture
def platform_config(tmp_path: Path) -> PlatformConfig:
    """The bundled config with no playbooks, so alert threads get no automatic enrichment
    unless a test loads playbooks on purpose."""
    config = load_platform_config(None)
    config.playbooks_dir = tmp_path / "no-playbooks"
    config.playbooks_dir.mkdir()
    return config


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
        yield fake


@pytest.fixture
async def start_bot(platform_config: PlatformConfig) -> AsyncIterator[BotFactory]:
    """Starts the real app on a free loopback port; stops everything it started."""
    running: list[RunningBot] = []

    async def start(
        settings: Settings, config: PlatformConfig | None = None, clock: Clock | None = None
    ) -> RunningBot:
        app = create_app(settings, config or platform_config, clock=clock)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        bot = RunningBot(f"http://127.0.0.1:{port}", app, runner, aiohttp.ClientSession())
        running.append(bot)
        return bot

    yield start
    for bot in running:
        await stop_bot(bot)


@pytest.fixture
def slack_settings(make_settings: Callable[..., Settings], fake_slack: FakeSlack) -> Settings:
    return make_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        SLACK_ALERTS_CHANNEL="C_ALERTS",
        SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
    )
