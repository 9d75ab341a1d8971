"""The store contract, storm digests: each member group's line is kept, and a sync queues the
redraw of only the digest messages it changed, on every backend and across replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.store.base import Store
from bot.store.digest_records import PAGE_LINES, DigestLine, DigestPage
from bot.store.postgres import PostgresStore
from bot.store.records import AlertGroupState, NewOutboxItem, OutboxRow
from tests.fakes.alertmanager_payloads import alert, notification
from tests.harness.postgres import ThrowawayPostgres
from tests.store.conftest import drop_database, fresh_database

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
DIGEST = "digest:C1:1"


def render(page: DigestPage) -> NewOutboxItem:
    """A digest message as its lines and totals, so a test reads what it would show."""
    return NewOutboxItem(
        "chat.postMessage" if page.new else "chat.update",
        page.channel,
        {"lines": list(page.lines), "groups": page.groups, "firing": page.firing},
        message_key=page.message_key,
    )


async def groups(store: Store, count: int) -> list[AlertGroupState]:
    for n in range(count):
        body = notification(f"g{n:03}", [alert(f"f{n}")])
        await store.record_delivery("alertmanager", f"d{n}", body, NOW)
    return await store.dirty_alert_groups(limit=count)


async def member_sync(
    store: Store,
    group: AlertGroupState,
    line: DigestLine | None,
    *,
    version: int | None = None,
    then: tuple[NewOutboxItem, ...] = (),
) -> bool:
    return await store.complete_digest_sync(
        group.group_key,
        version or group.version,
        digest_key=DIGEST,
        channel="C1",
        line=line,
        render=render,
        posted_state={a.fingerprint: a.status for a in group.alerts},
        posted_view="v",
        then=then,
    )


async def bump(store: Store, group: AlertGroupState) -> int:
    """A new version of the group to sync (an acknowledgement)."""
    await store.update_alert_group(group.group_key, acked_by="<@U1>")
    found = await store.alert_group(group.group_id)
    assert found is not None
    return found.version


async def drain(store: Store) -> list[OutboxRow]:
    """What was queued, in the order the channel would send it."""
    sent = []
    while heads := await store.outbox_heads():
        head = heads[0]
        sent.append(head)
        await store.mark_sent(head.id, {"ok": True}, None)
    return sent


def shown(row: OutboxRow) -> tuple[str, str | None, list[str], int, int]:
    args = row.args
    return row.method, row.message_key, args["lines"], args["groups"], args["firing"]


async def test_lines_join_the_first_message_which_is_posted_once(store: Store) -> None:
    first, second = await groups(store, 2)
    assert await member_sync(store, first, DigestLine("firing", "one"))
    assert await member_sync(store, second, DigestLine("firing", "two"))
    assert [shown(r) for r in await drain(store)] == [
        ("chat.postMessage", DIGEST, ["one"], 1, 1),
        ("chat.update", DIGEST, ["one", "two"], 2, 2),
    ]
    member = await store.alert_group(first.group_id)
    assert member is not None and (member.digest_key, member.channel) == (DIGEST, "C1")
    assert await store.dirty_alert_groups() == []


async def test_only_what_changed_is_redrawn(store: Store) -> None:
    members = await groups(store, PAGE_LINES + 1)
    for n, group in enumerate(members):
        assert await member_sync(store, group, DigestLine("firing", f"l{n}"))
    queued = await drain(store)
    # The 41st line opens a second message; the first one's totals move with it.
    assert [shown(r)[:2] for r in queued[-2:]] == [
        ("chat.update", DIGEST),
        ("chat.postMessage", f"{DIGEST}#1"),
    ]
    assert shown(queued[-1])[2:] == ([f"l{PAGE_LINES}"], 0, 0)
    assert shown(queued[-2])[3:] == (PAGE_LINES + 1, PAGE_LINES + 1)

    last = members[-1]
    # The same line again: nothing to redraw.
    assert await member_sync(
        store, last, DigestLine("firing", "l40"), version=await bump(store, last)
    )
    assert await drain(store) == []
    # New text, same status: only its own message.
    changed = DigestLine("firing", "l40 again")
    assert await member_sync(store, last, changed, version=await bump(store, last))
    assert [shown(r) for r in await drain(store)] == [
        ("chat.update", f"{DIGEST}#1", ["l40 again"], 0, 0)
    ]
    # Resolved: its message and the first one's totals.
    resolved = DigestLine("resolved", "l40 resolved")
    assert await member_sync(store, last, resolved, version=await bump(store, last))
    redrawn = [shown(r) for r in await drain(store)]
    assert [r[1] for r in redrawn] == [DIGEST, f"{DIGEST}#1"]
    assert redrawn[0][3:] == (PAGE_LINES + 1, PAGE_LINES)


async def test_a_leaving_group_is_removed_then_gets_its_own_thread(store: Store) -> None:
    first, second = await groups(store, 2)
    assert await member_sync(store, first, DigestLine("firing", "one"))
    assert await member_sync(store, second, DigestLine("firing", "two"))
    await drain(store)
    thread = NewOutboxItem("chat.postMessage", "C1", {"lines": [], "groups": 0, "firing": 0})
    version = await bump(store, first)
    assert await member_sync(store, first, None, version=version, then=(thread,))
    queued = await drain(store)
    assert [shown(r) for r in queued] == [
        ("chat.update", DIGEST, ["two"], 1, 1),
        ("chat.postMessage", None, [], 0, 0),
    ]
    left = await store.alert_group(first.group_id)
    assert left is not None and left.digest_key is None and left.synced_version == version
    # Not in the digest any more: only its own messages.
    version = await bump(store, first)
    assert await member_sync(store, first, None, version=version, then=(thread,))
    assert [r.message_key for r in await drain(store)] == [None]


async def test_a_sync_another_one_recorded_first_queues_nothing(store: Store) -> None:
    [group] = await groups(store, 1)
    assert await member_sync(store, group, DigestLine("firing", "one"))
    assert not await member_sync(store, group, DigestLine("firing", "other"))
    assert [shown(r)[2] for r in await drain(store)] == [["one"]]


async def test_groups_joining_on_several_replicas_each_get_a_place(
    postgres: ThrowawayPostgres,
) -> None:
    dsn = await fresh_database(postgres)
    replicas = [PostgresStore(dsn) for _ in range(3)]
    try:
        for replica in replicas:
            await replica.open()
        members = await groups(replicas[0], 9)
        outcomes = await asyncio.gather(
            *(
                member_sync(replicas[n % 3], group, DigestLine("firing", f"l{n}"))
                for n, group in enumerate(members)
            )
        )
        assert all(outcomes)
        queued = await drain(replicas[0])
        # One post of the first message, every later one an edit; the last shows everyone.
        assert [r.method for r in queued] == ["chat.postMessage"] + ["chat.update"] * 8
        *_, lines, total, firing = shown(queued[-1])
        assert sorted(lines) == [f"l{n}" for n in range(9)] and (total, firing) == (9, 9)
    finally:
        for replica in replicas:
            await replica.close()
        await drop_database(postgres, dsn)
