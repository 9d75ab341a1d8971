"""The SQLite store's foundation: the writer thread, reader threads and row helpers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database
from sqlite_utils.db import Table

from bot.store.base import StoreUnavailable
from bot.store.columns import from_iso, iso, now_iso
from bot.store.migrations import migrate
from bot.store.sqlite_writer import Writer, connect

log = logging.getLogger(__name__)
T = TypeVar("T")
PING_REUSE_SECONDS = 1.0


# Kept under the names the SQLite modules have always imported.
_iso, _dt, _now = iso, from_iso, now_iso


def _last_id(table: Table) -> int:
    assert table.last_pk is not None
    return int(table.last_pk)


def create_private(path: Path) -> None:
    """Creates the database file readable by its owner alone, before SQLite does (it would make
    it 0644): the store holds webhook bodies and messages. SQLite gives the -wal and -shm files
    the database file's mode. A folder the bot creates for it is private too."""
    if not path.parent.is_dir():
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.parent.mkdir(mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    # A file an older version made 0644 (or one copied in) is closed to others too.
    for existing in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            mode = existing.stat().st_mode & 0o777
            if mode & 0o077:
                try:
                    existing.chmod(mode & 0o700)
                except PermissionError:
                    log.warning(
                        "the database file is readable by others", extra={"file": existing.name}
                    )
                else:
                    log.info("made the database file private", extra={"file": existing.name})


class SqliteBase:
    """Owns the file: one writer thread (group commit) and a pool of readers."""

    backend = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writer = Writer(self.path)
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store-read")
        self._local = threading.local()
        self._opened = False

    # lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self.path != ":memory:":
            await asyncio.to_thread(create_private, Path(self.path))

        def setup(db: Database) -> None:
            db.conn.execute("PRAGMA journal_mode = WAL")
            migrate(db)
            # One process per file: a lease still held here is a stopped process's, and the
            # restarted bot must not wait out its time to resume sending. Only written when
            # there is one, so a store that cannot commit still opens and reports itself down.
            if db.execute("SELECT 1 FROM leases WHERE expires_at > 0 LIMIT 1").fetchone():
                with contextlib.suppress(sqlite3.OperationalError):  # read-only: ping says so
                    db.execute("UPDATE leases SET expires_at = 0")

        await asyncio.to_thread(self._writer.start, setup)
        self._opened = True

    async def close(self) -> None:
        if self._opened:
            await asyncio.to_thread(self._writer.stop)
            self._readers.shutdown(wait=True)
            self._opened = False

    async def ping(self) -> None:
        """Commits a one-row write, so "ready" means writes can commit, not only reads (a
        read-only or full disk still reads). What the writer saw in the last second answers
        instead: probes must not each cost a commit."""
        writer = self._writer
        if time.monotonic() - writer.checked_at < PING_REUSE_SECONDS:
            if writer.failure is not None:
                raise StoreUnavailable(f"database unavailable: {writer.failure}")
            return
        await self._write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO store_heartbeat (id, at) VALUES (1, ?)", [_now()]
            )
        )

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
