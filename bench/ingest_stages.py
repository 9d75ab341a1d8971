"""What each stage of durable webhook ingest costs, in process, on the growing-groups shape.

The HTTP A/B (`webhook_ingest.py`) says how far the bot is from bare aiohttp; this says where
the difference goes. Each stage runs alone over the same bodies (every delivery 2 new alerts
into one of 200 cycling groups), timed with `time.perf_counter` and the thread CPU clock:

- parse: the body's bytes to a JSON value, as the webhook handler does;
- validate: that value checked as an Alertmanager notification;
- identify: the delivery's id and the body as stored (fingerprints filled in);
- store: the store's own write for the delivery (dedup row, alerts, group summary) inside
  transactions of 32, no fsync (`synchronous = OFF` on a copy of the schema);
- commit: the same writes through the store's writer with 32 callers waiting at once, as the
  server does: group commit with the fsync a 200 promises.

Run: `.venv/bin/python bench/ingest_stages.py [--quick] [--json FILE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlite_utils import Database

from bench._harness import table, write_json
from bench.webhook_ingest import growing_body
from bot.intake import alertmanager
from bot.store.migrations import migrate
from bot.store.sqlite import SqliteStore
from bot.store.sqlite_alerts import AlertStore

CONCURRENCY = 32


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - wall, time.thread_time() - cpu


def stage_row(name: str, n: int, wall: float, cpu: float, what: str) -> dict[str, Any]:
    return {
        "stage": name,
        "deliveries": n,
        "us_per_delivery": round(wall / n * 1e6, 1),
        "cpu_us_per_delivery": round(cpu / n * 1e6, 1),
        "what": what,
    }


def store_stage(bodies: list[dict[str, Any]], ids: list[str], path: Path) -> tuple[float, float]:
    """The store's write function, called as the writer calls it, in transactions of 32,
    with the fsync taken out: the Python and SQLite work a delivery costs."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    db = Database(conn)
    migrate(db)
    at = datetime.now(UTC)

    def run() -> None:
        for start in range(0, len(bodies), CONCURRENCY):
            conn.execute("BEGIN IMMEDIATE")
            for body, delivery_id in zip(
                bodies[start : start + CONCURRENCY], ids[start : start + CONCURRENCY], strict=True
            ):
                with db.atomic():
                    AlertStore.write_delivery(db, "alertmanager", delivery_id, body, at, None)
            conn.execute("COMMIT")

    result = timed(run)
    conn.close()
    return result


async def commit_stage(
    bodies: list[dict[str, Any]], ids: list[str], raws: list[bytes], path: Path
) -> tuple[float, float, int]:
    store = SqliteStore(str(path))
    await store.open()
    at = datetime.now(UTC)
    queue = list(zip(bodies, ids, raws, strict=True))

    async def caller() -> None:
        while queue:
            body, delivery_id, raw = queue.pop()
            await store.record_delivery("alertmanager", delivery_id, body, at, raw=raw)

    batches = store.write_batches
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    commits = store.write_batches - batches
    await store.close()
    return wall, cpu, commits


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = 1000 if args.quick else args.deliveries
    raws = [growing_body("st", i) for i in range(n)]
    values: list[Any] = []
    models: list[alertmanager.Notification] = []
    bodies: list[dict[str, Any]] = []
    ids: list[str] = []
    rows = []

    def parse() -> None:
        values.extend(alertmanager.load(raw) for raw in raws)

    wall, cpu = timed(parse)
    rows.append(stage_row("parse", n, wall, cpu, "bytes to a JSON value (load_json)"))

    def validate() -> None:
        for value in values:
            parsed = alertmanager.validate(value)
            assert isinstance(parsed, alertmanager.Notification)
            models.append(parsed)

    wall, cpu = timed(validate)
    rows.append(stage_row("validate", n, wall, cpu, "checked as an Alertmanager notification"))

    def identify() -> None:
        for model, value in zip(models, values, strict=True):
            ids.append(model.delivery_id())
            bodies.append(model.stored(value))

    wall, cpu = timed(identify)
    rows.append(stage_row("identify", n, wall, cpu, "delivery id, fingerprints filled in"))

    with tempfile.TemporaryDirectory(prefix="ingest-stages-") as tmp:
        wall, cpu = store_stage(bodies, ids, Path(tmp) / "store.db")
        rows.append(
            stage_row("store", n, wall, cpu, "the store's write, transactions of 32, no fsync")
        )
        wall, cpu, commits = asyncio.run(commit_stage(bodies, ids, raws, Path(tmp) / "commit.db"))
        rows.append(
            stage_row(
                "store + commit",
                n,
                wall,
                cpu,
                f"through the writer, {CONCURRENCY} callers, group commit with fsync"
                f" ({commits} commits, {n / max(commits, 1):.1f} deliveries each)",
            )
        )
    return {"deliveries": n, "stages": rows}


def render(result: dict[str, Any]) -> str:
    lines = [
        table(
            ["stage", "µs/delivery", "CPU µs/delivery", "what"],
            [
                [r["stage"], r["us_per_delivery"], r["cpu_us_per_delivery"], r["what"]]
                for r in result["stages"]
            ],
        ),
        f"- {result['deliveries']} deliveries of 2 new alerts into 200 cycling groups; the"
        " store stages start from an empty database, so groups grow as in the HTTP bench.",
        "- The HTTP layer's own cost is the bare aiohttp server's CPU per request in"
        " webhook_ingest.py.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 deliveries")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    result = run(args)
    print(render(result))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
