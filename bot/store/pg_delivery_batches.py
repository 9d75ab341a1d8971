"""Group commit for alert deliveries on PostgreSQL: those arriving while a batch commits go
together in the next one, and each caller is answered once its batch committed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from bot.store.base import StoreUnavailable
from bot.store.pg_alert_writes import Delivery

# Deliveries a transaction takes at most, and transactions of them writing at once (of the
# pool's connections).
BATCH_LIMIT = 100
PARALLEL_BATCHES = 4
# How long deliveries wait for a busy writer before another writer takes them.
SLOW_BATCH_S = 0.05


class _Waiting(NamedTuple):
    delivery: Delivery
    done: asyncio.Future[bool]
    since: float


class DeliveryBatches:
    """Group commit for alert deliveries: those arriving while a batch commits go together in
    the next one (up to BATCH_LIMIT), and each caller is answered once its batch committed.

    One writer while batches commit quickly: splitting what waits over several transactions
    made each one smaller and the commits per delivery more (three replicas, 24 connections:
    0.52 deliveries per commit with four writers, 1.47 with one; 1.6 against 0.6 ms of bot
    CPU per delivery). A batch held up (behind a group another replica's batch holds, or a
    slow disk) is not left to hold up the rest: what has waited SLOW_BATCH_S goes to another
    writer, up to PARALLEL_BATCHES."""

    def __init__(
        self, write: Callable[[Sequence[Delivery]], Awaitable[list[bool | Exception]]]
    ) -> None:
        self._write = write
        self._waiting: list[_Waiting] = []
        self._writers = 0
        self._relief: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, delivery: Delivery) -> bool:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(delivery, done, time.monotonic()))
        if self._writers == 0:
            self._start_writer()
        elif self._relief is None:
            self._relief = asyncio.get_running_loop().call_later(SLOW_BATCH_S, self._relieve)
        return await done

    def _relieve(self) -> None:
        self._relief = None
        if not self._waiting or self._writers >= PARALLEL_BATCHES:
            return
        waited = time.monotonic() - self._waiting[0].since
        if waited >= SLOW_BATCH_S:  # every writer is in a batch that is slow
            self._start_writer()
        else:  # what waited is in a batch now; look again when the oldest left would be due
            self._relief = asyncio.get_running_loop().call_later(
                SLOW_BATCH_S - waited, self._relieve
            )

    def _start_writer(self) -> None:
        self._writers += 1
        task = asyncio.create_task(self._drain())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:BATCH_LIMIT]
                del self._waiting[:BATCH_LIMIT]
                await self._commit(batch)
        finally:
            self._writers -= 1

    async def _commit(self, batch: list[_Waiting]) -> None:
        try:
            outcomes = await self._write([w.delivery for w in batch])
        except Exception as exc:
            outcomes = [exc] * len(batch)
        except BaseException:
            # Cancelled (the loop is closing): nothing waiting will be written now.
            stranded = batch + self._waiting
            self._waiting.clear()
            _answer(stranded, [StoreUnavailable("the store is closing")] * len(stranded))
            raise
        _answer(batch, outcomes)


def _answer(batch: list[_Waiting], outcomes: Sequence[bool | Exception]) -> None:
    for (_, done, _), outcome in zip(batch, outcomes, strict=True):
        if done.done():  # its caller went away; the delivery is stored all the same
            continue
        if isinstance(outcome, Exception):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)
