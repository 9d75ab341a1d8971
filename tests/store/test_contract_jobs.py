"""The store contract, jobs: one job per request key, claimed by one holder at a time, renewed
by it, taken over once abandoned (attempts + 1), finished only by its current claim; and a
declaration made once per request key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.incident import NewIncident, Severity
from bot.domain.timeline import EventKind
from bot.store.job_records import JobState
from bot.store.records import NewOutboxItem
from tests.harness.postgres import ThrowawayPostgres
from tests.store.replicas import replicas

PAYLOAD = {"text": "declare P1 Records down", "response_url": "https://hooks.example/r/1"}


async def test_a_job_is_started_once_per_key_already_claimed(store: Any) -> None:
    job = await store.start_job("slash_command", "trigger-1", PAYLOAD, "replica-a", 30)
    assert job is not None
    assert (job.kind, job.key, dict(job.payload)) == ("slash_command", "trigger-1", PAYLOAD)
    assert (job.state, job.holder, job.attempts) == (JobState.RUNNING, "replica-a", 1)
    assert job.expires_at > datetime.now(UTC).timestamp() + 20
    # The same request delivered again (or to another replica) makes no second job.
    assert await store.start_job("slash_command", "trigger-1", PAYLOAD, "replica-b", 30) is None
    stored = await store.job("trigger-1")
    assert stored is not None and stored.id == job.id and stored.holder == "replica-a"


async def test_a_held_job_is_not_abandoned_and_renewal_keeps_it(store: Any) -> None:
    job = await store.start_job("slash_command", "trigger-1", PAYLOAD, "replica-a", 0.3)
    assert await store.take_abandoned_job("replica-b", 30) is None
    for _ in range(3):
        await asyncio.sleep(0.15)
        assert await store.renew_job(job, 0.3)
    assert await store.take_abandoned_job("replica-b", 30) is None


async def test_an_abandoned_job_is_taken_over_and_the_old_claim_is_dead(store: Any) -> None:
    job = await store.start_job("slash_command", "trigger-1", PAYLOAD, "replica-a", 0.2)
    await asyncio.sleep(0.3)
    taken = await store.take_abandoned_job("replica-b", 30)
    assert taken is not None and taken.id == job.id
    assert (taken.holder, taken.attempts, dict(taken.payload)) == ("replica-b", 2, PAYLOAD)
    # Only one taker, and the holder that stopped renewing can neither renew nor finish it.
    assert await store.take_abandoned_job("replica-c", 30) is None
    assert not await store.renew_job(job, 30)
    assert not await store.finish_job(job, JobState.DONE)
    assert await store.renew_job(taken, 30)
    assert await store.finish_job(taken, JobState.DONE)
    done = await store.job("trigger-1")
    assert done is not None and done.state == JobState.DONE
    # Finished work is never abandoned, and cannot be finished twice.
    assert not await store.finish_job(taken, JobState.FAILED, "late")
    assert not await store.renew_job(taken, 30)


async def test_the_same_holder_taking_its_job_back_is_a_new_claim(store: Any) -> None:
    job = await store.start_job("slash_command", "trigger-1", PAYLOAD, "replica-a", 0.1)
    await asyncio.sleep(0.2)
    again = await store.take_abandoned_job("replica-a", 30)
    assert again is not None and again.attempts == 2
    # The first run (stalled past its claim) is fenced off by its attempt.
    assert not await store.finish_job(job, JobState.DONE)
    assert await store.finish_job(again, JobState.FAILED, "x" * 5000)
    failed = await store.job("trigger-1")
    assert failed is not None and failed.state == JobState.FAILED
    assert failed.last_error is not None and 0 < len(failed.last_error) <= 2000


async def test_a_released_job_is_taken_at_once(store: Any) -> None:
    job = await store.start_job("slash_command", "trigger-1", PAYLOAD, "replica-a", 30)
    assert await store.take_abandoned_job("replica-b", 30) is None
    assert await store.release_job(job)
    taken = await store.take_abandoned_job("replica-b", 30)
    assert taken is not None and taken.attempts == 2
    assert not await store.release_job(job)


async def test_abandoned_jobs_are_taken_oldest_first_one_each(store: Any) -> None:
    for n in range(3):
        await store.start_job("slash_command", f"trigger-{n}", {"n": n}, "replica-a", 0.1)
    await asyncio.sleep(0.2)
    taken = [await store.take_abandoned_job("replica-b", 30) for _ in range(4)]
    assert [t.payload["n"] if t else None for t in taken] == [0, 1, 2, None]


async def test_a_declaration_is_made_once_per_request_key(store: Any) -> None:
    new = NewIncident("Records down", Severity.P1, "U1", datetime.now(UTC), ("records",))
    first, created = await store.declare_once(new, "trigger-1")
    assert created
    again, created_again = await store.declare_once(new, "trigger-1")
    assert not created_again and again.id == first.id
    other, created_other = await store.declare_once(new, "trigger-2")
    assert created_other and other.id != first.id
    assert len(await store.list_incidents()) == 2
    [declared] = await store.timeline(first.id)
    assert declared.kind == EventKind.DECLARED
    assert declared.data["request_key"] == "trigger-1"
    assert declared.data["services"] == ["records"]


async def test_calls_since_lists_a_methods_rows_in_a_channel(store: Any) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    [a, _, c] = await store.enqueue(
        [
            NewOutboxItem("conversations.create", "workspace", {"name": "inc-1"}),
            NewOutboxItem("chat.postMessage", "workspace", {"text": "hi"}),
            NewOutboxItem("conversations.create", "workspace", {"name": "inc-2"}),
        ]
    )
    rows = await store.calls_since("conversations.create", "workspace", before)
    assert [r.id for r in rows] == [a, c] and rows[0].args == {"name": "inc-1"}
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert await store.calls_since("conversations.create", "workspace", later) == []


async def test_replicas_taking_one_abandoned_job_at_once_get_it_once(
    postgres: ThrowawayPostgres,
) -> None:
    async with replicas(postgres, 3) as stores:
        for round_ in range(5):
            job = await stores[0].start_job("slash_command", f"t-{round_}", {}, "dead", 0.05)
            assert job is not None
            await asyncio.sleep(0.1)
            taken = await asyncio.gather(
                *(s.take_abandoned_job(f"replica-{i}", 30) for i, s in enumerate(stores))
            )
            got = [t for t in taken if t is not None]
            assert len(got) == 1 and got[0].id == job.id and got[0].attempts == 2
            stored = await stores[0].job(f"t-{round_}")
            assert stored is not None and stored.holder == got[0].holder


async def test_replicas_declaring_one_request_at_once_make_one_incident(
    postgres: ThrowawayPostgres,
) -> None:
    new = NewIncident("Records down", Severity.P1, "U1", datetime.now(UTC))
    async with replicas(postgres, 3) as stores:
        results = await asyncio.gather(*(s.declare_once(new, "trigger-1") for s in stores))
        assert len({incident.id for incident, _ in results}) == 1
        assert [created for _, created in results].count(True) == 1
        assert len(await stores[0].list_incidents()) == 1
