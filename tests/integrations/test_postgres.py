"""PlatformDatabase against a real PostgreSQL 15, connected as a least-privilege role.

The role has CONNECT and pg_read_all_stats only, as the README asks of operators. The
throwaway cluster trusts loopback connections, so the password is not checked; it is still
in the DSN, and no result or error may ever show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import asyncpg
import pytest

from bot.integrations.postgres import PlatformDatabase, PlatformDatabaseError
from tests.harness.postgres import ThrowawayPostgres


@dataclass(frozen=True)
class Reader:
    role: str
    password: str
    port: int

    def dsn(self, database: str = "postgres", port: int | None = None) -> str:
        # Characters that must be percent-encoded: the password has two spellings to hide.
        return (
            f"postgresql://{self.role}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{port or self.port}/{database}"
        )

    def assert_hidden(self, text: str) -> None:
        assert self.password not in text
        assert quote(self.password, safe="") not in text


@pytest.fixture(scope="module")
def reader(postgres: ThrowawayPostgres) -> Iterator[Reader]:
    # A name of its own: the cluster is shared by the whole session.
    role = f"incident_bot_{secrets.token_hex(4)}"
    password = f"pw:/@{secrets.token_hex(12)}"
    postgres.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    postgres.psql(f"GRANT CONNECT ON DATABASE postgres TO {role}")
    postgres.psql(f"GRANT pg_read_all_stats TO {role}")
    yield Reader(role, password, postgres.port)
    with contextlib.suppress(Exception):
        postgres.psql(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture(scope="module")
def bare_database(postgres: ThrowawayPostgres, reader: Reader) -> Iterator[str]:
    """A database where CREATE EXTENSION pg_stat_statements was never run."""
    name = f"nostats_{secrets.token_hex(4)}"
    postgres.psql(f"CREATE DATABASE {name}")
    postgres.psql(f"GRANT CONNECT ON DATABASE {name} TO {reader.role}")
    yield name
    with contextlib.suppress(Exception):
        postgres.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db(reader: Reader) -> PlatformDatabase:
    return PlatformDatabase(reader.dsn())


@pytest.fixture
async def superuser(postgres: ThrowawayPostgres) -> AsyncIterator[list[asyncpg.Connection]]:
    """Opens connections as the cluster's superuser (the platform's own traffic)."""
    opened: list[asyncpg.Connection] = []
    yield opened
    for conn in opened:
        conn.terminate()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connectivity_as_a_least_privilege_role(
    db: PlatformDatabase, reader: Reader, postgres: ThrowawayPostgres
) -> None:
    found = await db.connectivity()

    assert found["server_version"].startswith("15")
    assert found["database"] == "postgres"
    assert 0 <= found["latency_ms"] < 1000
    assert found["connect_ms"] >= found["latency_ms"]
    assert found["max_connections"] == int(postgres.psql("SHOW max_connections"))
    assert found["superuser_reserved_connections"] == 3
    assert 1 <= found["connections"] <= found["max_connections"]
    reader.assert_hidden(repr(found) + repr(db))
    # The reader really is the least-privilege role, not a superuser in disguise.
    rows = await db._fetch(
        "SELECT current_user AS me, rolsuper FROM pg_roles WHERE rolname = current_user"
    )
    assert (rows[0]["me"], rows[0]["rolsuper"]) == (reader.role, False)


async def test_activity_shows_a_long_query_and_a_lock_waiter(
    db: PlatformDatabase,
    reader: Reader,
    postgres: ThrowawayPostgres,
    superuser: list[asyncpg.Connection],
) -> None:
    table = f"locked_{secrets.token_hex(4)}"
    postgres.psql(f"CREATE TABLE {table} (id int)")
    holder, waiter, sleeper = [await asyncpg.connect(postgres.dsn) for _ in range(3)]
    superuser += [holder, waiter, sleeper]
    for conn in (waiter, sleeper):
        # A safety net: nothing here outlives the test if the cleanup below is skipped.
        await conn.execute("SET statement_timeout = '30s'")
    holder_tx = holder.transaction()
    await holder_tx.start()
    await holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    padding = "x" * 500  # the query text is cut to 300 characters
    # A connection string in a running statement (dblink-style): its password is hidden too.
    conninfo_password = secrets.token_hex(8)
    sleep_sql = (
        f"SELECT pg_sleep(25), 'host=db password={conninfo_password}' AS conninfo /* {padding} */"
    )
    waiting = asyncio.create_task(waiter.fetchval(f"SELECT count(*) FROM {table}"))
    sleeping = asyncio.create_task(sleeper.execute(sleep_sql))
    sleeper_pid, waiter_pid = sleeper.get_server_pid(), waiter.get_server_pid()
    try:
        deadline = time.monotonic() + 10
        while True:
            found = await db.activity()
            pids = {row["pid"]: row for row in found["longest"]}
            if sleeper_pid in pids and waiter_pid in pids and found["waiting_on_locks"]:
                break
            assert time.monotonic() < deadline, f"not seen in pg_stat_activity: {found}"
            await asyncio.sleep(0.1)
    finally:
        await holder_tx.rollback()  # lets the waiter through
        await holder.fetchval("SELECT pg_cancel_backend($1)", sleeper_pid)
        for task in (waiting, sleeping):
            with contextlib.suppress(asyncpg.PostgresError):
                await task
        postgres.psql(f"DROP TABLE {table}")

    sleeping_row, waiting_row = pids[sleeper_pid], pids[waiter_pid]
    # Another user's query text and state: visible through pg_read_all_stats.
    assert sleeping_row["user"] == "postgres"
    assert sleeping_row["state"] == "active"
    assert sleeping_row["query"].startswith("SELECT pg_sleep(25), 'host=db password=[redacted]")
    assert sleeping_row["query"].endswith("xxxxx")
    assert len(sleeping_row["query"]) == 300
    assert conninfo_password not in repr(found)
    assert (sleeping_row["wait_event_type"], sleeping_row["wait_event"]) == ("Timeout", "PgSleep")
    assert waiting_row["wait_event_type"] == "Lock"
    assert waiting_row["wait_event"] == "relation"
    assert waiting_row["blocked_by"] == [holder.get_server_pid()]
    assert found["waiting_on_locks"] >= 1
    assert found["by_state"]["active"] >= 2
    assert found["by_state"]["idle in transaction"] >= 1
    # The check's own session is not reported as activity.
    assert all(row["application"] != "incident-bot" for row in found["longest"])
    reader.assert_hidden(repr(found))


async def test_slow_queries_ranks_statements_by_total_exec_time(
    db: PlatformDatabase, reader: Reader, postgres: ThrowawayPostgres
) -> None:
    # pg_stat_statements replaces constants with $n; an alias is kept, so it marks ours.
    marker = f"probe_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(postgres.dsn)  # another user's statements
    try:
        for remainder in range(4):
            await conn.fetchval(
                f"SELECT count(*) FROM generate_series(1, 1000000) AS {marker}"
                f" WHERE {marker} % 7 = $1",
                remainder,
            )
    finally:
        await conn.close()

    found = await db.slow_queries(limit=5)

    assert found is not None
    assert 1 <= len(found) <= 5
    totals = [row["total_ms"] for row in found]
    assert totals == sorted(totals, reverse=True)
    ours = next((row for row in found if marker in row["query"]), None)
    assert ours is not None, found
    assert ours["query"].startswith("SELECT count(*) FROM generate_series($2, $3)")
    assert ours["calls"] == 4
    assert ours["rows"] == 4
    assert ours["total_ms"] >= ours["mean_ms"] > 0
    reader.assert_hidden(repr(found))


async def test_slow_queries_hide_passwords_of_recorded_role_statements(
    db: PlatformDatabase, reader: Reader
) -> None:
    # The fixture's CREATE ROLE … PASSWORD '…' is recorded verbatim by pg_stat_statements.
    found = await db.slow_queries(limit=50)

    assert found is not None
    created = [row["query"] for row in found if row["query"].startswith("CREATE ROLE")]
    assert f"CREATE ROLE {reader.role} LOGIN PASSWORD [redacted]" in created
    reader.assert_hidden(repr(found))


async def test_slow_queries_is_none_where_the_extension_is_not_created(
    reader: Reader, bare_database: str
) -> None:
    db = PlatformDatabase(reader.dsn(bare_database))

    assert await db.slow_queries() is None
    # The library is preloaded cluster-wide; only CREATE EXTENSION is missing here.
    assert (await db.connectivity())["database"] == bare_database


async def test_every_query_runs_read_only_with_a_statement_timeout(
    db: PlatformDatabase, postgres: ThrowawayPostgres
) -> None:
    assert (await db._fetch("SHOW transaction_read_only"))[0][0] == "on"
    assert (await db._fetch("SHOW statement_timeout"))[0][0] == "5s"
    assert (await db._fetch("SHOW application_name"))[0][0] == "incident-bot"

    # Even with the superuser's DSN, a write asked of the reader is refused by PostgreSQL.
    table = f"written_{secrets.token_hex(4)}"
    postgres.psql(f"CREATE TABLE {table} (v int); INSERT INTO {table} VALUES (1)")
    as_superuser = PlatformDatabase(postgres.dsn)
    try:
        for sql in (
            f"UPDATE {table} SET v = 2",
            f"CREATE TABLE {table}_2 (v int)",
            "SET TRANSACTION READ WRITE",
        ):
            with pytest.raises(PlatformDatabaseError) as refused:
                await as_superuser._fetch(sql)
            assert "read-only" in str(refused.value) or "read-write" in str(refused.value)
            assert "\n" not in str(refused.value)
        assert postgres.psql(f"SELECT v FROM {table}") == "1"
    finally:
        postgres.psql(f"DROP TABLE {table}")


async def test_statement_timeout_bounds_a_slow_query(reader: Reader) -> None:
    db = PlatformDatabase(reader.dsn(), statement_timeout_ms=300)
    started = time.monotonic()

    with pytest.raises(PlatformDatabaseError) as failed:
        await db._fetch("SELECT pg_sleep(10)")

    assert time.monotonic() - started < 5
    message = str(failed.value)
    assert "QueryCanceledError" in message
    assert "statement timeout" in message
    reader.assert_hidden(message)


async def test_unreachable_server_is_one_line_without_the_password(reader: Reader) -> None:
    port = closed_port()
    db = PlatformDatabase(reader.dsn(port=port), connect_timeout=2)

    with pytest.raises(PlatformDatabaseError) as failed:
        await db.connectivity()

    message = str(failed.value)
    assert message.startswith(f"cannot connect to 127.0.0.1:{port}/postgres:")
    assert "\n" not in message
    reader.assert_hidden(message)
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    reader.assert_hidden(repr(db))


async def test_a_server_that_never_answers_times_out(reader: Reader) -> None:
    # Accepts TCP (the kernel's backlog) but never speaks PostgreSQL.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        db = PlatformDatabase(reader.dsn(port=port), connect_timeout=0.5)
        started = time.monotonic()

        with pytest.raises(PlatformDatabaseError) as failed:
            await db.activity()

    assert time.monotonic() - started < 3
    assert "TimeoutError" in str(failed.value)
    reader.assert_hidden(str(failed.value))


async def test_errors_from_the_server_do_not_show_the_password(reader: Reader) -> None:
    db = PlatformDatabase(reader.dsn("no_such_database"))

    with pytest.raises(PlatformDatabaseError) as failed:
        await db.connectivity()

    message = str(failed.value)
    assert "InvalidCatalogNameError" in message
    assert 'database "no_such_database" does not exist' in message
    reader.assert_hidden(message)
