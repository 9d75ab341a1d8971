"""Webhook deliveries, alerts and alert groups, in PostgreSQL."""

from __future__ import annotations

from bot.store.pg_base import PgBase


class AlertStore(PgBase):
    """To be written: the PostgreSQL twin of bot.store.sqlite_alerts."""
