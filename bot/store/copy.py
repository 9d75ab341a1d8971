"""`incident-bot store copy`: a SQLite store's rows into an empty PostgreSQL store, so a team
that outgrows one process keeps its history.

Rows go across verbatim (both schemas have the same columns and text encodings), so timeline
hash chains still verify and alert groups keep their Slack message references. One
transaction: a copy that fails leaves the target empty.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bot.store.pg_base import redacted
from bot.store.pg_migrations import migrate
from bot.store.sqlite import SqliteStore

# Parents before children (timeline events reference incidents); within a table, arrival order.
TABLES = (
    "incidents",
    "timeline_events",
    "webhook_deliveries",
    "alerts",
    "alert_groups",
    "outbox",
    "slack_messages",
    "pd_incidents",
    "pd_events",
    "seen_events",
    "pending_actions",
    "slack_requests_seen",
    "digests",
    "digest_lines",
    "status_incidents",
    "status_updates",
    "maintenances",
)
# Belong to the running process, not the history: a lease or a heartbeat means nothing elsewhere,
# and a job is the work after one request's answer, rerun only where that request was taken.
NOT_COPIED = {"leases", "store_heartbeat", "jobs"}
BATCH = 1000


class CopyError(Exception):
    """Why the copy was refused, on one line."""


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


_CASTS: dict[str, Callable[[Any], Any]] = {
    "bigint": int,
    "integer": int,
    "double precision": float,
    "text": str,
}


async def copy_sqlite_to_postgres(source: Path, dsn: str) -> CopyReport:
    if not await asyncio.to_thread(source.is_file):
        raise CopyError(f"no SQLite store at {source}")
    # Brought to the latest schema first, as `serve` would, so the columns match.
    sqlite_store = SqliteStore(source)
    await sqlite_store.open()
    await sqlite_store.close()
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError) as exc:
        raise CopyError(f"cannot reach {redacted(dsn)}: {str(exc).splitlines()[0]}") from None
    try:
        await migrate(conn)
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            _check_tables(db)
            async with conn.transaction():
                await _refuse_unless_empty(conn)
                rows = {table: await _copy_table(db, conn, table) for table in TABLES}
        return CopyReport(rows)
    finally:
        await conn.close()


def _check_tables(db: sqlite3.Connection) -> None:
    """A table this module does not know would be left behind without a word: refuse."""
    names = {
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    unknown = sorted(names - set(TABLES) - NOT_COPIED)
    if unknown:
        raise CopyError(f"the SQLite store has tables this version cannot copy: {unknown}")


async def _refuse_unless_empty(conn: asyncpg.Connection) -> None:
    for table in TABLES:
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
            raise CopyError(
                f"the PostgreSQL store already holds data ({table}): copy into an empty database"
            )


async def _copy_table(db: sqlite3.Connection, conn: asyncpg.Connection, table: str) -> int:
    types = {
        r["column_name"]: r["data_type"]
        for r in await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1",
            table,
        )
    }
    cursor = db.execute(f"SELECT * FROM {table} ORDER BY rowid")
    columns = [d[0] for d in cursor.description]
    missing = [c for c in columns if c not in types]
    if missing:
        raise CopyError(f"{table}: columns the PostgreSQL schema lacks: {missing}")
    casts = [_CASTS.get(types[c], str) for c in columns]
    copied = 0
    while batch := cursor.fetchmany(BATCH):
        records = [
            tuple(None if v is None else cast(v) for v, cast in zip(row, casts, strict=True))
            for row in batch
        ]
        await conn.copy_records_to_table(table, records=records, columns=columns)
        copied += len(records)
    if "id" in columns and types["id"] == "bigint":
        # The copied ids were set explicitly: new rows continue after them.
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
        )
    return copied
