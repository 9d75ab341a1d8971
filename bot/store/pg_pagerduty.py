"""PagerDuty incidents as Slack threads, in PostgreSQL."""

from __future__ import annotations

from bot.store.pg_base import PgBase


class PagerDutyStore(PgBase):
    """To be written: the PostgreSQL twin of bot.store.sqlite_pagerduty."""
