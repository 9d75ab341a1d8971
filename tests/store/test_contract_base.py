"""The store contract, part every backend shares: opening, readiness, migrations."""

from __future__ import annotations

import asyncio

import asyncpg

from bot.store.base import Store
from bot.store.pg_migrations import LATEST
from bot.store.postgres import PostgresStore
from tests.harness.postgres import ThrowawayPostgres
from tests.store.conftest import drop_database, fresh_database


async def test_a_fresh_store_is_ready_and_says_its_backend(store: Store) -> None:
    await store.ping()
    assert store.backend in {"sqlite", "postgresql"}


async def test_replicas_starting_together_migrate_the_schema_once(
    postgres: ThrowawayPostgres,
) -> None:
    dsn = await fresh_database(postgres)
    replicas = [PostgresStore(dsn) for _ in range(4)]
    try:
        await asyncio.gather(*(replica.open() for replica in replicas))
        for replica in replicas:
            await replica.ping()
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT version FROM schema_version ORDER BY version")
            versions = [row["version"] for row in rows]
        finally:
            await conn.close()
        assert versions == list(range(1, LATEST + 1))
    finally:
        await asyncio.gather(*(replica.close() for replica in replicas))
        await drop_database(postgres, dsn)
