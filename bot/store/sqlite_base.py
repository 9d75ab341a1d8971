"""The SQLite store's foundation: the writer thread, reader threads and row helpers."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database
from sqlite_utils.db import Table

from bot.store.base import StoreUnavailable
from bot.store.migrations import migrate
from bot.store.sqlite_writer import Writer, connect

T = TypeVar("T")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _last_id(table: Table) -> int:
    assert table.last_pk is not None
    return int(table.last_pk)


class SqliteBase:
    """Owns the file: one writer thread (group commit) and a pool of readers."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writer = Writer(self.path)
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store-read")
        self._local = threading.local()
        self._opened = False

    # lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)

        def setup(db: Database) -> None:
            db.conn.execute("PRAGMA journal_mode = WAL")
            migrate(db)

        await asyncio.to_thread(self._writer.start, setup)
        self._opened = True

    async def close(self) -> None:
        if self._opened:
            await asyncio.to_thread(self._writer.stop)
            self._readers.shutdown(wait=True)
            self._opened = False

    async def ping(self) -> None:
        """Through the writer, so "ready" means writes can commit, not only reads."""
        await self._write(lambda db: db.execute("SELECT 1").fetchone())

    @property
    def write_batches(self) -> int:
        return self._writer.batches

    async def _write(self, fn: Callable[[Database], T]) -> T:
        return await self._writer.run(fn)

    async def _read(self, fn: Callable[[Database], T]) -> T:
        def run() -> T:
            db: Database | None = getattr(self._local, "db", None)
            if db is None:
                db = connect(self.path)
                self._local.db = db
            try:
                return fn(db)
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"database unavailable: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    @staticmethod
    def _rows(db: Database, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(db.query(sql, list(params)))
