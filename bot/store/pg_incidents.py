"""Incidents and their hash-chained timelines, in PostgreSQL."""

from __future__ import annotations

from bot.store.pg_base import PgBase


class IncidentStore(PgBase):
    """To be written: the PostgreSQL twin of bot.store.sqlite_incidents."""
