"""Dangerous actions waiting for confirmation, in PostgreSQL."""

from __future__ import annotations

from bot.store.pg_base import PgBase


class ActionStore(PgBase):
    """To be written: the PostgreSQL twin of bot.store.sqlite_actions."""
