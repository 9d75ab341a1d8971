"""Several PostgresStore instances on one fresh database: replicas of one bot, for races."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bot.store.postgres import PostgresStore
from tests.harness.postgres import ThrowawayPostgres
from tests.store.conftest import drop_database, fresh_database


@contextlib.asynccontextmanager
async def replicas(server: ThrowawayPostgres, count: int = 2) -> AsyncIterator[list[PostgresStore]]:
    dsn = await fresh_database(server)
    stores = [PostgresStore(dsn) for _ in range(count)]
    try:
        for store in stores:
            await store.open()
        yield stores
    finally:
        for store in stores:
            await store.close()
        await drop_database(server, dsn)
