"""The Jobs service: a job run here is renewed while it works and finished once; one whose
claim another took is stopped; an abandoned one is run again by the recovery loop through its
kind's handler; a clean stop gives the jobs running here up at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from bot.services.jobs import Jobs
from bot.store.job_records import JobState
from bot.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    sqlite = SqliteStore(tmp_path / "bot.db")
    await sqlite.open()
    yield sqlite
    await sqlite.close()


async def test_a_job_is_renewed_while_it_works_and_finished_once(store: SqliteStore) -> None:
    jobs = Jobs(store, "replica-a", ttl=0.3)
    seen: list[Mapping[str, Any]] = []

    async def work(payload: Mapping[str, Any]) -> None:
        seen.append(payload)
        await asyncio.sleep(0.7)  # past its TTL: only the heartbeat keeps it claimed
        assert await store.take_abandoned_job("replica-b", 30) is None

    assert await jobs.run("k", "key-1", {"n": 1}, work)
    assert seen == [{"n": 1}]
    done = await store.job("key-1")
    assert done is not None and done.state == JobState.DONE and done.attempts == 1
    # The same key again is not this call's to run.
    assert not await jobs.run("k", "key-1", {"n": 1}, work)
    assert len(seen) == 1


async def test_a_failing_job_is_failed_and_logged_once(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    async def work(payload: Mapping[str, Any]) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="bot.services.jobs"):
        assert await Jobs(store, "replica-a").run("k", "key-1", {}, work)
    failed = await store.job("key-1")
    assert failed is not None and failed.state == JobState.FAILED
    assert failed.last_error == "RuntimeError: boom"
    assert [r.message for r in caplog.records] == ["job failed"]


async def test_a_job_whose_claim_another_took_is_stopped(store: SqliteStore) -> None:
    jobs = Jobs(store, "replica-a", ttl=0.3)
    job = await jobs.start("k", "key-1", {})
    assert job is not None
    started, finished = asyncio.Event(), []

    async def work(payload: Mapping[str, Any]) -> None:
        started.set()
        await asyncio.sleep(5)
        finished.append(True)

    running = asyncio.create_task(jobs.carry(job, work))
    await started.wait()
    # Another replica took it (this one was paused past its claim, say).
    await store.release_job(job)
    assert await store.take_abandoned_job("replica-b", 30) is not None
    assert await asyncio.wait_for(running, 2) is False
    assert finished == []
    stored = await store.job("key-1")
    assert stored is not None and stored.holder == "replica-b" and stored.state == "running"


async def test_recovery_runs_an_abandoned_job_through_its_kinds_handler(
    store: SqliteStore,
) -> None:
    await store.start_job("slash_command", "key-1", {"text": "declare x"}, "dead", 0.05)
    await store.start_job("unknown", "key-2", {}, "dead", 0.05)
    seen: list[Mapping[str, Any]] = []

    async def handler(payload: Mapping[str, Any]) -> None:
        seen.append(payload)

    jobs = Jobs(store, "alive", {"slash_command": handler}, poll=0.05)
    recovering = asyncio.create_task(jobs.recover())
    try:
        async with asyncio.timeout(5):
            while True:
                states = [await store.job(k) for k in ("key-1", "key-2")]
                if all(j is not None and j.state != JobState.RUNNING for j in states):
                    break
                await asyncio.sleep(0.05)
    finally:
        recovering.cancel()
        await asyncio.gather(recovering, return_exceptions=True)
    assert seen == [{"text": "declare x"}]
    first, second = [await store.job(k) for k in ("key-1", "key-2")]
    assert first is not None and (first.state, first.holder, first.attempts) == (
        JobState.DONE,
        "alive",
        2,
    )
    assert second is not None and second.state == JobState.FAILED
    assert second.last_error is not None and "no handler" in second.last_error


async def test_a_clean_stop_gives_running_jobs_up_at_once(store: SqliteStore) -> None:
    jobs = Jobs(store, "replica-a")
    job = await jobs.start("k", "key-1", {})
    assert job is not None
    started = asyncio.Event()

    async def work(payload: Mapping[str, Any]) -> None:
        started.set()
        await asyncio.sleep(30)

    running = asyncio.create_task(jobs.carry(job, work))
    await started.wait()
    await jobs.close()
    assert running.cancelled() or isinstance(running.exception(), asyncio.CancelledError)
    taken = await store.take_abandoned_job("replica-b", 30)
    assert taken is not None and taken.id == job.id
