"""Cost of one change against the size of its group: a group of 20 alerts against one of 20,000.

One bot subprocess (offline, temporary SQLite). Each group is first filled by deliveries of
2,000 alerts and left to settle; then `--changes` deliveries, one at a time, each resolve one
of its alerts (a body carrying that alert alone, as `max_alerts` sends). The bot's CPU from
the first change until it is idle again (storing each delivery and bringing the group's
thread up to date), divided by the number of changes, is the cost of a change; the ratio of
the two sizes says whether that cost depends on the group's size (target: within 2x).

    .venv/bin/python bench/group_size.py [--sizes 20,20000] [--changes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench._harness import API_TOKEN, bot_server, cpu_seconds, table, workdir, write_json
from bench.webhook_ingest import PATH, wait_idle
from tests.fakes.alertmanager_payloads import alert, notification

FILL_BATCH = 2_000


def _body(group: str, items: list[dict[str, Any]]) -> bytes:
    return json.dumps(notification(group, items, alertname="BenchGroupSize")).encode()


def _alert(group: str, k: int, status: str = "firing") -> dict[str, Any]:
    return alert(
        f"{group}x{k:06d}", status=status, alertname="BenchGroupSize", instance=f"{group}-{k}"
    )


async def _post(http: aiohttp.ClientSession, url: str, body: bytes) -> float:
    began = time.perf_counter()
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"webhook answered {resp.status}")
    return time.perf_counter() - began


async def one_size(
    http: aiohttp.ClientSession, url: str, pid: int, size: int, changes: int
) -> dict[str, Any]:
    group = f"size{size}"
    for start in range(0, size, FILL_BATCH):
        items = [_alert(group, k) for k in range(start, min(size, start + FILL_BATCH))]
        await _post(http, url, _body(group, items))
    await wait_idle(pid, limit_s=300)
    cpu0 = cpu_seconds(pid)
    latencies = []
    for j in range(changes):
        latencies.append(await _post(http, url, _body(group, [_alert(group, j, "resolved")])))
    cpu1 = cpu_seconds(pid)
    after_s = await wait_idle(pid, limit_s=300)
    cpu2 = cpu_seconds(pid)
    return {
        "size": size,
        "changes": changes,
        "ingest_ms": 1000 * (cpu1 - cpu0) / changes,
        "cpu_ms": 1000 * (cpu2 - cpu0) / changes,
        "p50_ms": 1000 * sorted(latencies)[len(latencies) // 2],
        "max_ms": 1000 * max(latencies),
        "after_s": after_s,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    with workdir("groupsize") as tmp:
        server = bot_server(Path(tmp), env={"INCIDENT_BOT_API_TOKEN": API_TOKEN})
        await server.start()
        try:
            async with aiohttp.ClientSession(trust_env=False) as http:
                for size in args.sizes:
                    rows.append(
                        await one_size(http, server.url + PATH, server.pid, size, args.changes)
                    )
        finally:
            server.stop()
    return {"rows": rows, "args": {**vars(args)}}


def render(rows: list[dict[str, Any]]) -> str:
    header = [
        "group size",
        "changes",
        "bot CPU ms/change (incl. thread sync)",
        "of which until the 200",
        "webhook p50 ms",
        "max ms",
        "idle again after s",
    ]
    body = [
        [
            f"{r['size']:,}",
            r["changes"],
            f"{r['cpu_ms']:.2f}",
            f"{r['ingest_ms']:.2f}",
            f"{r['p50_ms']:.1f}",
            f"{r['max_ms']:.1f}",
            f"{r['after_s']:.1f}",
        ]
        for r in rows
    ]
    small, big = rows[0], rows[-1]
    return "\n".join(
        [
            table(header, body),
            "",
            f"cost of a change, {big['size']:,} alerts / {small['size']:,} alerts: "
            f"{big['cpu_ms'] / max(1e-9, small['cpu_ms']):.1f}x (target: within 2x)",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=lambda v: [int(x) for x in v.split(",")], default=[20, 20_000]
    )
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="10 changes")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.changes = min(args.changes, 10)
    data = asyncio.run(run(args))
    text = render(data["rows"])
    print(text)
    write_json(args.json, {**data, "table": text})


if __name__ == "__main__":
    main()
