"""Prunes what the store no longer needs (INCIDENT_BOT_RETENTION_DAYS), in the background.

Small batches, each its own short transaction, with a pause between them: webhooks and Slack
sends queue behind one batch at most, never behind the whole prune. The file does not shrink,
but SQLite reuses the freed pages, so it stops growing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta

from bot.domain.clock import Clock
from bot.services.store_outage import StoreOutage
from bot.store.base import Store, StoreUnavailable

log = logging.getLogger(__name__)
EVERY_SECONDS = 3600.0
BATCH_ROWS = 200
BATCH_PAUSE_SECONDS = 0.05


class Retention:
    def __init__(self, store: Store, clock: Clock, days: float) -> None:
        self._store = store
        self._clock = clock
        self._age = timedelta(days=days)
        self._outage = StoreOutage("retention", log)

    async def run(self) -> None:
        """Prunes at start and then every hour; runs until cancelled."""
        while True:
            try:
                await self.prune()
                self._outage.recovered()
                wait = EVERY_SECONDS
            except StoreUnavailable as exc:
                wait = max(60.0, self._outage.failed(exc))
            await asyncio.sleep(wait)

    async def prune(self) -> dict[str, int]:
        """Deletes everything past the retention age; returns how many rows of each kind."""
        cutoff = self._clock.now() - self._age
        total: Counter[str] = Counter()
        while True:
            deleted = await self._store.prune(cutoff, BATCH_ROWS)
            total.update(deleted)
            if not any(deleted.values()):
                break
            await asyncio.sleep(BATCH_PAUSE_SECONDS)
        if any(total.values()):
            log.info(
                "pruned rows past the retention age",
                extra={"days": self._age.total_seconds() / 86400, **total},
            )
        return dict(total)
