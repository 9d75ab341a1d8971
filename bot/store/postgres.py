"""The shared store: PostgreSQL through asyncpg, for one or many replicas on one database."""

from __future__ import annotations

from bot.store.pg_actions import ActionStore
from bot.store.pg_alert_pages import AlertPageStore
from bot.store.pg_alerts import AlertStore
from bot.store.pg_digests import DigestStore
from bot.store.pg_incidents import IncidentStore
from bot.store.pg_jobs import JobStore
from bot.store.pg_leases import LeaseStore
from bot.store.pg_outbox import OutboxStore
from bot.store.pg_pagerduty import PagerDutyStore
from bot.store.pg_retention import RetentionStore
from bot.store.pg_slack_requests import SlackRequestStore
from bot.store.pg_status_page import StatusPageStore


class PostgresStore(
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
    """Implements Store on a PostgreSQL database."""
