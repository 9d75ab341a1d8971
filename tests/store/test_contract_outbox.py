"""The store contract, the Slack outbox: each channel's rows go in order, a message's newest
render replaces the older ones waiting, a backlog of change replies goes as one, and a
channel the bot is not in says so once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.store.base import Store
from bot.store.postgres import PostgresStore
from bot.store.records import (
    NewOutboxItem,
    OutboxRow,
    OutboxState,
    SlackMessageRef,
    Urgency,
)
from tests.harness.postgres import ThrowawayPostgres
from tests.store.conftest import drop_database, fresh_database

POST, UPDATE = "chat.postMessage", "chat.update"


def post(channel: str = "C1", key: str | None = None, text: str = "", **more: Any) -> NewOutboxItem:
    return NewOutboxItem(method=POST, channel=channel, args={"text": text}, message_key=key, **more)


def update(
    key: str, text: str, channel: str = "C1", urgency: Urgency = Urgency.NEW_FIRING
) -> NewOutboxItem:
    return NewOutboxItem(
        method=UPDATE, channel=channel, args={"text": text}, message_key=key, urgency=urgency
    )


def reply(text: str, blocks: int = 1, group: str = "g1") -> NewOutboxItem:
    return NewOutboxItem(
        method=POST,
        channel="C1",
        args={
            "text": text,
            "blocks": [{"type": "section", "n": f"{text}.{b}"} for b in range(blocks)],
        },
        message_key=f"alertchanges:{group}",
        thread_key=f"alertgroup:{group}",
    )


async def row(store: Store, row_id: int) -> OutboxRow:
    found = await store.outbox_row(row_id)
    assert found is not None
    return found


async def states(store: Store, ids: list[int]) -> list[OutboxState]:
    return [(await row(store, i)).state for i in ids]


async def posted(store: Store, key: str, channel: str, ts: str) -> None:
    """A post of `key` that Slack has, in another channel than the tests' queue."""
    [post_id] = await store.enqueue([post(channel, key)])
    await store.mark_sent(post_id, {"ts": ts, "channel": channel}, SlackMessageRef(channel, ts))


async def test_a_queued_row_reads_back_as_queued(store: Store) -> None:
    before = time.time()
    ids = await store.enqueue(
        [
            NewOutboxItem(
                method=POST,
                channel="C1",
                args={"text": "hi", "blocks": [{"type": "divider"}]},
                message_key="incident:7",
                thread_key="incident:6",
                incident_id=7,
            ),
            post("C2"),
        ]
    )
    assert ids == sorted(ids) and len(set(ids)) == 2
    first = await row(store, ids[0])
    assert (first.method, first.channel, first.message_key, first.thread_key) == (
        POST,
        "C1",
        "incident:7",
        "incident:6",
    )
    assert first.args == {"text": "hi", "blocks": [{"type": "divider"}]}
    assert (first.incident_id, first.state, first.attempts, first.not_before) == (
        7,
        OutboxState.PENDING,
        0,
        0.0,
    )
    assert (first.last_error, first.result) == (None, {})
    assert before - 1 <= first.created_at.timestamp() <= time.time() + 1
    assert await store.outbox_row(ids[1] + 100) is None


async def test_heads_are_each_channels_oldest_unfinished_row_in_order(store: Store) -> None:
    a1, b1, a2, c1 = await store.enqueue([post("CA"), post("CB"), post("CA"), post("CC")])
    assert [h.id for h in await store.outbox_heads()] == [a1, b1, c1]
    assert await store.mark_in_flight(b1)  # still the channel's head: it may have been sent
    await store.mark_sent(a1, {"ts": "1.0"}, None)
    assert [h.id for h in await store.outbox_heads()] == [b1, a2, c1]
    heads = {h.channel: h for h in await store.outbox_heads()}
    assert (heads["CB"].state, heads["CB"].attempts) == (OutboxState.IN_FLIGHT, 1)
    await store.mark_unsent(b1, OutboxState.UNDELIVERED, "offline")
    await store.mark_unsent(c1, OutboxState.FAILED, "refused")
    assert [h.id for h in await store.outbox_heads()] == [a2]
    refused = await row(store, c1)
    assert (refused.state, refused.last_error) == (OutboxState.FAILED, "refused")


async def test_a_messages_newest_render_supersedes_every_older_one_waiting(store: Store) -> None:
    old, head, other, newest, elsewhere = await store.enqueue(
        [
            update("digest:d", "render 1"),
            update("digest:d", "render 2"),
            update("digest:other", "other message"),
            update("digest:d", "render 3"),
            update("digest:d", "same key, other channel", channel="C2"),
        ]
    )
    # The head is the render that jumped the line; one queued before it (held back by
    # Slack's retry_after) goes too, or it would land later showing a state already left.
    sent, stale = await store.coalesce_update(await row(store, head))
    assert (sent.id, sent.args) == (newest, {"text": "render 3"})
    assert sorted(stale) == [old, head]
    assert await states(store, [old, head, other, newest, elsewhere]) == [
        OutboxState.SUPERSEDED,
        OutboxState.SUPERSEDED,
        OutboxState.PENDING,
        OutboxState.PENDING,
        OutboxState.PENDING,
    ]
    # Nothing older waits now: the newest goes as it is.
    assert await store.coalesce_update(sent) == (sent, [])


async def test_an_update_in_flight_from_a_dead_attempt_is_superseded_by_a_newer_one(
    store: Store,
) -> None:
    first, second = await store.enqueue([update("m", "a"), update("m", "b")])
    assert await store.mark_in_flight(first)
    sent, stale = await store.coalesce_update(await row(store, first))
    assert (sent.id, stale) == (second, [first])
    # A post, or an update with no message key, is never coalesced.
    [lone_post, keyless] = await store.enqueue(
        [post("C1", "m"), NewOutboxItem(method=UPDATE, channel="C1", args={})]
    )
    for head in (await row(store, lone_post), await row(store, keyless)):
        assert await store.coalesce_update(head) == (head, [])


async def test_change_replies_behind_the_head_go_as_one_reply(store: Store) -> None:
    first, second, third, other = await store.enqueue(
        [reply("one"), reply("two", blocks=2), reply("three"), reply("x", group="g2")]
    )
    merged, stale = await store.coalesce_update(await row(store, first))
    assert merged.id == first
    assert merged.args["text"] == "one\ntwo\nthree"
    assert [b["n"] for b in merged.args["blocks"]] == ["one.0", "two.0", "two.1", "three.0"]
    assert merged.thread_key == "alertgroup:g1"
    assert stale == [second, third]
    # The merge is what the row now says: a send retried after a crash sends the same.
    assert (await row(store, first)).args == merged.args
    assert await states(store, [second, third, other]) == [
        OutboxState.SUPERSEDED,
        OutboxState.SUPERSEDED,
        OutboxState.PENDING,
    ]


async def test_a_merged_reply_stays_inside_slacks_limits(store: Store) -> None:
    ids = await store.enqueue([reply("a" * 2000, blocks=15) for _ in range(3)])
    merged, stale = await store.coalesce_update(await row(store, ids[0]))
    # 45 blocks would be too many: the third reply waits for the next message.
    assert stale == [ids[1]] and len(merged.args["blocks"]) == 30
    assert len(merged.args["text"]) == 3000 and merged.args["text"].endswith("…")
    assert await states(store, ids) == [
        OutboxState.PENDING,
        OutboxState.SUPERSEDED,
        OutboxState.PENDING,
    ]


async def test_a_reply_that_may_be_posted_keeps_what_it_said(store: Store) -> None:
    first, second = await store.enqueue([reply("one"), reply("two")])
    assert await store.mark_in_flight(first)
    head = await row(store, first)
    assert await store.coalesce_update(head) == (head, [])
    assert await states(store, [second]) == [OutboxState.PENDING]
    # Only replies queued behind the head merge into it.
    assert await store.coalesce_update(await row(store, second)) == (await row(store, second), [])


async def test_ready_update_goes_around_the_head_most_urgent_first(store: Store) -> None:
    await posted(store, "digest:known", "C9", "1.1")
    await posted(store, "digest:resolved", "C9", "1.2")
    now = time.time()
    head_id, unknown, counts, resolved, digest_post, thread_post = await store.enqueue(
        [
            post("C1", "alertgroup:head"),
            update("digest:unposted", "Slack has no such message yet"),
            update("digest:known", "counts", urgency=Urgency.COUNTS),
            update("digest:resolved", "resolved", urgency=Urgency.RESOLVED),
            post("C1", "digest:new"),
            post("C1", "alertgroup:next"),
        ]
    )
    head = await row(store, head_id)
    jump = await store.ready_update(head, now)
    assert jump is not None and jump.id == resolved
    await store.reschedule(resolved, now + 60, "ratelimited")
    jump = await store.ready_update(head, now)
    assert jump is not None and jump.id == counts
    assert unknown not in {counts, resolved}

    found = await store.ready_update(head, now, posts_with_key="digest:")
    assert found is not None and found.id == digest_post
    found = await store.ready_update(head, now, posts_with_key="alertgroup:")
    assert found is not None and found.id == thread_post  # the head itself never jumps
    assert await store.ready_update(head, now, posts_with_key="alertchanges:") is None
    # Nothing queued after the last row.
    assert await store.ready_update(await row(store, thread_post), now) is None


async def test_a_sent_post_names_its_message(store: Store) -> None:
    first, second, keyless = await store.enqueue(
        [post("C1", "incident:1"), post("C1", "incident:1"), post("C1")]
    )
    assert await store.message_ref("incident:1") is None
    await store.reschedule(first, 5.0, "timeout")
    await store.mark_sent(first, {"ts": "100.1", "channel": "C1"}, SlackMessageRef("C1", "100.1"))
    assert await store.message_ref("incident:1") == SlackMessageRef("C1", "100.1")
    sent = await row(store, first)
    assert (sent.state, sent.result, sent.last_error) == (
        OutboxState.SENT,
        {"ts": "100.1", "channel": "C1"},
        None,
    )
    # A message posted again (its first post was deleted) is found where it is now.
    await store.mark_sent(second, {"ts": "200.2"}, SlackMessageRef("C1", "200.2"))
    assert await store.message_ref("incident:1") == SlackMessageRef("C1", "200.2")
    await store.mark_sent(keyless, {"ts": "300.3"}, SlackMessageRef("C1", "300.3"))
    latest = await store.latest_post("incident:1")
    assert latest is not None and latest.id == second
    assert await store.latest_post("incident:2") is None


async def test_latest_post_is_the_newest_post_whatever_its_state(store: Store) -> None:
    sent, failed, _ = await store.enqueue([post("C1", "k"), post("C1", "k"), update("k", "u")])
    await store.mark_sent(sent, {"ts": "1.0"}, SlackMessageRef("C1", "1.0"))
    await store.mark_unsent(failed, OutboxState.FAILED, "msg_too_long")
    latest = await store.latest_post("k")
    assert latest is not None and (latest.id, latest.state) == (failed, OutboxState.FAILED)


async def test_a_rescheduled_row_waits_and_one_maybe_sent_stays_in_flight(store: Store) -> None:
    plain, maybe = await store.enqueue([post("C1"), post("C2")])
    await store.mark_in_flight(plain)
    await store.mark_in_flight(maybe)
    await store.reschedule(plain, 123.5, "ratelimited")
    await store.reschedule(maybe, 124.5, "timeout", maybe_sent=True)
    again, unsure = await row(store, plain), await row(store, maybe)
    assert (again.state, again.not_before, again.last_error, again.attempts) == (
        OutboxState.PENDING,
        123.5,
        "ratelimited",
        1,
    )
    assert (unsure.state, unsure.not_before, unsure.last_error) == (
        OutboxState.IN_FLIGHT,
        124.5,
        "timeout",
    )


async def test_a_channel_the_bot_is_not_in_says_so_once(store: Store) -> None:
    a1, a2, b1 = await store.enqueue([post("CA"), post("CA"), post("CB")])
    assert await store.await_invite(a1, 50.0, "not_in_channel")
    assert not await store.await_invite(a2, 50.0, "not_in_channel")
    assert not await store.await_invite(a1, 60.0, "not_in_channel")
    assert await store.await_invite(b1, 50.0, "channel_not_found")
    assert not await store.await_invite(b1 + 100, 50.0, "not_in_channel")
    waiting = await store.channels_awaiting_invite()
    assert [(w.channel, w.error, w.waiting) for w in waiting] == [
        ("CA", "not_in_channel", 2),
        ("CB", "channel_not_found", 1),
    ]
    assert waiting[0].since == (await row(store, a1)).created_at
    kept = await row(store, a1)
    assert (kept.state, kept.not_before) == (OutboxState.PENDING, 60.0)

    assert await store.retry_channel("CA") == 2
    assert [(await row(store, i)).not_before for i in (a1, a2, b1)] == [0.0, 0.0, 50.0]
    assert await store.retry_channel("CZ") == 0
    # Once the channel's rows are sent, the next refusal is news again.
    await store.mark_sent(a1, {"ts": "1.0"}, None)
    await store.mark_sent(a2, {"ts": "2.0"}, None)
    assert [w.channel for w in await store.channels_awaiting_invite()] == ["CB"]
    [a3] = await store.enqueue([post("CA")])
    assert await store.await_invite(a3, 70.0, "not_in_channel")


async def test_stats_count_rows_by_state_and_age_the_oldest_unsent(store: Store) -> None:
    empty = await store.outbox_stats(time.time())
    assert (empty.depth, empty.oldest_age_seconds, dict(empty.by_state)) == (0, 0.0, {})
    sent, flying, waiting, dropped = await store.enqueue([post(), post(), post(), post()])
    await store.mark_sent(sent, {}, None)
    await store.mark_in_flight(flying)
    await store.mark_unsent(dropped, OutboxState.UNDELIVERED, "offline")
    created = (await row(store, flying)).created_at.timestamp()
    stats = await store.outbox_stats(created + 30)
    assert stats.depth == 2
    assert 29 <= stats.oldest_age_seconds <= 31
    assert dict(stats.by_state) == {"sent": 1, "in_flight": 1, "pending": 1, "undelivered": 1}
    assert waiting > flying
    # A clock behind the rows' never makes a negative age.
    assert (await store.outbox_stats(created - 100)).oldest_age_seconds == 0.0


@pytest.fixture
async def replicas(postgres: ThrowawayPostgres) -> AsyncIterator[list[PostgresStore]]:
    """Two PostgreSQL stores on one database: two replicas of the bot."""
    dsn = await fresh_database(postgres)
    pair = [PostgresStore(dsn), PostgresStore(dsn)]
    for replica in pair:
        await replica.open()
    yield pair
    for replica in pair:
        await replica.close()
    await drop_database(postgres, dsn)


async def test_replicas_coalescing_one_head_at_once_send_the_newest_once(
    replicas: list[PostgresStore],
) -> None:
    a, b = replicas
    ids = await a.enqueue([update("digest:d", f"render {n}") for n in range(6)])
    head = await row(a, ids[0])
    (sent_a, stale_a), (sent_b, stale_b) = await asyncio.gather(
        a.coalesce_update(head), b.coalesce_update(head)
    )
    assert sent_a.id == sent_b.id == ids[-1]
    # Each older render is superseded by one of them, none twice.
    assert sorted(stale_a + stale_b) == ids[:-1]
    stats = await a.outbox_stats(time.time())
    assert dict(stats.by_state) == {"superseded": 5, "pending": 1}


async def test_replicas_merging_one_reply_backlog_at_once_send_the_same_reply(
    replicas: list[PostgresStore],
) -> None:
    a, b = replicas
    ids = await a.enqueue([reply(f"change {n}") for n in range(4)])
    head = await row(a, ids[0])
    (merged_a, stale_a), (merged_b, stale_b) = await asyncio.gather(
        a.coalesce_update(head), b.coalesce_update(head)
    )
    assert merged_a == merged_b == await row(a, ids[0])
    assert merged_a.args["text"] == "change 0\nchange 1\nchange 2\nchange 3"
    assert sorted(stale_a + stale_b) == ids[1:]


async def test_replicas_marking_one_post_sent_record_it_once(
    replicas: list[PostgresStore],
) -> None:
    a, b = replicas
    for n in range(5):
        [post_id] = await a.enqueue([post("C1", f"incident:{n}")])
        ref = SlackMessageRef("C1", f"{n}.5")
        await asyncio.gather(
            a.mark_sent(post_id, {"ts": ref.ts}, ref), b.mark_sent(post_id, {"ts": ref.ts}, ref)
        )
        assert await b.message_ref(f"incident:{n}") == ref
        assert (await row(a, post_id)).state == OutboxState.SENT
    stats = await a.outbox_stats(time.time())
    assert (stats.depth, dict(stats.by_state)) == (0, {"sent": 5})


async def test_replicas_refused_in_one_channel_at_once_say_so_once(
    replicas: list[PostgresStore],
) -> None:
    a, b = replicas
    for n in range(5):
        channel = f"C{n}"
        first, second = await a.enqueue([post(channel), post(channel)])
        told = await asyncio.gather(
            a.await_invite(first, 10.0, "not_in_channel"),
            b.await_invite(second, 10.0, "not_in_channel"),
        )
        assert sorted(told) == [False, True]
    assert [w.waiting for w in await b.channels_awaiting_invite()] == [2] * 5
