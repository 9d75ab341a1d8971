"""Read-only health queries against the platform's PostgreSQL (not the bot's own store).

Every call opens one short-lived connection, runs fixed SQL in a READ ONLY transaction bounded
by ``SET LOCAL statement_timeout`` and closes the connection. No pool: these run a few times per
incident, and a pool would hold connections on a database that may be out of them.

The role needs only ``CONNECT`` and membership of ``pg_read_all_stats``: that makes the query
text and state of other users' sessions visible in ``pg_stat_activity`` and lets it read
``pg_stat_statements``.

Errors become :class:`PlatformDatabaseError` with one line that never carries the password.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from bot.observability.redaction import REDACTED, scrub_text

T = TypeVar("T")
QUERY_TEXT_LIMIT = 300
# Read this much of a query's text: enough to find (and hide) a secret near the cut.
QUERY_TEXT_READ = 2000
TOP_ACTIVE = 5
APPLICATION_NAME = "incident-bot"


class PlatformDatabaseError(Exception):
    """The platform database could not be asked; the message is one line, without secrets."""


def _dsn_secrets(dsn: str) -> tuple[str, ...]:
    """The password in every spelling it may take in the DSN (raw, percent-decoded, query)."""
    found: list[str] = []
    try:
        parts = urlsplit(dsn)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        for value in parse_qs(parts.query).get("password", []):
            found += [value, unquote(value)]
    except ValueError:
        pass
    return tuple(dict.fromkeys(s for s in found if s))


def _where(dsn: str) -> str:
    """host:port/database, for messages: never the DSN itself, which may carry the password."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
        database = parts.path.lstrip("/") or "?"
    except ValueError:
        return "the platform database"
    return f"{host}:{port}/{database}"


# pg_stat_statements keeps utility statements verbatim (PostgreSQL 15 does not replace their
# constants), so `CREATE ROLE app PASSWORD '…'` shows up with the password, as does a running
# ALTER ROLE in pg_stat_activity. A literal cut off by the text limit has no closing quote.
SQL_PASSWORD = re.compile(
    r"(?P<keep>\bpassword\s+)(?:E?'(?:[^']|'')*(?:'|$)|\$(?P<tag>\w*)\$.*?(?:\$(?P=tag)\$|$))",
    re.I | re.S,
)


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PlatformDatabase:
    """A few fixed diagnostic queries; never runs SQL that came from a person."""

    def __init__(
        self, dsn: str, *, statement_timeout_ms: int = 5000, connect_timeout: float = 5
    ) -> None:
        self._dsn = dsn
        self._statement_timeout_ms = statement_timeout_ms
        self._connect_timeout = connect_timeout
        self._secrets = _dsn_secrets(dsn)
        self._where = _where(dsn)

    def __repr__(self) -> str:
        return f"<PlatformDatabase {self._where}>"

    def _query_text(self, text: str | None) -> str:
        """A statement's text without passwords (SQL or connection-string), then shortened."""
        found = SQL_PASSWORD.sub(lambda m: m.group("keep") + REDACTED, text or "")
        found = scrub_text(found, self._secrets)
        # One line: statements from code come indented over many lines.
        return " ".join(found.split())[:QUERY_TEXT_LIMIT]

    def _error(self, action: str, exc: BaseException) -> PlatformDatabaseError:
        lines = str(exc).strip().splitlines()
        text = f"{action} {self._where}: {type(exc).__name__}" + (f": {lines[0]}" if lines else "")
        return PlatformDatabaseError(scrub_text(text, self._secrets))

    async def _read(self, work: Callable[[Any], Awaitable[T]]) -> T:
        try:
            conn = await asyncpg.connect(
                self._dsn,
                timeout=self._connect_timeout,
                # Named so a DBA looking at pg_stat_activity knows who is asking; read-only by
                # default as a second lock behind the READ ONLY transaction below.
                server_settings={
                    "application_name": APPLICATION_NAME,
                    "default_transaction_read_only": "on",
                },
                # One query per connection: preparing statements for reuse buys nothing.
                statement_cache_size=0,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise self._error("cannot connect to", exc) from None
        except ValueError as exc:  # a malformed DSN; its text may quote the DSN
            raise self._error("cannot connect to", exc) from None
        try:
            async with conn.transaction(readonly=True):
                # set_config(..., true) is SET LOCAL with a bound value: it ends with the
                # transaction, so a server-side query cannot outlive the step by much.
                await conn.execute(
                    "SELECT set_config('statement_timeout', $1, true)",
                    str(self._statement_timeout_ms),
                )
                result = await work(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            conn.terminate()
            raise self._error("query failed on", exc) from None
        except BaseException:
            # Cancelled (the step timed out): drop the socket without waiting for the server.
            conn.terminate()
            raise
        try:
            await conn.close(timeout=self._connect_timeout)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
            conn.terminate()
        return result

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        """Runs one statement read-only. Internal: callers pass fixed SQL only."""

        async def work(conn: Any) -> list[Any]:
            rows: list[Any] = await conn.fetch(sql, *args)
            return rows

        return await self._read(work)

    async def connectivity(self) -> dict[str, Any]:
        """Server version, round-trip latency and how full the connection slots are."""
        connect_started = time.monotonic()

        async def work(conn: Any) -> dict[str, Any]:
            started = time.monotonic()
            await conn.fetchval("SELECT 1")
            latency_ms = (time.monotonic() - started) * 1000
            row = await conn.fetchrow(
                """
                SELECT current_setting('server_version') AS server_version,
                       current_database() AS database,
                       current_setting('max_connections')::int AS max_connections,
                       current_setting('superuser_reserved_connections')::int AS reserved,
                       (SELECT count(*) FROM pg_stat_activity
                         WHERE backend_type = 'client backend')::int AS connections
                """
            )
            return {
                "server_version": row["server_version"],
                "database": row["database"],
                "latency_ms": round(latency_ms, 2),
                "max_connections": row["max_connections"],
                "superuser_reserved_connections": row["reserved"],
                "connections": row["connections"],
            }

        found = await self._read(work)
        # Includes TCP, TLS and authentication: what a service's new connection costs too.
        found["connect_ms"] = round((time.monotonic() - connect_started) * 1000, 2)
        return found

    async def activity(self) -> dict[str, Any]:
        """Connections by state, the longest-running non-idle queries and lock waiters."""

        async def work(conn: Any) -> dict[str, Any]:
            states = await conn.fetch(
                """
                SELECT coalesce(state, 'unknown') AS state, count(*)::int AS count
                  FROM pg_stat_activity
                 WHERE backend_type = 'client backend'
                 GROUP BY 1 ORDER BY 2 DESC, 1
                """
            )
            longest = await conn.fetch(
                """
                SELECT pid, usename, datname, application_name, state,
                       extract(epoch FROM clock_timestamp() - query_start)::float8 AS seconds,
                       wait_event_type, wait_event,
                       left(query, $1) AS query,
                       pg_blocking_pids(pid) AS blocked_by
                  FROM pg_stat_activity
                 WHERE backend_type = 'client backend'
                   AND state IS NOT NULL AND state <> 'idle'
                   AND pid <> pg_backend_pid()
                   -- Not this bot's other checks, run side by side with this one.
                   AND application_name <> $3
                   AND query_start IS NOT NULL
                 ORDER BY query_start
                 LIMIT $2
                """,
                QUERY_TEXT_READ,
                TOP_ACTIVE,
                APPLICATION_NAME,
            )
            waiting = await conn.fetchval(
                """
                SELECT count(*)::int FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()
                """
            )
            return {
                "by_state": {r["state"]: r["count"] for r in states},
                "longest": [
                    {
                        "pid": r["pid"],
                        "user": r["usename"],
                        "database": r["datname"],
                        "application": r["application_name"],
                        "state": r["state"],
                        "seconds": round(r["seconds"], 1),
                        "wait_event_type": r["wait_event_type"],
                        "wait_event": r["wait_event"],
                        "query": self._query_text(r["query"]),
                        "blocked_by": list(r["blocked_by"] or []),
                    }
                    for r in longest
                ],
                "waiting_on_locks": waiting,
            }

        return await self._read(work)

    async def slow_queries(self, limit: int = 10) -> list[dict[str, Any]] | None:
        """pg_stat_statements' top statements by total time; None when it is not there."""

        async def work(conn: Any) -> list[dict[str, Any]] | None:
            ext = await conn.fetchrow(
                """
                SELECT n.nspname AS schema, e.extversion AS version
                  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'pg_stat_statements'
                """
            )
            if ext is None:
                return None
            # total_time/mean_time became total_exec_time/mean_exec_time in 1.8 (PG 13);
            # an extension not updated after pg_upgrade still has the old names.
            new = _version_tuple(ext["version"]) >= (1, 8)
            total, mean = (
                ("total_exec_time", "mean_exec_time") if new else ("total_time", "mean_time")
            )
            # Identifiers from the catalog and constants above, never from a person.
            view = f"{_quote_ident(ext['schema'])}.pg_stat_statements"
            try:
                rows = await conn.fetch(
                    f"""
                    SELECT s.queryid, s.calls, s.{total}::float8 AS total_ms,
                           s.{mean}::float8 AS mean_ms, s.rows, left(s.query, $1) AS query
                      FROM {view} s
                     WHERE s.dbid = (SELECT oid FROM pg_database
                                      WHERE datname = current_database())
                     ORDER BY s.{total} DESC
                     LIMIT $2
                    """,
                    QUERY_TEXT_READ,
                    limit,
                )
            except (
                asyncpg.exceptions.UndefinedTableError,
                # CREATE EXTENSION done but the library is not in shared_preload_libraries.
                asyncpg.exceptions.ObjectNotInPrerequisiteStateError,
            ):
                return None
            return [
                {
                    "queryid": r["queryid"],
                    "calls": r["calls"],
                    "total_ms": round(r["total_ms"], 2),
                    "mean_ms": round(r["mean_ms"], 2),
                    "rows": r["rows"],
                    "query": self._query_text(r["query"]),
                }
                for r in rows
            ]

        return await self._read(work)
