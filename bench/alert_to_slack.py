"""Alert to Slack: from a webhook landing on the bot to its first `chat.postMessage` for that
alert group reaching Slack (a FakeSlack in this process; the arrival is timed where the fake
receives the call, on the same monotonic clock as the sender).

The bot runs as `incident-bot serve` with SLACK_API_URL pointed at the fake. Groups are
spaced out (default 50 groups, 0.3 s apart) and routed to 5 channels by a `team` label
(a copy of the bundled config with channel routes), so no post waits for Slack's
1 message/s/channel pacing: what is measured is the bot's own path (store, alert thread,
outbox, Slack client). Three groups go first as a warm-up and are not counted.

    .venv/bin/python bench/alert_to_slack.py [--groups 50] [--spacing 0.3]
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
import yaml

from bench._harness import (
    APP_TOKEN,
    BOT_TOKEN,
    REPO,
    bot_server,
    percentile,
    slack_env,
    table,
    workdir,
    write_json,
)
from bench._slack import BenchSlack
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.slack_api import BOT_USER_ID

CHANNELS = 5
WARMUP = 3


def bench_config(tmp: Path) -> Path:
    """The bundled config, with alert groups routed to a channel per `team` label."""
    config = yaml.safe_load((REPO / "bot" / "defaults" / "factsway.yaml").read_text())
    config["channels"]["routes"] = [
        {"channel": f"C_BENCH{j}", "labels": {"team": f"t{j}"}} for j in range(CHANNELS)
    ]
    config["playbooks_dir"] = str(REPO / "playbooks")
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def body(i: int) -> tuple[str, bytes]:
    name = f"BenchLatency{i:03d}"
    payload = notification(f"latency-{i}", [alert(f"lat{i:04d}", alertname=name)], alertname=name)
    payload["commonLabels"]["team"] = f"t{i % CHANNELS}"
    return name, json.dumps(payload).encode()


def first_post(fake: BenchSlack, name: str) -> float | None:
    for call in fake.calls:
        if call.method != "chat.postMessage":
            continue
        blocks = call.decoded.get("blocks") or []
        if blocks and isinstance(blocks[0], dict) and name in str(blocks[0].get("text", "")):
            return call.at
    return None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sent: dict[str, tuple[float, float, int]] = {}
    with workdir("alert-to-slack") as tmp_name:
        tmp = Path(tmp_name)
        async with BenchSlack(
            bot_token=BOT_TOKEN, app_token=APP_TOKEN, enforce_post_rate=True, tier_limits=True
        ) as fake:
            for j in range(CHANNELS):
                fake.add_channel(f"C_BENCH{j}", f"bench-{j}", members={BOT_USER_ID})
            env = slack_env(fake.url, INCIDENT_BOT_CONFIG=str(bench_config(tmp)))
            bot = await bot_server(tmp, env=env).start()
            try:
                async with aiohttp.ClientSession(trust_env=False) as http:
                    url = bot.url + "/webhooks/alertmanager"
                    headers = {"Content-Type": "application/json"}
                    for i in range(args.groups + WARMUP):
                        name, data = body(i)
                        t0 = time.monotonic()
                        async with http.post(url, data=data, headers=headers) as resp:
                            await resp.read()
                            sent[name] = (t0, time.monotonic(), resp.status)
                        await asyncio.sleep(max(0.0, t0 + args.spacing - time.monotonic()))
                    deadline = time.monotonic() + 15
                    while time.monotonic() < deadline:
                        if all(first_post(fake, n) is not None for n in sent):
                            break
                        await asyncio.sleep(0.1)
            finally:
                bot.stop()
            arrivals = {name: first_post(fake, name) for name in sent}
            rate_limited = sum(1 for c in fake.calls if c.status == 429)
    names = sorted(sent)[WARMUP:]
    from_send = [arrivals[n] - sent[n][0] for n in names if arrivals[n] is not None]
    from_ack = [arrivals[n] - sent[n][1] for n in names if arrivals[n] is not None]
    webhook = [sent[n][1] - sent[n][0] for n in names]
    return {
        "groups": len(names),
        "spacing_s": args.spacing,
        "channels": CHANNELS,
        "missing": sum(1 for n in names if arrivals[n] is None),
        "non_200": sum(1 for n in names if sent[n][2] != 200),
        "rate_limited": rate_limited,
        "from_send": latency(from_send),
        "from_ack": latency(from_ack),
        "webhook": latency(webhook),
    }


def latency(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50_ms": percentile(values, 50) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "min_ms": min(values) * 1000,
        "max_ms": max(values) * 1000,
    }


def render(data: dict[str, Any]) -> str:
    rows = []
    for key, label in (
        ("from_send", "webhook sent -> first chat.postMessage at Slack"),
        ("from_ack", "webhook's 200 received -> first chat.postMessage at Slack"),
        ("webhook", "webhook sent -> its 200 (stored)"),
    ):
        d = data[key]
        rows.append(
            [
                label,
                f"{d['p50_ms']:.1f}",
                f"{d['p99_ms']:.1f}",
                f"{d['min_ms']:.1f}",
                f"{d['max_ms']:.1f}",
            ]
        )
    lines = [
        table(["latency", "p50 ms", "p99 ms", "min ms", "max ms"], rows),
        "",
        f"{data['groups']} alert groups {data['spacing_s']} s apart over {data['channels']} "
        f"channels (after {WARMUP} warm-up groups); target: first Slack call <= 250 ms. "
        f"Groups with no post: {data['missing']}; webhooks not 200: {data['non_200']}; "
        f"429s from the fake: {data['rate_limited']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=0.3)
    parser.add_argument("--quick", action="store_true", help="20 groups")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.groups = min(args.groups, 20)
    data = asyncio.run(run(args))
    text = render(data)
    print(text)
    write_json(args.json, {**data, "table": text})


if __name__ == "__main__":
    main()
