"""Durable jobs: the work after a request was answered (a slash command's, after Slack's ack)
happens once, on whichever replica is alive to do it.

A request's work is stored as a job row before the request is answered, claimed by this
replica. `carry` runs it here with a heartbeat renewing the claim every TTL/3; the job is then
finished, done or failed (the error logged once). A replica that dies stops renewing, and the
lease holder's `recover` loop takes the abandoned job over (attempts + 1) and runs it again
through the handler its kind names in one table. The work must therefore be safe to run
again: a slash command's handlers find what an interrupted run already did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from bot.services.store_outage import StoreOutage
from bot.store.base import Store, StoreUnavailable
from bot.store.job_records import Job, JobState

log = logging.getLogger(__name__)
# A dead holder's job is taken over within TTL + RECOVER seconds.
TTL_SECONDS = 30.0
RECOVER_SECONDS = 2.0
# A job whose runs keep dying (each one killing its replica, say) is given up on then.
MAX_ATTEMPTS = 5

Work = Callable[[Mapping[str, Any]], Coroutine[Any, Any, None]]


class Jobs:
    def __init__(
        self,
        store: Store,
        holder: str,
        handlers: Mapping[str, Work] | None = None,
        *,
        ttl: float = TTL_SECONDS,
        poll: float = RECOVER_SECONDS,
    ) -> None:
        self._store = store
        self.holder = holder
        # kind -> what runs a job of that kind again after its holder died.
        self.handlers: dict[str, Work] = dict(handlers or {})
        self._ttl, self._poll = ttl, poll
        self._running: dict[asyncio.Task[bool], Job] = {}
        self._recovered: set[asyncio.Task[bool]] = set()

    async def start(self, kind: str, key: str, payload: Mapping[str, Any]) -> Job | None:
        """Stores the job, claimed here; None when this key's job exists (a redelivery).
        StoreUnavailable when it cannot be stored: the request must not be accepted then."""
        return await self._store.start_job(kind, key, payload, self.holder, self._ttl)

    async def run(self, kind: str, key: str, payload: Mapping[str, Any], work: Work) -> bool:
        """Stores the job and runs it here; False when it was not this call's to run."""
        job = await self.start(kind, key, payload)
        return job is not None and await self.carry(job, work)

    async def carry(self, job: Job, work: Work) -> bool:
        """Runs a job this replica holds, renewing its claim meanwhile; True when it finished
        here. A run that loses its claim (taken over) is stopped; one cancelled (a clean stop)
        gives its claim up for another replica to take at once."""
        task = asyncio.create_task(self._carry(job, work), name=f"job-{job.id}")
        self._running[task] = job
        task.add_done_callback(self._done)
        return await task

    async def _carry(self, job: Job, work: Work) -> bool:
        run = asyncio.create_task(work(job.payload), name=f"job-{job.id}-work")
        beat = asyncio.create_task(self._heartbeat(job, run), name=f"job-{job.id}-heartbeat")
        try:
            await run
        except asyncio.CancelledError:
            lost = beat.done() and not beat.cancelled() and beat.exception() is None
            if lost and beat.result() is False:
                log.warning("job stopped: its claim is lost", extra=_fields(job))
                return False
            run.cancel()
            with contextlib.suppress(StoreUnavailable):
                await self._store.release_job(job)
            raise
        except Exception as exc:
            log.exception("job failed", extra=_fields(job))
            return await self._finish(job, JobState.FAILED, f"{type(exc).__name__}: {exc}")
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
        return await self._finish(job, JobState.DONE)

    async def _heartbeat(self, job: Job, run: asyncio.Task[None]) -> bool:
        """Renews every TTL/3. A claim another replica took, or one not renewed for two thirds
        of its TTL (the store unreachable: another may take it soon), stops the work."""
        renewed_at = time.monotonic()
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                if not await self._store.renew_job(job, self._ttl):
                    run.cancel()
                    return False
                renewed_at = time.monotonic()
            except StoreUnavailable as exc:
                if time.monotonic() - renewed_at >= self._ttl * 2 / 3:
                    log.warning(
                        "job claim could not be renewed; stopping it",
                        extra={**_fields(job), "error": str(exc)},
                    )
                    run.cancel()
                    return False

    async def _finish(self, job: Job, state: JobState, error: str | None = None) -> bool:
        try:
            return await self._store.finish_job(job, state, error)
        except StoreUnavailable as exc:
            # Left running: once its claim expires it is run again, and its work finds what
            # this run did.
            log.warning("job could not be finished", extra={**_fields(job), "error": str(exc)})
            return False

    async def recover(self) -> None:
        """The lease holder's worker: takes over abandoned jobs, every `poll` seconds."""
        outage = StoreOutage("jobs", log)
        try:
            while True:
                try:
                    job = await self._store.take_abandoned_job(self.holder, self._ttl)
                    outage.recovered()
                except StoreUnavailable as exc:
                    await asyncio.sleep(outage.failed(exc))
                    continue
                if job is None:
                    await asyncio.sleep(self._poll)
                    continue
                self._resume(job)
        finally:
            # Leadership lost: what was taken over here goes back, for the next holder.
            recovered, self._recovered = list(self._recovered), set()
            for task in recovered:
                task.cancel()
            await asyncio.gather(*recovered, return_exceptions=True)

    def _resume(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        log.info("taking over an abandoned job", extra=_fields(job))
        if handler is None or job.attempts > MAX_ATTEMPTS:
            reason = (
                f"no handler for jobs of kind {job.kind!r}"
                if handler is None
                else f"gave up after {job.attempts - 1} attempts"
            )
            log.error("job given up", extra={**_fields(job), "reason": reason})
            task = asyncio.create_task(self._finish(job, JobState.FAILED, reason))
        else:
            task = asyncio.create_task(self._carry(job, handler), name=f"job-{job.id}")
        self._running[task] = job
        self._recovered.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[bool]) -> None:
        self._running.pop(task, None)
        self._recovered.discard(task)

    async def close(self) -> None:
        """A clean stop: the jobs running here are stopped and give their claims up at once, so
        another replica (or this one, restarted) takes them over without waiting them out."""
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


def _fields(job: Job) -> dict[str, Any]:
    return {"job": job.id, "kind": job.kind, "attempt": job.attempts}
