"""The embedded store: SQLite through sqlite-utils, WAL, one writer thread, readers beside it."""

from __future__ import annotations

from bot.store.sqlite_alerts import AlertStore
from bot.store.sqlite_incidents import IncidentStore
from bot.store.sqlite_outbox import OutboxStore


class SqliteStore(AlertStore, IncidentStore, OutboxStore):
    """Implements Store on a single SQLite file."""
