"""The work that must happen once across replicas runs on the replica holding one lease.

Every replica accepts webhooks, Slack requests and API calls; only the leader sends the outbox,
syncs alert and PagerDuty threads, sends reminders and prunes. Each replica asks for the lease
every few seconds: the leader renews it, the others take it once it has expired (a replica that
died), so the work resumes within TTL + RENEW seconds. A leader that cannot renew (the database
unreachable) stops its work before its lease can expire from under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

from bot.domain.leases import Lease
from bot.observability.metrics import Metrics
from bot.store.base import Store, StoreUnavailable

log = logging.getLogger(__name__)
LEASE = "singleton-work"
# A dead leader's work resumes elsewhere within TTL + RENEW seconds: 12 s, inside the 15 s
# a responder would tolerate; renewing every 2 s survives two lost renewals.
TTL_SECONDS = 10.0
RENEW_SECONDS = 2.0
# A leader stops its work this long (at most a fifth of the TTL) before the lease could expire
# without a renewal.
SAFETY_SECONDS = 2.0

Worker = Callable[[], Coroutine[Any, Any, None]]


def replica_name() -> str:
    """This process among the replicas: the pod's host name, its pid, and a random tail so a
    restarted pod with the same name and pid is still a new holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Leadership:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        holder: str | None = None,
        ttl: float = TTL_SECONDS,
        renew: float = RENEW_SECONDS,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self.holder = holder or replica_name()
        self._ttl, self._renew = ttl, renew
        self._safety = min(SAFETY_SECONDS, ttl / 5)
        self._workers: list[tuple[str, Worker]] = []
        self._running: list[asyncio.Task[None]] = []
        self.lease: Lease | None = None
        self._valid_until = 0.0
        self.changes = 0

    def add(self, name: str, worker: Worker) -> None:
        """Work to run only while this replica leads (started again on each gain)."""
        self._workers.append((name, worker))

    @property
    def leading(self) -> bool:
        return self.lease is not None

    def fence(self) -> Lease | None:
        """The lease to act under, or None once it may have lapsed. Asked right before each
        send: a replica that was paused (a stopped VM, a long pause) past its lease wakes with
        its work still running, and must not send as if it still led while a new leader does."""
        if self.lease is None or time.monotonic() >= self._valid_until:
            return None
        return self.lease

    def describe(self) -> dict[str, Any]:
        """What this replica is doing, for /readyz."""
        return {
            "replica": self.holder,
            "role": "leader" if self.leading else "standby",
            "epoch": self.lease.epoch if self.lease else None,
            "work": [name for name, _ in self._workers] if self.leading else [],
        }

    async def run(self) -> None:
        """Runs until cancelled; then stops the work and gives the lease up."""
        try:
            while True:
                await self._step()
                await asyncio.sleep(self._renew)
        finally:
            lease = self.lease
            await self._stop_work()
            if lease is not None:
                with contextlib.suppress(StoreUnavailable):
                    await self._store.release_lease(lease)

    async def _step(self) -> None:
        asked_at = time.monotonic()
        try:
            # A database that stops answering must not hold a leader's work past its lease.
            async with asyncio.timeout(self._ttl / 2):
                lease = await self._store.hold_lease(LEASE, self.holder, self._ttl)
        except (StoreUnavailable, TimeoutError) as exc:
            if self.leading and time.monotonic() >= self._valid_until:
                log.warning(
                    "leadership lost: the lease could not be renewed",
                    extra={"replica": self.holder, "error": str(exc) or "timed out"},
                )
                await self._lose()
            return
        if lease is None:
            if self.leading:
                log.warning("leadership lost to another replica", extra={"replica": self.holder})
                await self._lose()
            return
        # Counted from when we asked: the database may have granted it a moment earlier.
        self._valid_until = asked_at + self._ttl - self._safety
        if self.lease is not None and self.lease.epoch == lease.epoch:
            self.lease = lease
            return
        if self.lease is not None:
            # The lease lapsed and came back under a new epoch: what ran under the old one
            # may have been taken over meanwhile, so it starts again from the store.
            await self._stop_work()
        self.lease = lease
        self.changes += 1
        self._metrics.leader.set(1)
        self._metrics.leadership_changes.labels("gained").inc()
        log.info("leading", extra={"replica": self.holder, "epoch": lease.epoch})
        self._running = [asyncio.create_task(worker(), name=name) for name, worker in self._workers]

    async def _lose(self) -> None:
        self.lease = None
        self._metrics.leader.set(0)
        self._metrics.leadership_changes.labels("lost").inc()
        await self._stop_work()

    async def _stop_work(self) -> None:
        running, self._running = self._running, []
        for task in reversed(running):
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
