"""Reminders across replicas: a leader that lost its lease mid-tick and the one that took over
may compute the same reminder from the same timeline; it goes out once between them, with the
event that records it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import cast

from bot.config import load_platform_config
from bot.domain.clock import ManualClock
from bot.domain.incident import NewIncident, Severity
from bot.domain.timeline import EventKind
from bot.services.outbox import Outbox
from bot.services.reminders import ReminderScheduler
from bot.store.base import Store
from bot.store.postgres import PostgresStore
from tests.harness.postgres import ThrowawayPostgres
from tests.store.conftest import drop_database, fresh_database

DECLARED = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


async def test_two_replicas_ticking_at_once_send_a_due_reminder_once(
    postgres: ThrowawayPostgres,
) -> None:
    dsn = await fresh_database(postgres)
    stores = [cast(Store, PostgresStore(dsn)) for _ in range(2)]
    try:
        for store in stores:
            await store.open()
        incident = await stores[0].create_incident(
            NewIncident("Records API down", Severity.P0, "U1", DECLARED)
        )
        await stores[0].update_incident(incident.id, channel_id="C_WAR")
        config = load_platform_config(None)
        # Long past both of a P0's reminders: an update is due, and the customer notice.
        clock = ManualClock(DECLARED + timedelta(hours=2))
        replicas = [
            ReminderScheduler(s, Outbox(s), config, clock, incidents_channel=None) for s in stores
        ]
        for _ in range(5):  # rounds of both ticking together; later rounds owe nothing new
            await asyncio.gather(*(r.tick() for r in replicas))

        events = await stores[1].timeline(incident.id)
        reminders = [e for e in events if e.kind == EventKind.REMINDER]
        kinds = [e.data.get("reminder") for e in reminders]
        assert kinds and len(kinds) == len(set(kinds)), kinds
        stats = await stores[1].outbox_stats(0)
        assert stats.depth == len(reminders), "a reminder queued twice, or without its event"
    finally:
        for store in stores:
            await store.close()
        await drop_database(postgres, dsn)
