"""Retention: pruning what the bot no longer needs, in PostgreSQL."""

from __future__ import annotations

from bot.store.pg_base import PgBase


class RetentionStore(PgBase):
    """To be written: the PostgreSQL twin of bot.store.sqlite_retention."""
