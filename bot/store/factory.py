"""Chooses the store implementation from INCIDENT_BOT_DATABASE."""

from __future__ import annotations

from bot.store.base import Store
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore


def open_store(database: str) -> Store:
    if database.startswith(("postgresql://", "postgres://")):
        return PostgresStore(database)
    return SqliteStore(database.removeprefix("sqlite:///"))
