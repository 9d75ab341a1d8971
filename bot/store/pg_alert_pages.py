"""Alerts for the API, newest first, in PostgreSQL."""

from __future__ import annotations

from bot.store.pg_base import PgBase


class AlertPageStore(PgBase):
    """To be written: the PostgreSQL twin of bot.store.sqlite_alert_pages."""
