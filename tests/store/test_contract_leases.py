"""The store contract, leases: one holder at a time, a new epoch with each new holder."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.store.postgres import PostgresStore
from bot.store.records import NewOutboxItem
from tests.harness.postgres import ThrowawayPostgres
from tests.store.conftest import drop_database, fresh_database


async def test_one_holder_at_a_time_and_renewal_keeps_the_epoch(store: Any) -> None:
    first = await store.hold_lease("sender", "replica-a", 30)
    assert first is not None and first.epoch == 1
    assert await store.hold_lease("sender", "replica-b", 30) is None
    renewed = await store.hold_lease("sender", "replica-a", 30)
    assert renewed is not None and renewed.epoch == 1
    assert renewed.expires_at >= first.expires_at
    held = await store.lease("sender")
    assert held is not None and held.holder == "replica-a"
    # Leases are independent of each other.
    assert await store.hold_lease("reminders", "replica-b", 30) is not None


async def test_an_expired_lease_passes_on_with_a_new_epoch(store: Any) -> None:
    assert await store.hold_lease("sender", "replica-a", 0.2) is not None
    await asyncio.sleep(0.3)
    taken = await store.hold_lease("sender", "replica-b", 30)
    assert taken is not None and (taken.holder, taken.epoch) == ("replica-b", 2)
    # The old holder, back from its pause, does not get it back.
    assert await store.hold_lease("sender", "replica-a", 30) is None


async def test_a_released_lease_is_taken_at_once(store: Any) -> None:
    held = await store.hold_lease("sender", "replica-a", 30)
    assert held is not None
    await store.release_lease(held)
    taken = await store.hold_lease("sender", "replica-b", 30)
    assert taken is not None and taken.epoch == 2


async def test_replicas_racing_for_a_lease_get_one_holder(postgres: ThrowawayPostgres) -> None:
    dsn = await fresh_database(postgres)
    replicas = [PostgresStore(dsn) for _ in range(3)]
    try:
        for replica in replicas:
            await replica.open()
        for round_ in range(5):
            name = f"work-{round_}"
            results = await asyncio.gather(
                *(r.hold_lease(name, f"replica-{i}", 30) for i, r in enumerate(replicas))
            )
            holders = [lease.holder for lease in results if lease is not None]
            assert len(holders) == 1
            stored = await replicas[0].lease(name)
            assert stored is not None and stored.holder == holders[0] and stored.epoch == 1
    finally:
        for replica in replicas:
            await replica.close()
        await drop_database(postgres, dsn)


async def test_a_send_under_a_lapsed_lease_is_refused(store: Any) -> None:
    """The fence: a leader that was paused past its lease cannot mark a row for sending."""
    [row_id] = await store.enqueue(
        [NewOutboxItem(method="chat.postMessage", channel="C1", args={"text": "hi"})]
    )
    old = await store.hold_lease("singleton-work", "replica-a", 0.2)
    assert old is not None and await store.mark_in_flight(row_id, old)
    await asyncio.sleep(0.3)
    assert await store.hold_lease("singleton-work", "replica-b", 30) is not None
    assert not await store.mark_in_flight(row_id, old)
    row = await store.outbox_row(row_id)
    assert row is not None and row.attempts == 1  # the refused attempt changed nothing
    assert await store.mark_in_flight(row_id)  # no lease asked: the single-process path
