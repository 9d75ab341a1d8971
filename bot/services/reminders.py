"""Posts the reminders incidents are owed (updates due, customer notice, monitoring check-in).

What is owed is derived from the store on every tick, so a restart neither loses nor repeats one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.config import PlatformConfig
from bot.domain.clock import Clock
from bot.domain.incident import Severity
from bot.domain.reminders import REVIEW_WITHIN, ReminderPolicy, due
from bot.domain.report import line
from bot.domain.timeline import EventKind, NewEvent
from bot.services.incidents import announcement_key
from bot.services.outbox import Outbox, saying
from bot.services.store_outage import StoreOutage
from bot.store.base import Store, StoreUnavailable

log = logging.getLogger(__name__)
TICK_SECONDS = 30.0


def policy_from(config: PlatformConfig) -> ReminderPolicy:
    every, notice = {}, {}
    for name, level in config.severities.items():
        if level.update_reminder_minutes:
            every[Severity(name)] = timedelta(minutes=level.update_reminder_minutes)
        if level.customer_notice_minutes:
            notice[Severity(name)] = timedelta(minutes=level.customer_notice_minutes)
    return ReminderPolicy(every, notice)


class ReminderScheduler:
    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        config: PlatformConfig,
        clock: Clock,
        *,
        incidents_channel: str | None,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._policy = policy_from(config)
        self._clock = clock
        self._incidents_channel = incidents_channel

    async def run(self) -> None:
        outage = StoreOutage("reminders", log)
        while True:
            try:
                if await self.tick():
                    outage.recovered()
            except StoreUnavailable as exc:
                outage.failed(exc)  # the tick is slower than any backoff: said once, no more
            await asyncio.sleep(TICK_SECONDS)

    async def tick(self) -> int:
        """Sends what is due now; returns how many reminders went out."""
        now = self._clock.now()
        sent = 0
        for incident in await self._store.list_incidents(limit=500):
            recently = incident.resolved_at is not None and (
                now - incident.resolved_at <= REVIEW_WITHIN
            )
            if not (incident.is_open or recently):
                continue
            events = await self._store.timeline(incident.id)
            for reminder in due(incident, events, self._policy, now):
                said = [line(reminder.text)]
                queued = []
                if incident.channel_id:
                    queued.append(saying(incident.channel_id, said, incident_id=incident.id))
                elif self._incidents_channel:
                    queued.append(
                        saying(
                            self._incidents_channel,
                            said,
                            thread_key=announcement_key(incident.id),
                            incident_id=incident.id,
                        )
                    )
                # The message and the event recording it in one write: never one without the
                # other, whatever stops when. Keyed by what the reminder was computed from, so
                # a leader that lost its lease mid-tick and the one that took over, reading
                # the same timeline, send it once between them.
                last = events[-1].seq if events else 0
                recorded = await self._store.append_event_once(
                    incident.id,
                    NewEvent(
                        EventKind.REMINDER,
                        "incident-bot",
                        reminder.text,
                        now,
                        {"reminder": reminder.kind},
                    ),
                    f"reminder:{incident.id}:{reminder.kind}:{last}",
                    outbox=queued,
                )
                if recorded is not None:
                    sent += 1
                    self._outbox.wakeup.set()
        return sent
