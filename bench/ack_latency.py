"""Slash-command ack latency: signed `/incident help` requests to `POST /slack/events`, first
with the bot idle, then while Alertmanager webhooks arrive at a steady rate.

The bot runs as `incident-bot serve` in HTTP mode (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)
with SLACK_API_URL at a FakeSlack in this process (1 post/s/channel and tier limits, so the
alert threads it posts back up into its outbox as they would on Slack). Commands are sent
open-loop (a fixed rate, each timed from request to Bolt's HTTP answer, which is Slack's
ack) from their own connection pool; webhooks update 50 alert groups (every body a change:
a new alert firing and an older one resolved) from another pool.

    .venv/bin/python bench/ack_latency.py [--rate 100] [--seconds 20] [--command-rate 20]
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

from bench._harness import (
    APP_TOKEN,
    BOT_TOKEN,
    bot_server,
    cpu_seconds,
    self_cpu_seconds,
    slack_env,
    table,
    workdir,
    write_json,
)
from bench._load import LoadResult, open_loop, session, signed_slash_command, summary
from bench._slack import BenchSlack
from tests.fakes.alertmanager_payloads import alert, notification

GROUPS = 50


def webhook_body(i: int) -> bytes:
    """Group i % 50: alert i starts firing, the group's previous alert (i - 50) resolves."""
    g = i % GROUPS
    name = f"BenchAck{g:02d}"
    alerts = [alert(f"ack{i:06d}", alertname=name)]
    if i >= GROUPS:
        alerts.append(alert(f"ack{i - GROUPS:06d}", alertname=name, status="resolved"))
    return json.dumps(notification(f"ack-{g}", alerts, alertname=name)).encode()


async def commands(url: str, *, rate: float, duration_s: float) -> LoadResult:
    """Open loop: one signed `/incident help` every 1/rate s, each answered on its own."""
    result = LoadResult()
    tasks: set[asyncio.Task[None]] = set()
    async with session(32) as http:

        async def one(n: int) -> None:
            data, headers = signed_slash_command("/incident", "help", n=n)
            t0 = time.perf_counter()
            try:
                async with http.post(url, data=data, headers=headers) as resp:
                    answer = await resp.read()
                    ok = resp.status == 200 and b"ephemeral" in answer
                    result.record(resp.status if ok else -resp.status, time.perf_counter() - t0)
            except (aiohttp.ClientError, TimeoutError):
                result.errors += 1

        began = time.monotonic()
        n = 0
        while time.monotonic() - began < duration_s:
            await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
            task = asyncio.create_task(one(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            result.sent += 1
        if tasks:
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        result.wall = time.monotonic() - began
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with workdir("ack") as tmp_name:
        tmp = Path(tmp_name)
        async with BenchSlack(
            bot_token=BOT_TOKEN, app_token=APP_TOKEN, enforce_post_rate=True, tier_limits=True
        ) as fake:
            bot = await bot_server(tmp, env=slack_env(fake.url)).start()
            try:
                slack_url = bot.url + "/slack/events"
                await commands(slack_url, rate=args.command_rate, duration_s=1.0)  # warm-up
                idle = await commands(slack_url, rate=args.command_rate, duration_s=args.idle)
                cpu0, self0 = cpu_seconds(bot.pid), self_cpu_seconds()
                async with session(64) as http:
                    hooks = asyncio.create_task(
                        open_loop(
                            http,
                            bot.url + "/webhooks/alertmanager",
                            webhook_body,
                            rate=args.rate,
                            duration_s=args.seconds,
                        )
                    )
                    await asyncio.sleep(1.0)  # let the load settle in
                    loaded = await commands(
                        slack_url, rate=args.command_rate, duration_s=args.seconds - 1.5
                    )
                    hooks_result = await hooks
                bot_cpu = cpu_seconds(bot.pid) - cpu0
                client_cpu = self_cpu_seconds() - self0
            finally:
                bot.stop()
            slack_calls = len(fake.calls)
    return {
        "idle": {**summary(idle.latencies), "non_ok": idle.sent - idle.ok},
        "loaded": {**summary(loaded.latencies), "non_ok": loaded.sent - loaded.ok},
        "webhooks": {
            **summary(hooks_result.latencies),
            "sent": hooks_result.sent,
            "ok": hooks_result.ok,
            "rate": hooks_result.ok / hooks_result.wall if hooks_result.wall else 0.0,
            "errors": hooks_result.errors,
        },
        "bot_cpu_s": bot_cpu,
        "client_cpu_s": client_cpu,
        "wall_s": hooks_result.wall,
        "slack_calls": slack_calls,
        "args": vars(args),
    }


def render(data: dict[str, Any]) -> str:
    args = data["args"]
    hooks = data["webhooks"]
    rows = []
    for key, label in (
        ("idle", "/incident help, bot idle"),
        ("loaded", f"/incident help, {args['rate']:.0f} webhooks/s arriving"),
    ):
        d = data[key]
        rows.append(
            [
                label,
                d["n"],
                d["non_ok"],
                f"{d['p50_ms']:.1f}",
                f"{d['p99_ms']:.1f}",
                f"{d['max_ms']:.1f}",
            ]
        )
    rows.append(
        [
            "the webhooks themselves",
            hooks["ok"],
            hooks["sent"] - hooks["ok"],
            f"{hooks['p50_ms']:.1f}",
            f"{hooks['p99_ms']:.1f}",
            f"{hooks['max_ms']:.1f}",
        ]
    )
    lines = [
        table(["requests", "n", "not ok", "p50 ms", "p99 ms", "max ms"], rows),
        "",
        f"target: ack p99 <= 100 ms. Commands {args['command_rate']:.0f}/s open loop; webhooks "
        f"{hooks['rate']:.1f}/s achieved of {args['rate']:.0f}/s asked, for "
        f"{data['wall_s']:.1f} s, {GROUPS} groups each changing every time; bot CPU "
        f"{data['bot_cpu_s']:.1f} s in that window ({data['bot_cpu_s'] / data['wall_s']:.0%} "
        f"of one core), client and fake {data['client_cpu_s']:.1f} s; Slack calls made by "
        f"the bot: {data['slack_calls']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the load")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of commands at rest")
    parser.add_argument("--command-rate", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="8 s of load")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.idle = min(args.seconds, 8.0), min(args.idle, 3.0)
    data = asyncio.run(run(args))
    text = render(data)
    print(text)
    write_json(args.json, {**data, "table": text})


if __name__ == "__main__":
    main()
