"""Prove the test services are the real thing, not stand-ins.

* PostgreSQL: the throwaway server answers over TCP and ``pg_stat_statements``
  is loaded and created.
* Alertmanager: an alert posted through the v2 API is delivered to a local
  webhook with the bearer token, then delivered again as resolved.
* promtool / amtool: the binaries from scripts/test-tools.sh run.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.harness.alertmanager import LocalAlertmanager
from tests.harness.plugin import AlertmanagerFactory
from tests.harness.postgres import ThrowawayPostgres

DELIVERY_TIMEOUT = 10.0


@dataclass
class Delivery:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class WebhookRecorder:
    url: str
    deliveries: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)

    async def next(
        self, source: LocalAlertmanager | None = None, timeout: float = DELIVERY_TIMEOUT
    ) -> Delivery:
        try:
            return await asyncio.wait_for(self.deliveries.get(), timeout)
        except TimeoutError:
            log = f"\nAlertmanager log:\n{source.logtail()}" if source else ""
            pytest.fail(f"no webhook delivery to {self.url} within {timeout}s{log}")


@pytest.fixture
async def webhook() -> AsyncIterator[WebhookRecorder]:
    recorder = WebhookRecorder(url="")

    async def handle(request: web.Request) -> web.Response:
        body = await request.json()
        await recorder.deliveries.put(Delivery(headers=dict(request.headers), body=body))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/alertmanager", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        recorder.url = f"http://{host}:{port}/alertmanager"
        yield recorder
    finally:
        await runner.cleanup()


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_postgres_is_real_with_pg_stat_statements(postgres: ThrowawayPostgres) -> None:
    assert postgres.dsn == f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres"
    assert postgres.psql("SELECT 1") == "1"
    assert postgres.psql("SHOW shared_preload_libraries") == "pg_stat_statements"
    # Raises (via ON_ERROR_STOP) unless the extension is created *and* preloaded.
    count = int(postgres.psql("SELECT count(*) FROM pg_stat_statements"))
    assert count >= 1
    assert postgres.psql("SHOW fsync") == "off"


def test_postgres_dsn_works_with_plain_psql(postgres: ThrowawayPostgres) -> None:
    result = subprocess.run(
        [
            str(postgres.bindir / "psql"),
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT current_user",
            postgres.dsn,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "postgres"


@pytest.mark.parametrize("tool", ["promtool", "amtool", "alertmanager"])
def test_prometheus_tools_run(test_tools_bin: Path, tool: str) -> None:
    result = subprocess.run(
        [str(test_tools_bin / tool), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # The Prometheus tools print their version banner on stderr.
    assert "version" in (result.stdout + result.stderr)


async def test_alertmanager_delivers_webhook_with_bearer_token(
    alertmanager_factory: AlertmanagerFactory, webhook: WebhookRecorder
) -> None:
    token = "s3cret-webhook-token"
    am = alertmanager_factory(webhook.url, bearer_token=token, group_wait="0s", group_interval="1s")
    assert am.url.startswith("http://127.0.0.1:")
    assert await am.silences() == []

    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "page"},
        "annotations": {"summary": "5xx above 5%"},
        "startsAt": _iso(now - timedelta(minutes=1)),
        "generatorURL": "http://prometheus.test/graph",
    }
    await am.post_alerts([alert])

    fired = await webhook.next(am)
    assert fired.headers.get("Authorization") == f"Bearer {token}"
    assert fired.body["version"] == "4"
    assert fired.body["status"] == "firing"
    assert fired.body["receiver"] == "incident-bot"
    assert fired.body["groupKey"]
    assert fired.body["groupLabels"] == {"alertname": "HighErrorRate"}
    assert fired.body["externalURL"] == am.url
    assert fired.body["alerts"][0]["labels"]["alertname"] == "HighErrorRate"
    assert fired.body["alerts"][0]["status"] == "firing"
    assert [a["labels"]["alertname"] for a in await am.alerts()] == ["HighErrorRate"]

    # send_resolved must be on: the bot closes incidents from resolved notifications.
    await am.post_alerts([{**alert, "endsAt": _iso(datetime.now(UTC))}])
    resolved = await webhook.next(am)
    assert resolved.body["status"] == "resolved"
    assert resolved.body["groupKey"] == fired.body["groupKey"]
    assert resolved.headers.get("Authorization") == f"Bearer {token}"


async def test_alertmanager_without_token_sends_no_authorization(
    alertmanager_factory: AlertmanagerFactory, webhook: WebhookRecorder
) -> None:
    am = alertmanager_factory(webhook.url)
    await am.post_alerts([{"labels": {"alertname": "NoAuth"}}])
    delivery = await webhook.next(am)
    assert "Authorization" not in delivery.headers
    assert delivery.body["alerts"][0]["labels"]["alertname"] == "NoAuth"


def test_alertmanager_config_is_validated(
    alertmanager_factory: AlertmanagerFactory, test_tools_bin: Path
) -> None:
    am = alertmanager_factory("http://127.0.0.1:9/unused", bearer_token="t")
    result = subprocess.run(
        [str(test_tools_bin / "amtool"), "check-config", str(am.config_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (am.workdir / "webhook-token").stat().st_mode & 0o077 == 0
