"""The PostgreSQL steps against the throwaway PostgreSQL, as the least-privileged reader."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

from bot.config import PlatformConfig
from bot.integrations.postgres import PlatformDatabase
from bot.playbooks.registry import STEP_KINDS
from bot.playbooks.steps import postgres as pg_steps
from bot.slack.report import mrkdwn
from tests.fakes.http import closed_port
from tests.harness.playbooks import context
from tests.harness.postgres import ThrowawayPostgres

KINDS = STEP_KINDS


async def test_postgres_steps_on_a_healthy_database(
    platform_config: PlatformConfig, postgres: ThrowawayPostgres
) -> None:
    ctx = context(platform_config, None, postgres=PlatformDatabase(postgres.dsn))

    connected = await pg_steps.connectivity(ctx, pg_steps.NoParams())
    active = await pg_steps.activity(ctx, pg_steps.NoParams())
    slow = await pg_steps.slow_queries(ctx, pg_steps.SlowQueriesParams(limit=3))

    assert connected.healthy
    assert mrkdwn(connected.lines).startswith(":white_check_mark: Connected to PostgreSQL 15.")
    assert " of 97 usable (" in mrkdwn(connected.lines)  # max_connections 100, 3 reserved
    assert active.healthy
    assert mrkdwn(active.lines).startswith("Connections: ")
    assert "No session is waiting on a lock." in mrkdwn(active.lines)
    assert mrkdwn(slow.lines).startswith("Top 3 statements by total execution time:")
    header, *rows = slow.details.splitlines()
    assert header.split() == ["total", "ms", "calls", "mean", "ms", "rows", "query"]
    assert len(rows) == 3


async def test_activity_step_flags_a_lock_waiter(
    platform_config: PlatformConfig, postgres: ThrowawayPostgres
) -> None:
    import asyncpg

    table = f"step_lock_{secrets.token_hex(4)}"
    postgres.psql(f"CREATE TABLE {table} (id int)")
    holder, waiter = await asyncpg.connect(postgres.dsn), await asyncpg.connect(postgres.dsn)
    holder_pid = holder.get_server_pid()
    ctx = context(platform_config, None, postgres=PlatformDatabase(postgres.dsn))
    try:
        await waiter.execute("SET statement_timeout = '20s'")
        tx = holder.transaction()
        await tx.start()
        await holder.execute(f"LOCK TABLE {table}")
        blocked = asyncio.create_task(waiter.fetchval(f"SELECT count(*) FROM {table}"))
        deadline = time.monotonic() + 10
        while True:
            output = await pg_steps.activity(ctx, pg_steps.NoParams())
            if not output.healthy:
                break
            assert time.monotonic() < deadline, output
            await asyncio.sleep(0.1)
        await tx.rollback()
        await blocked
    finally:
        holder.terminate()
        waiter.terminate()
        postgres.psql(f"DROP TABLE {table}")

    assert ":lock: 1 session waiting on locks" in mrkdwn(output.lines)
    assert f"blocked by pid {holder_pid}: `SELECT count(*) FROM {table}`" in (mrkdwn(output.lines))
    assert "wait=Lock/relation" in output.details


async def test_slow_queries_step_says_how_to_enable_pg_stat_statements(
    platform_config: PlatformConfig, postgres: ThrowawayPostgres
) -> None:
    database = f"bare_{secrets.token_hex(4)}"
    postgres.psql(f"CREATE DATABASE {database}")
    try:
        dsn = f"postgresql://postgres@127.0.0.1:{postgres.port}/{database}"
        ctx = context(platform_config, None, postgres=PlatformDatabase(dsn))
        output = await pg_steps.slow_queries(ctx, pg_steps.SlowQueriesParams())
    finally:
        postgres.psql(f"DROP DATABASE {database} WITH (FORCE)")

    assert output.healthy
    assert "pg_stat_statements is not available" in mrkdwn(output.lines)
    assert "add pg_stat_statements to shared_preload_libraries" in mrkdwn(output.lines)
    assert "`CREATE EXTENSION pg_stat_statements;`" in mrkdwn(output.lines)


async def test_connectivity_step_reports_an_unreachable_database(
    platform_config: PlatformConfig,
) -> None:
    password = secrets.token_hex(10)
    port = closed_port()
    dsn = f"postgresql://incident_bot:{password}@127.0.0.1:{port}/factsway"
    ctx = context(platform_config, None, postgres=PlatformDatabase(dsn, connect_timeout=2))

    output = await pg_steps.connectivity(ctx, pg_steps.NoParams())

    assert not output.healthy
    assert mrkdwn(output.lines).startswith(
        f":x: Cannot reach PostgreSQL: cannot connect to 127.0.0.1:{port}/factsway: "
    )
    assert password not in mrkdwn(output.lines)


def test_slow_queries_limit_is_bounded() -> None:
    assert pg_steps.SlowQueriesParams().limit == 10
    for bad in ({"limit": 0}, {"limit": 51}, {"limit": 5, "sql": "SELECT 1"}):
        with pytest.raises(ValueError):
            pg_steps.SlowQueriesParams.model_validate(bad)
