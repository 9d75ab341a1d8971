#!/usr/bin/env python3
"""Captures webhook bodies from the real Alertmanager binary into tests/fixtures/alertmanager/.

Each scenario starts Alertmanager (the one scripts/test-tools.sh fetched) with a webhook
receiver pointed at a local server that records what it is sent, posts alerts to its API v2,
and keeps the bodies it delivers. Run it again after upgrading Alertmanager:

    .venv/bin/python scripts/capture-alertmanager-fixtures.py

Times, ports and the generator URL differ from run to run; the tests read the shapes, counts
and fingerprints, never those values.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.alertmanager import LocalAlertmanager  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "alertmanager"
BIN = ROOT / ".cache" / "test-tools" / "bin"
TIMEOUT = 60.0


def alert(
    i: int, *, alertname: str = "TargetDown", resolved: bool = False, **labels: str
) -> dict[str, Any]:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "labels": {
            "alertname": alertname,
            "job": "records-service",
            "namespace": "factsway-prod",
            "pod": f"records-service-7d9f8b6c5-{i:05d}",
            "severity": "critical",
            # What kube-prometheus puts on a scraped pod's series.
            "instance": f"10.42.{i // 250}.{i % 250}:3001",
            "container": "records",
            "endpoint": "http",
            "service": "records-service",
            "node": f"ip-10-0-{i % 7}-21.eu-west-1.compute.internal",
            "prometheus": "monitoring/k8s",
            **labels,
        },
        "annotations": {
            "summary": f"Target records-service-7d9f8b6c5-{i:05d} is down",
            "description": f"{i} of the records-service targets in factsway-prod have been"
            " down for more than 5 minutes; the node may have lost its network.",
            "runbook_url": "https://runbooks.example/target-down",
        },
        "startsAt": (now - timedelta(minutes=5)).isoformat(),
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up+%3D%3D+0",
    }
    if resolved:
        body["endsAt"] = (now - timedelta(seconds=1)).isoformat()
    return body


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.raw: dict[int, bytes] = {}  # id of a parsed body -> the bytes as they came
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw)
        self.raw[id(body)] = raw
        self.bodies.append(body)
        self.arrived.set()
        return web.json_response({"status": "ok"})

    async def wait_for(self, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                for body in self.bodies:
                    if test(body):
                        return body
                self.arrived.clear()
                await self.arrived.wait()


async def scenario(name: str, recorder: Recorder, url: str, **options: Any) -> LocalAlertmanager:
    recorder.bodies.clear()
    am = LocalAlertmanager(url, bin_dir=BIN, group_wait="1s", group_interval="1s", **options)
    am.start()
    print(f"{name}: Alertmanager on {am.url}", file=sys.stderr)
    return am


RAW: dict[int, bytes] = {}


def write(name: str, body: dict[str, Any]) -> None:
    """The body byte for byte as Alertmanager sent it."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_bytes(RAW[id(body)])
    print(
        f"wrote {name}: {len(body['alerts'])} alerts, status {body['status']},"
        f" truncated {body.get('truncatedAlerts')}",
        file=sys.stderr,
    )


async def main() -> None:
    recorder = Recorder()
    recorder.raw = RAW
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/hook", recorder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        # 1. A group of 20 behind max_alerts: 3, firing; then every alert it showed resolved
        #    while the other 17 still fire.
        am = await scenario("max_alerts", recorder, url, max_alerts=3)
        try:
            await am.post_alerts([alert(i) for i in range(20)])
            firing = await recorder.wait_for(lambda b: b.get("truncatedAlerts") == 17)
            write("max-alerts-firing.json", firing)
            shown = {a["labels"]["pod"] for a in firing["alerts"]}
            index = {f"records-service-7d9f8b6c5-{i:05d}": i for i in range(20)}
            await am.post_alerts([alert(index[pod], resolved=True) for pod in sorted(shown)])
            resolved = await recorder.wait_for(
                lambda b: b["status"] == "resolved" and b.get("truncatedAlerts", 0) > 0
            )
            write("max-alerts-shown-resolved-others-firing.json", resolved)
        finally:
            am.stop()
        # 2. A small group firing, then resolved whole.
        am = await scenario("resolved", recorder, url, group_by=("alertname", "job"))
        try:
            await am.post_alerts([alert(i, alertname="HighErrorRate") for i in range(2)])
            write("group-firing.json", await recorder.wait_for(lambda b: b["status"] == "firing"))
            await am.post_alerts(
                [alert(i, alertname="HighErrorRate", resolved=True) for i in range(2)]
            )
            write(
                "group-resolved.json",
                await recorder.wait_for(lambda b: b["status"] == "resolved"),
            )
        finally:
            am.stop()
        # 3. One group of 2,000 alerts (a node's worth of targets going down at once).
        am = await scenario("storm", recorder, url)
        try:
            await am.post_alerts([alert(i) for i in range(2000)])
            write(
                "group-2000-alerts.json",
                await recorder.wait_for(lambda b: len(b["alerts"]) == 2000),
            )
        finally:
            am.stop()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
