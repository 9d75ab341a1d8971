"""The http.health step against local health endpoints: answers, failures, hangs, closed ports."""

from __future__ import annotations

import time

from bot.config import PlatformConfig
from bot.integrations.health import HealthChecker
from bot.playbooks.registry import STEP_KINDS
from bot.playbooks.steps import http
from bot.slack.report import mrkdwn
from tests.fakes.health import HealthServer
from tests.fakes.http import closed_port
from tests.harness.playbooks import context

KINDS = STEP_KINDS


async def test_health_of_the_service(health_config: tuple[PlatformConfig, HealthServer]) -> None:
    config, server = health_config
    ctx = context(config, "records", http=HealthChecker(timeout=2))

    output = await http.health(ctx, http.HealthParams())

    assert output.healthy
    assert mrkdwn(output.lines).startswith(":white_check_mark: *records* HTTP 200 in ")
    # Every placeholder of the template was filled from the service and the config.
    assert server.seen == [
        {
            "name": "records",
            "deployment": "records-service",
            "namespace": "factsway-prod",
            "port": "3001",
        }
    ]


async def test_health_of_a_failing_service_shows_its_body(
    health_config: tuple[PlatformConfig, HealthServer],
) -> None:
    config, _ = health_config
    ctx = context(config, "ingestion", http=HealthChecker(timeout=2))

    output = await http.health(ctx, http.HealthParams())

    assert not output.healthy
    assert mrkdwn(output.lines).startswith(":x: *ingestion* HTTP 503: ")
    assert "connection refused" in mrkdwn(output.lines)


async def test_health_of_all_services_checked_side_by_side(
    health_config: tuple[PlatformConfig, HealthServer],
) -> None:
    config, server = health_config
    ctx = context(config, None, http=HealthChecker(timeout=0.5))
    started = time.monotonic()

    output = await http.health(ctx, http.HealthParams(all_services=True))

    # Eight services, one of which never answers: bounded by one timeout, not eight.
    assert time.monotonic() - started < 2
    assert not output.healthy
    lines = mrkdwn(output.lines).splitlines()
    assert lines[0] == ":x: 2 of 8 services fail their health check:"
    assert lines[1].startswith(":x: *ingestion* HTTP 503")
    assert lines[2].startswith(":x: *export* no answer within 0.5 s")
    assert len(lines) == 3
    details = output.details.splitlines()
    assert len(details) == 8
    assert sum(line.startswith("ok ") for line in details) == 6
    assert {s["name"] for s in server.seen} == {s.name for s in config.services}


async def test_health_check_of_a_closed_port() -> None:
    url = f"http://127.0.0.1:{closed_port()}/health"

    result = await HealthChecker(timeout=2).check(url)

    assert (result.url, result.status, result.ok) == (url, None, False)
    assert result.detail.startswith("ClientConnectorError")
    assert "\n" not in result.detail
    assert result.latency_ms < 2000
