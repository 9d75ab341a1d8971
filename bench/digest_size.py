"""What one group's change costs the storm digest, in a digest of 5 groups and of 500.

In-process: a SQLite store and the alert-thread worker, the channel's backlog held above the
storm threshold (posts queued, no sender), so every group joins the digest. Then one member
group changes (an alert flips between firing and resolved) and the sync of that change is
timed, repeatedly, for each digest size; the ratio is the figure (issue 14: within 2x).

    .venv/bin/python bench/digest_size.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import table, write_json
from bot.config import load_platform_config
from bot.domain.clock import SystemClock
from bot.services.outbox import message
from bot.slack.alert_threads import STORM_BACKLOG, AlertThreads, Routing
from bot.store.sqlite import SqliteStore

CHANNEL = "C_ALERTS"


def body(g: int, status: str = "firing", extra: int = 0) -> dict[str, Any]:
    name = f"DigestBench{g:03d}"
    alerts = [
        {
            "status": "firing" if k else status,
            "fingerprint": f"fp-{g}-{k}",
            "labels": {"alertname": name, "job": f"job-{g % 7}", "instance": f"i-{k}"},
            "annotations": {"summary": "digest bench"},
            "startsAt": "2026-01-01T00:00:00Z",
        }
        for k in range(2 + extra)
    ]
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}", job="job-{g % 7}"}}',
        "status": "firing",
        "receiver": "incident-bot",
        "groupLabels": {"alertname": name, "job": f"job-{g % 7}"},
        "commonLabels": {"alertname": name, "severity": "warning"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }


async def measure(size: int, changes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(str(Path(tmp) / "bench.db"))
        await store.open()
        try:
            config = load_platform_config(None)
            threads = AlertThreads(store, config, Routing(config, CHANNEL), SystemClock())
            # Posts nobody sends: the channel stays in a storm, so new groups join the digest.
            await store.enqueue(
                [message("chat.postMessage", CHANNEL, f"held {n}") for n in range(STORM_BACKLOG)]
            )
            now = datetime.now(UTC)
            for g in range(size):
                await store.record_delivery("alertmanager", f"join-{g}", body(g), now)
            await threads.sync_pending()
            timings = []
            for n in range(changes):
                status = "resolved" if n % 2 == 0 else "firing"
                target = n % size
                await store.record_delivery("alertmanager", f"c-{n}", body(target, status), now)
                started = time.perf_counter()
                synced = await threads.sync_pending()
                timings.append(time.perf_counter() - started)
                assert synced == 1, synced
            return {
                "size": size,
                "p50_ms": statistics.median(timings) * 1000,
                "mean_ms": statistics.fmean(timings) * 1000,
            }
        finally:
            await store.close()


async def run(quick: bool) -> dict[str, Any]:
    changes = 40 if quick else 200
    small = await measure(5, changes)
    large = await measure(500, changes)
    return {"small": small, "large": large, "ratio": large["p50_ms"] / small["p50_ms"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args.quick))
    rows = [
        [f"digest of {r['size']}", f"{r['p50_ms']:.2f}", f"{r['mean_ms']:.2f}"]
        for r in (result["small"], result["large"])
    ]
    print(table(["one group's change", "sync p50 ms", "mean ms"], rows))
    print(f"500 / 5: {result['ratio']:.2f}x (target: within 2x)")
    if args.json:
        write_json(str(args.json), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
