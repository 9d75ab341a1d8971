"""Fixtures of the playbook tests: health endpoints, Prometheus and Sentry on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.config import PlatformConfig
from tests.fakes.health import HealthServer
from tests.fakes.http import serve
from tests.fakes.prometheus import FakePrometheus, served
from tests.fakes.sentry import FakeSentry, sentry_issue


@pytest.fixture
async def health_config(
    platform_config: PlatformConfig,
) -> AsyncIterator[tuple[PlatformConfig, HealthServer]]:
    server = HealthServer()
    app = web.Application()
    app.router.add_get("/{name}/health", server.handle)
    async with serve(app) as url:
        template = url + "/{name}{path}?deployment={deployment}&namespace={namespace}&port={port}"
        try:
            yield platform_config.model_copy(update={"health_url_template": template}), server
        finally:
            server.release.set()


@pytest.fixture
async def fake_prometheus() -> AsyncIterator[tuple[FakePrometheus, str]]:
    fake = FakePrometheus(
        values={"error_rate": "0.07", "p95_latency": "0.25", "request_rate": "12.5"}
    )
    async with served(fake) as url:
        yield fake, url


@pytest.fixture
async def fake_sentry() -> AsyncIterator[tuple[FakeSentry, str]]:
    fake = FakeSentry(
        issues={
            "factsway-api": [
                sentry_issue("factsway-api", 2, "error", "2026-01-01T11:40:00.123456Z", "1532"),
                sentry_issue("factsway-api", 1, "warning", "2026-01-01T10:15:00Z", "3"),
            ],
            "factsway-web": [
                sentry_issue("factsway-web", 3, "error", "2026-01-01T11:50:00.5Z", "12"),
            ],
        }
    )
    app = web.Application()
    app.router.add_get("/api/0/projects/{org}/{project}/issues/", fake.handle)
    async with serve(app) as url:
        yield fake, url
