"""Leadership across replicas: two bots on one PostgreSQL database, each with its own pool,
as two pods would be. Short leases keep the takeovers quick to watch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import pytest

from bot.observability.metrics import Metrics
from bot.services.leadership import Leadership
from bot.store.base import Store
from bot.store.postgres import PostgresStore
from tests.harness.postgres import ThrowawayPostgres
from tests.store.conftest import drop_database, fresh_database

TTL, RENEW = 1.0, 0.1


class Replica:
    def __init__(self, name: str, dsn: str, running: set[str]) -> None:
        self.name = name
        self.store = cast(Store, PostgresStore(dsn))
        self.metrics = Metrics()
        self.leadership = Leadership(self.store, self.metrics, holder=name, ttl=TTL, renew=RENEW)
        self.leadership.add("work", self._work)
        self._running = running
        self.task: asyncio.Task[None] | None = None

    async def _work(self) -> None:
        self._running.add(self.name)
        try:
            await asyncio.Event().wait()
        finally:
            self._running.discard(self.name)

    async def start(self) -> None:
        await self.store.open()
        self.task = asyncio.create_task(self.leadership.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.store.close()


@pytest.fixture
async def replicas(
    postgres: ThrowawayPostgres,
) -> AsyncIterator[Callable[[], Awaitable[tuple[Replica, Replica, set[str]]]]]:
    dsn = await fresh_database(postgres)
    made: list[Replica] = []

    async def make() -> tuple[Replica, Replica, set[str]]:
        running: set[str] = set()
        a, b = Replica("replica-a", dsn, running), Replica("replica-b", dsn, running)
        made.extend([a, b])
        await a.start()
        await b.start()
        return a, b, running

    yield make
    for replica in made:
        await replica.stop()
    await drop_database(postgres, dsn)


async def until(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until `condition` holds; fails after `timeout`."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_exactly_one_replica_runs_the_work_and_another_takes_over_when_it_stops(
    replicas: Callable[[], Awaitable[tuple[Replica, Replica, set[str]]]],
) -> None:
    a, b, running = await replicas()
    await until(lambda: len(running) == 1, timeout=5)
    for _ in range(20):  # a dozen renewals later, still one
        await asyncio.sleep(RENEW / 2)
        assert len(running) == 1
    [leader_name] = running
    leader, standby = (a, b) if leader_name == a.name else (b, a)
    assert leader.leadership.describe()["role"] == "leader"
    assert standby.leadership.describe() == {
        "replica": standby.name,
        "role": "standby",
        "epoch": None,
        "work": [],
    }
    await leader.stop()  # a graceful stop gives the lease up: no wait for it to expire
    took = await until(lambda: running == {standby.name}, timeout=5)
    assert took < TTL, f"a released lease took {took:.2f} s to pass on"
    assert standby.metrics.leader._value.get() == 1


async def test_a_dead_leaders_work_resumes_elsewhere_after_its_lease_expires(
    replicas: Callable[[], Awaitable[tuple[Replica, Replica, set[str]]]],
) -> None:
    a, b, running = await replicas()
    await until(lambda: len(running) == 1, timeout=5)
    leader, standby = (a, b) if running == {a.name} else (b, a)
    # Dies without a word: its connections go first, so it can neither renew nor release.
    await leader.store.close()
    await leader.stop()
    took = await until(lambda: running == {standby.name}, timeout=TTL + 5)
    assert took <= TTL + 2 * RENEW + 0.5, f"takeover after {took:.2f} s"
    assert standby.leadership.lease is not None and standby.leadership.lease.epoch == 2


async def test_a_leader_paused_past_its_lease_is_fenced_when_it_wakes(
    replicas: Callable[[], Awaitable[tuple[Replica, Replica, set[str]]]],
) -> None:
    a, b, running = await replicas()
    await until(lambda: len(running) == 1, timeout=5)
    leader = a if running == {a.name} else b
    held = leader.leadership.fence()
    assert held is not None
    time.sleep(TTL + 0.2)  # noqa: ASYNC251 - the whole process stops, as a frozen VM would
    # Awake, before its loop has run a single step: it no longer acts as leader.
    assert leader.leadership.fence() is None
    # Whoever asks first after the lapse leads, under a new epoch; the old lease is dead.
    await until(
        lambda: any(r.leadership.lease and r.leadership.lease.epoch == 2 for r in (a, b)),
        timeout=5,
    )
    await asyncio.sleep(3 * RENEW)
    assert len(running) == 1, running
    current = await a.store.lease("singleton-work")
    assert current is not None and current.epoch == 2 and current != held
