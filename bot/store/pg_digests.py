"""Storm digests: their lines and messages, in PostgreSQL."""

from __future__ import annotations

from bot.store.pg_base import PgBase


class DigestStore(PgBase):
    """To be written: the PostgreSQL twin of bot.store.sqlite_digests."""
