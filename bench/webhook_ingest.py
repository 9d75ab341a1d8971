"""Webhook ingest: `POST /webhooks/alertmanager` on the bot against a bare aiohttp handler.

Both are subprocesses on loopback, driven in the same run by the same closed-loop asyncio
client (N connections, a fixed request count, every body a new group and fingerprint, so
nothing is a duplicate). The bot answers 200 only once the delivery is committed to SQLite
(synchronous=FULL, group commit); the bare handler reads the body and answers 200.

The client shares the machine's cores with the server, so the CPU seconds of the client and
of each server are measured (from /proc and process_time) and given per request: the ratio
is fair only if the client was not the bottleneck. The bot keeps working after its last 200
(alert threads, outbox): "CPU incl. after" adds that work until the process is idle again.

    .venv/bin/python bench/webhook_ingest.py [--requests 5000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench._harness import (
    API_TOKEN,
    Server,
    SyncCounter,
    bare_server,
    bot_server,
    cpu_seconds,
    self_cpu_seconds,
    table,
    workdir,
    write_json,
)
from bench._load import closed_loop, summary, webhook_body
from tests.fakes.alertmanager_payloads import alert, notification

PATH = "/webhooks/alertmanager"
MIXES = ("new-groups", "growing")


def growing_body(tag: str, i: int, *, groups: int = 200, alerts: int = 2) -> bytes:
    """A storm's real shape: a few hundred groups that keep growing (a node dies and one
    TargetDown group gains an alert per pod). Delivery i adds `alerts` new fingerprints to
    group i mod `groups`, carrying only those (as `max_alerts` would): nothing is a
    duplicate, and each group grows by the same amount."""
    group = f"{tag}-g{i % groups:03d}"
    items = [
        alert(f"{tag}{i:07d}x{k}", alertname="BenchTargetDown", instance=f"{group}-{i}-{k}")
        for k in range(alerts)
    ]
    return json.dumps(notification(group, items, alertname="BenchTargetDown")).encode()


def body_for(args: argparse.Namespace, tag: str, i: int) -> bytes:
    if args.mix == "growing":
        return growing_body(tag, i, groups=args.groups)
    return webhook_body(tag, i)


async def wait_idle(
    pid: int, *, quiet_s: float = 1.0, limit_s: float = 60.0, tick_s: float = 0.1
) -> float:
    """Seconds until the process used under 2% CPU for `quiet_s`: the start of the first such
    window, sampled every `tick_s` (the kernel counts CPU in 10 ms ticks, so a window shorter
    than a second could not tell 2% from 0)."""
    began = time.monotonic()
    samples = [(began, cpu_seconds(pid))]
    while time.monotonic() - began < limit_s:
        await asyncio.sleep(tick_s)
        now, cpu = time.monotonic(), cpu_seconds(pid)
        samples.append((now, cpu))
        while len(samples) > 1 and now - samples[1][0] >= quiet_s:
            samples.pop(0)
        since, then = samples[0]
        if now - since >= quiet_s and cpu - then <= 0.02 * quiet_s:
            return since - began
    return time.monotonic() - began


async def stored_total(server: Server) -> int | None:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with (
        aiohttp.ClientSession(trust_env=False) as http,
        http.get(f"{server.url}/api/alerts?limit=1", headers=headers) as resp,
    ):
        if resp.status != 200:
            return None
        return int((await resp.json())["total"])


async def measure(server: Server, tag: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    await server.start()
    try:
        url = server.url + PATH
        warm = [body_for(args, f"{tag}w", i) for i in range(args.warmup)]
        bodies = [body_for(args, tag, i) for i in range(args.requests)]
        await closed_loop(url, warm, concurrency=args.concurrency, deadline_s=30)
        if server.name == "incident-bot":
            await wait_idle(server.pid)
        counter = SyncCounter(server.pid, tmp / f"{tag}.perf")
        counting = server.name == "incident-bot" and counter.start()
        srv0, gen0 = cpu_seconds(server.pid), self_cpu_seconds()
        result = await closed_loop(
            url, bodies, concurrency=args.concurrency, deadline_s=args.max_seconds
        )
        srv1, gen1 = cpu_seconds(server.pid), self_cpu_seconds()
        after_s = await wait_idle(server.pid) if server.name == "incident-bot" else 0.0
        srv2 = cpu_seconds(server.pid)
        syncs = counter.stop() if counting else None
        stored = await stored_total(server) if server.name == "incident-bot" else None
    finally:
        server.stop()
    done = len(result.latencies)
    return {
        "server": server.name,
        "requests": done,
        "ok": result.ok,
        "errors": result.errors + done - result.ok,
        "wall_s": result.wall,
        "rps": done / result.wall if result.wall else 0.0,
        "rps_by_quarter": result.rate_by_part(result.began),
        **summary(result.latencies),
        "server_cpu_s": srv1 - srv0,
        "server_cpu_incl_after_s": srv2 - srv0,
        "after_s": after_s,
        "client_cpu_s": gen1 - gen0,
        "fsyncs": syncs,
        "stored": stored,
    }


def render(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    bare, bot = rows
    header = [
        "server",
        "requests",
        "non-200",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "server CPU s",
        "server CPU ms/req",
        "client CPU s",
        "client CPU ms/req",
    ]
    body = []
    for r in rows:
        n = max(1, r["requests"])
        body.append(
            [
                r["server"],
                r["requests"],
                r["errors"],
                f"{r['rps']:.0f}",
                f"{r['p50_ms']:.1f}",
                f"{r['p99_ms']:.1f}",
                f"{r['max_ms']:.1f}",
                f"{r['server_cpu_s']:.2f}",
                f"{r['server_cpu_s'] * 1000 / n:.3f}",
                f"{r['client_cpu_s']:.2f}",
                f"{r['client_cpu_s'] * 1000 / n:.3f}",
            ]
        )
    n = max(1, bot["requests"])
    lines = [
        table(header, body),
        "",
        f"ratio bot/bare: throughput {bot['rps'] / bare['rps']:.1%}, "
        f"p50 latency {bot['p50_ms'] / bare['p50_ms']:.1f}x, "
        f"p99 latency {bot['p99_ms'] / bare['p99_ms']:.1f}x "
        "(target: throughput >= 50%)",
        f"bot CPU incl. work after the last 200 (alert threads, outbox; idle again after "
        f"{bot['after_s']:.1f} s): {bot['server_cpu_incl_after_s']:.2f} s = "
        f"{bot['server_cpu_incl_after_s'] * 1000 / n:.3f} ms/req",
    ]
    for r in rows:
        lines.append(
            f"{r['server']} req/s in each quarter of the run: "
            + " / ".join(f"{v:.0f}" for v in r["rps_by_quarter"])
        )
    quarters = zip(bot["rps_by_quarter"], bare["rps_by_quarter"], strict=False)
    lines.append(
        "ratio bot/bare in each quarter (the bot slows as its tables grow): "
        + " / ".join(f"{b / a:.1%}" for b, a in quarters)
    )
    if bot["fsyncs"] is not None:
        lines.append(
            f"SQLite commits (fdatasync calls, ~1% are checkpoints) while serving "
            f"{bot['requests']} webhooks and the work they caused: {bot['fsyncs']} "
            f"= {bot['fsyncs'] / n:.2f} per webhook"
        )
    else:
        lines.append("SQLite commits: not counted (perf with syscall tracepoints unavailable)")
    if bot["stored"] is not None:
        lines.append(
            f"alerts stored by the bot: {bot['stored']} "
            f"(warm-up {args.warmup} + measured {bot['requests']})"
        )
    shape = (
        f"each body 2 new alerts into one of {args.groups} cycling groups"
        if args.mix == "growing"
        else "each body a new group with 1 alert"
    )
    bare_n = max(1, bare["requests"])
    lines.append(
        f"CPU per webhook (incl. work after): bot {bot['server_cpu_incl_after_s'] * 1000 / n:.3f}"
        f" ms, bare aiohttp {bare['server_cpu_s'] * 1000 / bare_n:.3f} ms"
    )
    lines.append(
        f"{args.concurrency} connections, {args.requests} requests each after "
        f"{args.warmup} warm-up, {shape}, "
        f"{os.cpu_count()} cores shared by client and server"
    )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with workdir("ingest") as tmp_name:
        tmp = Path(tmp_name)
        bare = await measure(bare_server(tmp), "bare", args, tmp)
        bot = await measure(
            bot_server(tmp, env={"INCIDENT_BOT_API_TOKEN": API_TOKEN}), "bot", args, tmp
        )
    return {"bare": bare, "bot": bot, "args": vars(args)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument(
        "--mix",
        choices=MIXES,
        default="new-groups",
        help="new-groups: every body a new group of 1 alert (the easy load); growing: "
        "2 new alerts per body into --groups cycling groups (a storm's shape)",
    )
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="1,000 requests")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.requests = min(args.requests, 1000)
    data = asyncio.run(run(args))
    text = render([data["bare"], data["bot"]], args)
    print(text)
    write_json(args.json, {**data, "table": text})


if __name__ == "__main__":
    main()
