"""The PostgreSQL store's foundation: the pool, migrations at start, and serializable writes.

Every write is one SERIALIZABLE transaction, retried when PostgreSQL aborts it for a conflict
with another replica's: each write then behaves as if it were the only one, as it is behind
the SQLite store's single writer, so the two stores share their read-then-write logic. Reads
are one read-only snapshot each.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeAlias, TypeVar

import asyncpg

from bot.store.base import StoreUnavailable
from bot.store.columns import now_iso
from bot.store.pg_migrations import migrate

log = logging.getLogger(__name__)
T = TypeVar("T")
Isolation: TypeAlias = Literal["serializable", "repeatable_read", "read_committed"]
Conn: TypeAlias = asyncpg.Connection
PING_REUSE_SECONDS = 1.0
POOL_SIZE = 10
# Seconds a statement may run before the store calls the database unavailable.
COMMAND_TIMEOUT = 15.0
CONNECT_TIMEOUT = 10.0
# A conflict is another replica's write winning a race; a few retries always get through.
CONFLICT_RETRIES = 12
CONFLICT_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def _unavailable(exc: BaseException) -> bool:
    """Errors that say the database cannot take the write now (down, restarting, failed over
    to a read-only standby, out of disk or connections), not that the write was wrong."""
    if isinstance(exc, OSError | TimeoutError | asyncpg.InterfaceError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        # 08 connection, 53 resources, 57 operator intervention, 58 system error,
        # 25006 read-only transaction (a standby).
        return state[:2] in {"08", "53", "57", "58"} or state == "25006"
    return False


def conflict(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.PostgresError) and (
        getattr(exc, "sqlstate", None) in CONFLICT_SQLSTATES
    )


def without_nul(value: str) -> str:
    """PostgreSQL's text cannot hold U+0000; SQLite's can. Array parameters (`text[]`) do not
    pass through the text codec below, so their callers apply this themselves."""
    return value.replace("\x00", "")


async def _keep_session(conn: Conn) -> None:
    """What a connection goes back to the pool with, beyond asyncpg's own rollback of a
    transaction left open: nothing. The store keeps no session state (its advisory locks are
    transaction-scoped; no LISTEN, SET or cursor outlives a transaction), and the default
    reset query was one more round trip per transaction, 5% of the bot's CPU under ingest."""


async def _setup_connection(conn: Conn) -> None:
    # PostgreSQL's text cannot hold U+0000, which arrives in webhook labels, Slack text and
    # API fields and which SQLite stores: every text parameter drops it, so such input is
    # stored (without the character) rather than failing its request. Modules that hash what
    # they store (timelines) drop it themselves first, so the hash is of what is stored.
    await conn.set_type_codec(
        "text", schema="pg_catalog", encoder=without_nul, decoder=str, format="text"
    )


def redacted(dsn: str) -> str:
    """The URL without its password, for messages (the password never reaches a log)."""
    scheme, sep, rest = dsn.partition("://")
    if not sep:
        return "postgresql"
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return dsn
    return f"{scheme}://{userinfo.partition(':')[0]}@{host}"


class PgBase:
    """Owns the pool; the modules beside it hold the queries."""

    backend = "postgresql"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._pool: asyncpg.Pool | None = None
        self.write_batches = 0
        self._pinged_at = 0.0
        self._ping_failure: str | None = None

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=POOL_SIZE,
                command_timeout=COMMAND_TIMEOUT,
                timeout=CONNECT_TIMEOUT,
                init=_setup_connection,
                reset=_keep_session,
            )
        except Exception as exc:
            if _unavailable(exc) or isinstance(exc, asyncpg.PostgresError):
                raise StoreUnavailable(
                    f"cannot reach the database at {redacted(self.dsn)}: {_reason(exc)}"
                ) from None
            raise
        async with self._pool.acquire() as conn:
            await migrate(conn)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ping(self) -> None:
        """Commits a one-row write, as the SQLite store's does; probes within a second of the
        last one share its answer."""
        if time.monotonic() - self._pinged_at < PING_REUSE_SECONDS:
            if self._ping_failure is not None:
                raise StoreUnavailable(self._ping_failure)
            return
        try:
            await self._write(
                lambda conn: conn.execute(
                    "INSERT INTO store_heartbeat (id, at) VALUES (1, $1)"
                    " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                    now_iso(),
                )
            )
        except StoreUnavailable as exc:
            self._pinged_at, self._ping_failure = time.monotonic(), str(exc)
            raise
        self._pinged_at, self._ping_failure = time.monotonic(), None

    def _require_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailable("the store is not open")
        return self._pool

    async def _write(
        self, fn: Callable[[Conn], Awaitable[T]], *, isolation: Isolation = "serializable"
    ) -> T:
        """Runs `fn` in its own transaction (serializable unless the caller holds what it
        reads by locks of its own), again from the start when another transaction's commit
        conflicts with it."""
        pool = self._require_pool()
        for attempt in range(CONFLICT_RETRIES):
            try:
                async with pool.acquire() as conn, conn.transaction(isolation=isolation):
                    result = await fn(conn)
                self.write_batches += 1
                return result
            except Exception as exc:
                if conflict(exc) and attempt < CONFLICT_RETRIES - 1:
                    # Jittered, growing: replicas that collided do not collide again in step.
                    await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
                    continue
                if _unavailable(exc):
                    raise StoreUnavailable(f"database unavailable: {_reason(exc)}") from None
                raise
        raise AssertionError("unreachable")

    async def _read(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        pool = self._require_pool()
        try:
            async with (
                pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                return await fn(conn)
        except Exception as exc:
            if _unavailable(exc):
                raise StoreUnavailable(f"database unavailable: {_reason(exc)}") from None
            raise

    @staticmethod
    async def _rows(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in await conn.fetch(sql, *params)]


def affected(status: str) -> int:
    """Rows a statement changed, from asyncpg's command tag ("UPDATE 3", "INSERT 0 1")."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _reason(exc: BaseException) -> str:
    # asyncpg's messages name the server, never the password; the first line is enough.
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
