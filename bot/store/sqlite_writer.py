"""One writer thread per SQLite file: writes queue up and commit together (group commit).

The event loop never blocks on SQLite, and many concurrent writes share one fsync: each caller
is answered only after the transaction holding its write has committed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlite_utils import Database

from bot.store.base import StoreUnavailable

T = TypeVar("T")
# The caller's future lives on its event loop: the writer settles a whole batch there with one
# wake-up, not one per write (a wake-up is a syscall and a loop iteration each).
Job = tuple[Callable[[Database], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]

log = logging.getLogger(__name__)
MAX_BATCH = 512
BUSY_TIMEOUT_MS = 5000


def connect(path: str) -> Database:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    # FULL: a 200 to a webhook means the delivery survives a power cut, not only a crash.
    conn.execute("PRAGMA synchronous = FULL")
    return Database(conn)


class Writer:
    def __init__(self, path: str) -> None:
        self._path = path
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.batches = 0
        self.writes = 0
        # Whether the last commit worked, so readiness can say whether writes commit now.
        self.failure: str | None = None
        self.checked_at = 0.0

    def start(self, setup: Callable[[Database], None]) -> None:
        self._setup = setup
        self._thread.start()
        self._ready.result()

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=10)

    async def run(self, fn: Callable[[Database], T]) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, fut, loop))
        return await fut

    def _run(self) -> None:
        try:
            db = connect(self._path)
            self._setup(db)
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            self._commit(db, batch)
        db.close()

    def _commit(self, db: Database, batch: list[Job]) -> None:
        # A caller cancelled before its turn (a client that went away) is not written. Read
        # across threads: at worst a write cancelled this instant is still made, as it would
        # have been a moment earlier.
        live = [job for job in batch if not job[1].cancelled()]
        if not live:
            return
        changes = db.conn.total_changes
        try:
            db.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._fail(live, exc)
            return
        outcomes: list[tuple[Job, Any, BaseException | None]] = []
        for job in live:
            try:
                # A savepoint per job: one caller's bad write must not undo its neighbours'.
                with db.atomic():
                    outcomes.append((job, job[0](db), None))
            except sqlite3.OperationalError as exc:
                # Disk full, I/O error, lock lost: the caller should retry, not give up.
                outcomes.append((job, None, StoreUnavailable(f"database unavailable: {exc}")))
                self._note(str(exc))
            except Exception as exc:
                outcomes.append((job, None, exc))
        try:
            db.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            self._fail(live, exc)
            return
        self.batches += 1
        self.writes += len(live)
        # Only a committed change shows writes work: a read-only file commits reads too.
        failed = any(isinstance(error, StoreUnavailable) for _, _, error in outcomes)
        if db.conn.total_changes > changes and not failed:
            self._note(None)
        _settle(outcomes)

    def _note(self, failure: str | None) -> None:
        # Said when it changes, not per batch: a read-only or full disk fails thousands of
        # batches a second, and the callers back off and say it themselves.
        if failure is not None and self.failure is None:
            log.warning("store writes failing", extra={"error": failure})
        elif failure is None and self.failure is not None:
            log.info("store writes commit again")
        self.failure, self.checked_at = failure, time.monotonic()

    def _fail(self, live: list[Job], exc: sqlite3.Error) -> None:
        self._note(str(exc))
        _settle([(job, None, StoreUnavailable(f"database unavailable: {exc}")) for job in live])


def _settle(outcomes: list[tuple[Job, Any, BaseException | None]]) -> None:
    """Hands each loop its batch's outcomes in one call."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for (_, fut, loop), value, error in outcomes:
        by_loop.setdefault(loop, []).append((fut, value, error))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting
            loop.call_soon_threadsafe(_resolve, settled)


def _resolve(outcomes: list[Outcome]) -> None:
    for fut, value, error in outcomes:
        if fut.cancelled():
            continue
        if error is None:
            fut.set_result(value)
        else:
            fut.set_exception(error)
