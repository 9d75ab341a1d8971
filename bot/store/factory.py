"""Chooses the store implementation from INCIDENT_BOT_DATABASE."""

from __future__ import annotations

from bot.store.base import Store
from bot.store.sqlite import SqliteStore


def open_store(database: str) -> Store:
    if database.startswith(("postgresql://", "postgres://")):
        raise ValueError("the PostgreSQL store is not available yet; use a SQLite file path")
    return SqliteStore(database.removeprefix("sqlite:///"))
