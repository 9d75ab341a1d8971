"""The store contract suite's fixture: every test that asks for `store` runs on each backend,
SQLite on a fresh file and PostgreSQL on a fresh database of the session's throwaway server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore
from tests.harness.postgres import ThrowawayPostgres

BACKENDS = ["sqlite", "postgresql"]


async def fresh_database(server: ThrowawayPostgres) -> str:
    """A new, empty database on the server; its URL."""
    name = f"store_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server.dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server.dsn.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(server: ThrowawayPostgres, dsn: str) -> None:
    conn = await asyncpg.connect(server.dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    # Any until the PostgreSQL store implements the whole protocol; then Store.
    if request.param == "sqlite":
        sqlite = SqliteStore(tmp_path / "bot.db")
        await sqlite.open()
        yield sqlite
        await sqlite.close()
        return
    server: ThrowawayPostgres = request.getfixturevalue("postgres")
    dsn = await fresh_database(server)
    pg = PostgresStore(dsn)
    await pg.open()
    yield pg
    await pg.close()
    await drop_database(server, dsn)
