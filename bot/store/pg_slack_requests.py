"""Signed Slack requests handled once, in PostgreSQL."""

from __future__ import annotations

from bot.store.pg_base import PgBase


class SlackRequestStore(PgBase):
    """To be written: the PostgreSQL twin of bot.store.sqlite_slack_requests."""
