"""The store contract, retention: old webhook bodies, finished Slack writes and Slack event
ids go, in batches of at most the limit; what the bot still reads stays."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from bot.domain.incident import NewIncident, Severity
from bot.domain.timeline import EventKind, NewEvent
from bot.store.base import Store
from bot.store.job_records import JobState
from bot.store.records import NewOutboxItem, OutboxState, SlackMessageRef
from tests.harness.postgres import ThrowawayPostgres
from tests.store.replicas import replicas

# Rows are stamped with the wall clock as they are written: a cutoff a day ahead finds
# every one of them old, a day back none.
AHEAD = timedelta(days=1)


def counts(
    webhook_deliveries: int = 0, outbox: int = 0, seen_events: int = 0, jobs: int = 0
) -> dict[str, int]:
    return {
        "webhook_deliveries": webhook_deliveries,
        "outbox": outbox,
        "seen_events": seen_events,
        "jobs": jobs,
    }


def message(text: str) -> NewEvent:
    return NewEvent(EventKind.MESSAGE, "U1", text, datetime.now(UTC))


async def an_incident(store: Store) -> int:
    new = NewIncident("Records down", Severity.P2, "U1", datetime.now(UTC))
    return (await store.create_incident(new)).id


async def test_slack_event_ids_go_in_batches_and_their_retries_count_again(store: Store) -> None:
    incident = await an_incident(store)
    for n in range(5):
        assert await store.append_event_once(incident, message(f"m{n}"), f"slack:Ev{n}")
    assert await store.prune(datetime.now(UTC) - AHEAD, 2) == counts()
    cutoff = datetime.now(UTC) + AHEAD
    batches = [await store.prune(cutoff, 2) for _ in range(4)]
    assert [b["seen_events"] for b in batches] == [2, 2, 1, 0]
    assert all(b == counts(seen_events=b["seen_events"]) for b in batches)
    # The timeline is never pruned; a retry of a forgotten event id is recorded anew.
    assert len(await store.timeline(incident)) == 6
    assert await store.append_event_once(incident, message("m0"), "slack:Ev0") is not None


async def test_old_bodies_and_finished_writes_go_and_what_is_read_stays(store: Store) -> None:
    now = datetime.now(UTC)
    for n in range(3):
        assert await store.record_delivery("pagerduty", f"old-{n}", {}, now - timedelta(days=40))
    assert await store.record_delivery("pagerduty", "later", {}, now + 2 * AHEAD)
    # Still being re-sent: the repeat marks it seen again, so it is kept.
    assert not await store.record_delivery("pagerduty", "old-0", {}, now + 2 * AHEAD)
    post, update, plain, old_post, new_post, refused, waiting = await store.enqueue(
        [
            NewOutboxItem("chat.postMessage", "C1", {"text": "a"}, message_key="m1"),
            NewOutboxItem("chat.update", "C1", {"text": "b"}, message_key="m1"),
            NewOutboxItem("chat.postMessage", "C1", {"text": "c"}),
            NewOutboxItem("chat.postMessage", "C2", {"text": "d"}, message_key="m2"),
            NewOutboxItem("chat.postMessage", "C2", {"text": "e"}, message_key="m2"),
            NewOutboxItem("chat.postMessage", "C3", {"text": "f"}),
            NewOutboxItem("chat.postMessage", "C4", {"text": "g"}),
        ]
    )
    for row_id, ts in ((post, "1.1"), (update, None), (plain, "1.2"), (old_post, "1.3")):
        ref = SlackMessageRef("C1", ts) if ts else None
        await store.mark_sent(row_id, {"ok": True}, ref)
    await store.mark_sent(new_post, {"ok": True}, SlackMessageRef("C2", "1.4"))
    await store.mark_unsent(refused, OutboxState.UNDELIVERED, "is_archived")

    assert await store.prune(now + AHEAD, 100) == counts(webhook_deliveries=2, outbox=4)
    assert await store.prune(now + AHEAD, 100) == counts()
    # Each message's newest post stays, and so does every unfinished write.
    kept = [post, new_post, waiting]
    assert all([await store.outbox_row(row_id) is not None for row_id in kept])
    gone = [update, plain, old_post, refused]
    assert all([await store.outbox_row(row_id) is None for row_id in gone])
    latest = await store.latest_post("m2")
    assert latest is not None and latest.id == new_post
    # A pruned delivery's id is new again; a kept one is still a duplicate.
    assert not await store.record_delivery("pagerduty", "old-0", {}, now)
    assert not await store.record_delivery("pagerduty", "later", {}, now)
    assert await store.record_delivery("pagerduty", "old-1", {}, now)


async def test_finished_jobs_go_and_a_running_one_stays_however_old(store: Store) -> None:
    done, failed, running = [
        await store.start_job("slash_command", f"trigger-{n}", {"text": "x"}, "replica-a", 30)
        for n in range(3)
    ]
    assert done is not None and failed is not None and running is not None
    assert await store.finish_job(done, JobState.DONE)
    assert await store.finish_job(failed, JobState.FAILED, "the channel is archived")
    assert await store.prune(datetime.now(UTC) - AHEAD, 100) == counts()
    assert await store.prune(datetime.now(UTC) + AHEAD, 100) == counts(jobs=2)
    assert await store.job("trigger-0") is None and await store.job("trigger-1") is None
    kept = await store.job("trigger-2")
    assert kept is not None and kept.state == JobState.RUNNING


async def test_replicas_pruning_at_once_delete_each_row_once(postgres: ThrowawayPostgres) -> None:
    async with replicas(postgres) as (a, b):
        incident = await an_incident(a)
        for n in range(30):
            await a.append_event_once(incident, message(f"m{n}"), f"slack:Ev{n}")
        cutoff = datetime.now(UTC) + AHEAD
        total: Counter[str] = Counter()
        while True:
            rounds = await asyncio.gather(a.prune(cutoff, 4), b.prune(cutoff, 4))
            for deleted in rounds:
                total.update(deleted)
            if not any(n for deleted in rounds for n in deleted.values()):
                break
        assert total["seen_events"] == 30
        assert await a.append_event_once(incident, message("m0"), "slack:Ev0") is not None
