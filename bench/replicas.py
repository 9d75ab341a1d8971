"""Replicas on PostgreSQL: webhook ingest with one and with three `incident-bot serve`
processes on one database, against a bare aiohttp handler in the same run, and the failover
time (the leader killed with SIGKILL to the first Slack message the new leader sends).

PostgreSQL is a throwaway cluster started here with its durability on (fsync, synchronous
commit), as the SQLite store syncs every commit: a 200 means the delivery is on disk. The
load is the closed-loop client of webhook_ingest.py, every body a new group; with three
replicas it is spread over them evenly, as a Service would. All three set-ups run side by
side and take the load in turn for several rounds, so that what else the machine does falls
on each alike; the table gives each one's median round.

    .venv/bin/python bench/replicas.py [--requests 3000] [--rounds 5] [--concurrency 24] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench._harness import (
    BOT_TOKEN,
    Server,
    bare_server,
    bot_server,
    cpu_seconds,
    slack_env,
    table,
    workdir,
    write_json,
)
from bench._load import LoadResult, closed_loop, summary, webhook_body
from tests.fakes.slack_api import FakeSlack
from tests.harness.postgres import ThrowawayPostgres

PATH = "/webhooks/alertmanager"


def database(server: ThrowawayPostgres, name: str) -> str:
    server.psql(f'CREATE DATABASE "{name}"')
    return server.dsn.rsplit("/", 1)[0] + f"/{name}"


async def spread(servers: list[Server], bodies: list[bytes], concurrency: int) -> LoadResult:
    """The bodies over the servers round-robin, each with its share of the connections."""
    shares = [bodies[i :: len(servers)] for i in range(len(servers))]
    each = max(1, concurrency // len(servers))
    results = await asyncio.gather(
        *(
            closed_loop(s.url + PATH, share, concurrency=each, deadline_s=120)
            for s, share in zip(servers, shares, strict=True)
        )
    )
    merged = LoadResult()
    for r in results:
        merged.latencies += r.latencies
        merged.errors += r.errors
        for status, n in r.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + n
    merged.wall = max(r.wall for r in results)
    return merged


async def load_round(servers: list[Server], tag: str, args: argparse.Namespace) -> dict[str, float]:
    bodies = [webhook_body(tag, i) for i in range(args.requests)]
    cpu0 = sum(cpu_seconds(s.pid) for s in servers)
    result = await spread(servers, bodies, args.concurrency)
    cpu1 = sum(cpu_seconds(s.pid) for s in servers)
    done = len(result.latencies)
    return {
        "requests": done,
        "ok": result.ok,
        "rps": done / result.wall if result.wall else 0.0,
        **summary(result.latencies),
        "cpu_ms_per_request": 1000 * (cpu1 - cpu0) / max(1, done),
    }


async def ingest(
    configs: dict[str, list[Server]], args: argparse.Namespace
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every configuration running at once, the load given to each in turn, round after
    round: whatever else the machine does in the meantime falls on all of them alike. The
    rows are each configuration's median round (by req/s)."""
    everyone = [s for servers in configs.values() for s in servers]
    for s in everyone:
        await s.start()
    rounds: list[dict[str, Any]] = []
    try:
        for k, servers in enumerate(configs.values()):
            warm = [webhook_body(f"w{k}", i) for i in range(args.warmup)]
            await spread(servers, warm, args.concurrency)
        for n in range(args.rounds):
            for k, (name, servers) in enumerate(configs.items()):
                figures = await load_round(servers, f"r{n}c{k}", args)
                rounds.append({"server": name, "round": n + 1, **figures})
    finally:
        for s in everyone:
            s.stop()
    rows = []
    for name in configs:
        mine = sorted((r for r in rounds if r["server"] == name), key=lambda r: r["rps"])
        rows.append(mine[len(mine) // 2])
    return rows, rounds


async def role(session: aiohttp.ClientSession, server: Server) -> str | None:
    try:
        async with session.get(server.url + "/readyz") as resp:
            body = await resp.json()
            return str(body["store"]["role"])
    except (aiohttp.ClientError, OSError, KeyError, ValueError):
        return None


async def failover(pg: ThrowawayPostgres, tmp: Path, runs: int) -> list[float]:
    """Seconds from SIGKILL of the leader to the first chat.postMessage by a survivor."""
    took: list[float] = []
    for run in range(runs):
        async with FakeSlack(bot_token=BOT_TOKEN) as fake:
            dsn = database(pg, f"failover_{run}")
            env = slack_env(fake.url, INCIDENT_BOT_DATABASE=dsn)
            servers = [bot_server(tmp, env=env, name=f"failover-{run}-{n}") for n in range(3)]
            for s in servers:
                await s.start()
            try:
                async with aiohttp.ClientSession() as session:
                    leader = None
                    while leader is None:
                        for s in servers:
                            if await role(session, s) == "leader":
                                leader = s
                        await asyncio.sleep(0.05)
                    survivor = next(s for s in servers if s is not leader)
                    assert leader.proc is not None
                    leader.proc.send_signal(signal.SIGKILL)
                    killed = time.monotonic()
                    before = len(fake.calls_to("chat.postMessage"))
                    async with session.post(
                        survivor.url + PATH,
                        data=webhook_body(f"failover{run}", 0),
                        headers={"Content-Type": "application/json"},
                    ) as resp:
                        assert resp.status == 200, await resp.text()
                    while len(fake.calls_to("chat.postMessage")) <= before:
                        if time.monotonic() - killed > 60:
                            raise RuntimeError("no message within 60 s of the kill")
                        await asyncio.sleep(0.02)
                    took.append(time.monotonic() - killed)
            finally:
                for s in servers:
                    s.stop()
    return took


def render(rows: list[dict[str, Any]], rounds: list[dict[str, Any]], took: list[float]) -> str:
    bare = next(r for r in rows if r["server"] == "bare-aiohttp")["rps"]
    lines = [
        table(
            ["server", "req/s", "vs bare", "p50 ms", "p99 ms", "CPU ms/req", "ok"],
            [
                [
                    r["server"],
                    f"{r['rps']:.0f}",
                    f"{r['rps'] / bare:.2f}",
                    f"{r['p50_ms']:.1f}",
                    f"{r['p99_ms']:.1f}",
                    f"{r['cpu_ms_per_request']:.3f}",
                    f"{r['ok']}/{r['requests']}",
                ]
                for r in rows
            ],
        )
    ]
    one = next(r for r in rows if r["server"] == "bot, 1 replica (PostgreSQL)")["rps"]
    three = next(r for r in rows if r["server"] == "bot, 3 replicas (PostgreSQL)")["rps"]
    lines.append(f"three replicas / one (medians): {three / one:.2f}x")
    lines.append(
        "each round, req/s (bare / 1 replica / 3 replicas): "
        + "; ".join(
            " / ".join(f"{r['rps']:.0f}" for r in rounds if r["round"] == n)
            for n in sorted({r["round"] for r in rounds})
        )
    )
    if took:
        lines.append(
            "failover, SIGKILL of the leader to the new leader's first Slack message: "
            + ", ".join(f"{t:.1f} s" for t in took)
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with workdir("bench-replicas-") as tmp_name:
        tmp = Path(tmp_name)
        pg = ThrowawayPostgres(durable=True)
        pg.start()
        try:
            three_db = database(pg, "three")
            configs = {
                "bare-aiohttp": [bare_server(tmp)],
                "bot, 1 replica (PostgreSQL)": [
                    bot_server(tmp, env={"INCIDENT_BOT_DATABASE": database(pg, "one")})
                ],
                "bot, 3 replicas (PostgreSQL)": [
                    bot_server(tmp, env={"INCIDENT_BOT_DATABASE": three_db}, name=f"r{n}")
                    for n in range(3)
                ],
            }
            rows, rounds = await ingest(configs, args)
            took = await failover(pg, tmp, args.failovers)
        finally:
            pg.stop()
    print(render(rows, rounds, took))
    return {"rows": rows, "rounds": rounds, "failover_s": took}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.rounds, args.failovers = 800, 3, 1
    write_json(args.json, asyncio.run(run(args)))


if __name__ == "__main__":
    main()
