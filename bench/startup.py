"""Start-up to ready, and memory at rest: `incident-bot serve` from exec to `GET /readyz` 200.

Timed from the moment the process is spawned to the first 200 of /readyz (polled every
10 ms), 5 runs each: a fresh SQLite file (migrations included), a restart on that existing
file, and with Slack configured (HTTP mode, a FakeSlack in this process). The bundled config
and playbooks are loaded as `make run` does. RSS is read from /proc/<pid>/status 1 s after
ready, when the bot is at rest; RSS after an alert storm is measured by bench/storm.py.

    .venv/bin/python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import (
    APP_TOKEN,
    BOT_TOKEN,
    bot_server,
    memory_kb,
    slack_env,
    table,
    workdir,
    write_json,
)
from bench._slack import BenchSlack

REST_S = 1.0


async def one(tmp: Path, name: str, env: dict[str, str] | None = None) -> tuple[float, int]:
    bot = bot_server(tmp, env=env, name=name)
    await bot.start()
    try:
        await asyncio.sleep(REST_S)
        rss = memory_kb(bot.pid)["VmRSS"]
    finally:
        bot.stop()
    return bot.ready_seconds, rss


async def run(args: argparse.Namespace) -> dict[str, Any]:
    found: dict[str, dict[str, list[float]]] = {}

    def keep(label: str, ready: float, rss: int) -> None:
        entry = found.setdefault(label, {"ready_s": [], "rss_kb": []})
        entry["ready_s"].append(ready)
        entry["rss_kb"].append(rss)

    with workdir("startup") as tmp_name:
        tmp = Path(tmp_name)
        async with BenchSlack(bot_token=BOT_TOKEN, app_token=APP_TOKEN) as fake:
            for i in range(args.runs):
                keep("fresh database, offline", *await one(tmp, f"fresh{i}"))
                keep("restart on that database", *await one(tmp, f"fresh{i}"))
                keep(
                    "fresh database, Slack configured",
                    *await one(tmp, f"slack{i}", slack_env(fake.url)),
                )
    return {
        label: {
            "runs": len(v["ready_s"]),
            "ready_p50_s": statistics.median(v["ready_s"]),
            "ready_min_s": min(v["ready_s"]),
            "ready_max_s": max(v["ready_s"]),
            "rss_p50_kb": statistics.median(v["rss_kb"]),
            "ready_s": v["ready_s"],
        }
        for label, v in found.items()
    }


def render(data: dict[str, Any]) -> str:
    rows = [
        [
            label,
            d["runs"],
            f"{d['ready_p50_s'] * 1000:.0f}",
            f"{d['ready_min_s'] * 1000:.0f}",
            f"{d['ready_max_s'] * 1000:.0f}",
            f"{d['rss_p50_kb'] / 1024:.0f}",
        ]
        for label, d in data.items()
    ]
    lines = [
        table(["start", "runs", "ready p50 ms", "min ms", "max ms", "RSS at rest MB"], rows),
        "",
        "From spawning `incident-bot serve` to /readyz 200; RSS 1 s after ready. "
        "Targets: ready <= 1.5 s, RSS <= 150 MB.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 runs")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.runs = min(args.runs, 3)
    data = asyncio.run(run(args))
    text = render(data)
    print(text)
    write_json(args.json, {"starts": data, "table": text})


if __name__ == "__main__":
    main()
