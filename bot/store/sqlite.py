"""The embedded store: SQLite through sqlite-utils, WAL, one writer thread, readers beside it."""

from __future__ import annotations

from bot.store.sqlite_actions import ActionStore
from bot.store.sqlite_alert_pages import AlertPageStore
from bot.store.sqlite_alerts import AlertStore
from bot.store.sqlite_digests import DigestStore
from bot.store.sqlite_incidents import IncidentStore
from bot.store.sqlite_jobs import JobStore
from bot.store.sqlite_leases import LeaseStore
from bot.store.sqlite_outbox import OutboxStore
from bot.store.sqlite_pagerduty import PagerDutyStore
from bot.store.sqlite_retention import RetentionStore
from bot.store.sqlite_slack_requests import SlackRequestStore
from bot.store.sqlite_status_page import StatusPageStore


class SqliteStore(
    ActionStore,
    AlertPageStore,
    AlertStore,
    DigestStore,
    IncidentStore,
    JobStore,
    LeaseStore,
    OutboxStore,
    PagerDutyStore,
    RetentionStore,
    SlackRequestStore,
    StatusPageStore,
):
    """Implements Store on a single SQLite file."""
