"""The store contract, alert intake and groups: a delivery is stored once, a group keeps every
alert and its summary, and a sync is recorded once, on every backend and across replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from bot.store.alert_rows import dedup_hash_of, group_id_of
from bot.store.base import Store, StoreUnavailable
from bot.store.pg_alert_writes import GROUP_LOCKS
from bot.store.postgres import PostgresStore
from bot.store.records import AlertGroupState, NewOutboxItem
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.pagerduty_api import webhook
from tests.harness.postgres import ThrowawayPostgres
from tests.store.conftest import drop_database, fresh_database

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def post(channel: str = "C1", key: str = "alertgroup:x") -> NewOutboxItem:
    return NewOutboxItem("chat.postMessage", channel, {"text": "hi"}, message_key=key)


async def only_dirty(store: Store) -> AlertGroupState:
    [group] = await store.dirty_alert_groups()
    return group


async def sync(
    store: Store,
    group: AlertGroupState,
    *,
    items: list[NewOutboxItem] | None = None,
    channel: str | None = None,
    digest_key: str | None = None,
) -> bool:
    changed = group.changed if group.changed is not None else group.alerts
    return await store.complete_alert_sync(
        group.group_key,
        group.version,
        items=items or [],
        posted_state={a.fingerprint: a.status for a in changed},
        posted_view="shown",
        channel=channel,
        digest_key=digest_key,
    )


@pytest.fixture
async def replicas(postgres: ThrowawayPostgres) -> AsyncIterator[list[PostgresStore]]:
    """Three replicas of the bot sharing one database."""
    dsn = await fresh_database(postgres)
    stores = [PostgresStore(dsn) for _ in range(3)]
    for replica in stores:
        await replica.open()
    yield stores
    for replica in stores:
        await replica.close()
    await drop_database(postgres, dsn)


# intake ----------------------------------------------------------------------------------


async def test_a_delivery_is_stored_once(store: Store) -> None:
    body = notification("db", [alert("f1")])
    assert await store.record_delivery("alertmanager", "same", body, NOW) is True
    assert await store.record_delivery("alertmanager", "same", body, NOW) is False
    # The same id from another source is another delivery.
    assert await store.record_delivery("grafana", "same", body, NOW) is True
    alerts, total = await store.list_alerts()
    assert total == 1 and alerts[0]["fingerprint"] == "f1"


async def test_a_raw_body_is_kept_and_a_minimal_body_is_accepted(store: Store) -> None:
    body = {"groupKey": "g", "alerts": [{"fingerprint": "f1", "status": "firing"}]}
    assert await store.record_delivery("alertmanager", "d1", body, NOW, raw=b'{"groupKey":"g"}')
    group = await only_dirty(store)
    assert group.group_key == "g" and group.status == "firing" and group.receiver == ""
    assert [a.fingerprint for a in group.alerts] == ["f1"]


async def test_a_pagerduty_delivery_stores_its_incident(store: Store) -> None:
    body = webhook("incident.triggered")
    assert await store.record_delivery("pagerduty", "e1", body, NOW)
    assert not await store.record_delivery("pagerduty", "e1", body, NOW)
    incident = await store.pagerduty_incident(body["event"]["data"]["id"])
    assert incident is not None and incident.status == "triggered"
    assert await store.dirty_alert_groups() == []
    # A body without an event is kept but changes nothing.
    assert await store.record_delivery("pagerduty", "e2", {}, NOW)


async def test_alerts_are_listed_newest_first_and_paged_by_id(store: Store) -> None:
    await store.record_delivery(
        "alertmanager",
        "d1",
        notification("a", [alert("f1"), alert("f2", status="resolved"), alert("f3")]),
        NOW,
    )
    await store.record_delivery("alertmanager", "d2", notification("b", [alert("f4")]), NOW)
    listed, total = await store.list_alerts()
    assert total == 4 and [a["fingerprint"] for a in listed] == ["f4", "f3", "f2", "f1"]
    assert listed[0]["labels"]["group"] == "b"
    assert listed[0]["annotations"]["summary"] == "Error rate above 5%"
    firing, total = await store.list_alerts(status="firing", limit=2, offset=1)
    assert total == 3 and [a["fingerprint"] for a in firing] == ["f3", "f1"]

    page, total = await store.alert_page(limit=2)
    assert total == 4 and [a["fingerprint"] for a in page] == ["f4", "f3"]
    page, total = await store.alert_page(limit=2, before=page[-1]["id"])
    assert total == 4 and [a["fingerprint"] for a in page] == ["f2", "f1"]
    page, total = await store.alert_page(status="firing", before=listed[0]["id"], offset=1)
    assert total == 3 and [a["fingerprint"] for a in page] == ["f1"]
    assert await store.alert_page(status="resolved", before=listed[-1]["id"]) == ([], 1)


# groups ----------------------------------------------------------------------------------


async def test_a_group_is_found_by_its_ids_with_every_alert(store: Store) -> None:
    body = notification("db", [alert("f1"), alert("f2")])
    await store.record_delivery("alertmanager", "d1", body, NOW)
    key = body["groupKey"]
    group = await store.alert_group(group_id_of(key))
    assert group is not None and group.group_key == key
    assert [a.fingerprint for a in group.alerts] == ["f1", "f2"]
    assert (group.version, group.synced_version, group.first_seen) == (1, 0, NOW)
    assert group.group_labels == {"alertname": "HighErrorRate", "group": "db"}
    assert group.external_url == "http://alertmanager.example:9093"
    by_dedup = await store.alert_group_by_dedup(dedup_hash_of(key))
    assert by_dedup is not None and by_dedup.group_id == group.group_id
    assert await store.alert_group("nope") is None
    assert await store.alert_group_by_dedup("nope") is None


async def test_a_sync_is_recorded_once_and_a_change_makes_the_group_dirty_again(
    store: Store,
) -> None:
    await store.record_delivery("alertmanager", "d1", notification("db", [alert("f1")]), NOW)
    group = await only_dirty(store)
    assert await sync(store, group, items=[post()], channel="C1")
    assert not await sync(store, group, items=[post()], channel="C1")  # already recorded
    assert await store.dirty_alert_groups() == []
    assert await store.channel_backlog("C1") == 1  # the first sync's post only

    later = NOW + timedelta(minutes=1)
    resolved = notification("db", [alert("f1", status="resolved")])
    await store.record_delivery("alertmanager", "d2", resolved, later)
    group = await only_dirty(store)
    assert (group.version, group.synced_version, group.status) == (2, 1, "resolved")
    assert group.channel == "C1" and group.last_seen == later and group.first_seen == NOW
    assert [a.fingerprint for a in group.changed or ()] == ["f1"]
    assert group.posted_state == {"f1": "firing"}  # what the thread showed of it
    assert group.summary is not None and (group.summary.firing, group.summary.resolved) == (0, 1)


async def test_a_late_retry_does_not_refire_a_resolved_alert(store: Store) -> None:
    await store.record_delivery("alertmanager", "d1", notification("db", [alert("f1")]), NOW)
    resolved = notification("db", [alert("f1", status="resolved")])
    await store.record_delivery("alertmanager", "d2", resolved, NOW)
    await store.record_delivery("alertmanager", "d3", notification("db", [alert("f1")]), NOW)
    group = await only_dirty(store)
    assert [a.status for a in group.alerts] == ["resolved"] and group.status == "resolved"
    refire = notification("db", [alert("f1", starts_at="2026-03-01T03:00:00Z")])
    await store.record_delivery("alertmanager", "d4", refire, NOW)
    group = await only_dirty(store)
    assert [a.status for a in group.alerts] == ["firing"] and group.status == "firing"
    assert group.summary is not None and (group.summary.firing, group.summary.resolved) == (1, 0)


async def test_truncated_alerts_keep_a_group_firing(store: Store) -> None:
    body = notification("db", [alert("f1", status="resolved")])
    body["truncatedAlerts"] = 3
    await store.record_delivery("alertmanager", "d1", body, NOW)
    group = await only_dirty(store)
    assert (group.status, group.truncated_alerts) == ("firing", 3)


async def test_dirty_groups_come_oldest_first(store: Store) -> None:
    # Arrival order, not the senders' clocks: the second group's delivery says it is older.
    for n, at in enumerate([NOW, NOW - timedelta(hours=1), NOW + timedelta(hours=1)]):
        body = notification(f"g{n}", [alert(f"f{n}")])
        await store.record_delivery("alertmanager", f"d{n}", body, at)
    groups = await store.dirty_alert_groups()
    assert [g.alerts[0].fingerprint for g in groups] == ["f0", "f1", "f2"]
    assert [g.alerts[0].fingerprint for g in await store.dirty_alert_groups(limit=2)] == [
        "f0",
        "f1",
    ]
    # A newer delivery to the first group keeps its place.
    await store.record_delivery("alertmanager", "d9", notification("g0", [alert("x")]), NOW)
    assert (await store.dirty_alert_groups())[0].group_key == groups[0].group_key


async def test_an_acknowledgement_redraws_the_group(store: Store) -> None:
    body = notification("db", [alert("f1")])
    await store.record_delivery("alertmanager", "d1", body, NOW)
    assert await sync(store, await only_dirty(store))
    await store.update_alert_group(body["groupKey"], acked_by="<@U1>", incident_id=7)
    group = await only_dirty(store)
    assert (group.acked_by, group.incident_id, group.version) == ("<@U1>", 7, 2)
    await store.update_alert_group(body["groupKey"], pd_incident_id="PD1")
    group = await only_dirty(store)
    assert (group.pd_incident_id, group.version) == ("PD1", 3)
    with pytest.raises(ValueError, match="cannot change status"):
        await store.update_alert_group(body["groupKey"], status="resolved")


async def test_the_open_digest_is_the_channels_latest_for_thirty_minutes(store: Store) -> None:
    for n, at in enumerate([NOW, NOW + timedelta(minutes=5)]):
        await store.record_delivery("alertmanager", f"d{n}", notification(f"g{n}", []), at)
    first, second = await store.dirty_alert_groups()
    assert await store.open_digest("C1", NOW) is None
    assert await sync(store, first, channel="C1", digest_key="digest:old")
    assert await sync(store, second, channel="C1", digest_key="digest:new")
    assert await store.open_digest("C1", NOW + timedelta(minutes=10)) == "digest:new"
    assert await store.open_digest("C1", NOW + timedelta(minutes=36)) is None
    assert await store.open_digest("C2", NOW) is None


async def test_the_backlog_counts_unsent_posts_of_the_channel(store: Store) -> None:
    update = NewOutboxItem("chat.update", "C1", {"text": "x"}, message_key="alertgroup:x")
    ids = await store.enqueue([post(), post(), update, post("C2")])
    assert await store.channel_backlog("C1") == 2
    await store.mark_sent(ids[0], {"ok": True}, None)
    assert await store.channel_backlog("C1") == 1
    assert await store.channel_backlog("C3") == 0


# replicas --------------------------------------------------------------------------------


async def test_replicas_given_the_same_delivery_store_it_once(
    replicas: list[PostgresStore],
) -> None:
    for n in range(5):
        body = notification(f"g{n}", [alert(f"f{i}") for i in range(20)])
        outcomes = await asyncio.gather(
            *(r.record_delivery("alertmanager", f"d{n}", body, NOW) for r in replicas)
        )
        assert sorted(outcomes) == [False, False, True]
    _, total = await replicas[0].list_alerts()
    assert total == 100
    groups = await replicas[1].dirty_alert_groups()
    assert len(groups) == 5 and all(g.version == 1 for g in groups)
    assert all(g.summary is not None and g.summary.firing == 20 for g in groups)


async def test_deliveries_to_one_group_on_several_replicas_keep_every_alert(
    replicas: list[PostgresStore],
) -> None:
    async def deliver(n: int) -> bool:
        fingerprints = [f"f{n}-{i}" for i in range(5)]
        # Every delivery resolves the previous one's first alert, too.
        alerts = [alert(fp) for fp in fingerprints]
        if n:
            alerts.append(alert(f"f{n - 1}-0", status="resolved"))
        body = notification("storm", alerts)
        return await replicas[n % 3].record_delivery("alertmanager", f"d{n}", body, NOW)

    assert all(await asyncio.gather(*(deliver(n) for n in range(12))))
    group = await only_dirty(replicas[0])
    assert group.version == 12
    _, total = await replicas[1].list_alerts()
    _, resolved = await replicas[1].list_alerts(status="resolved")
    assert (total, resolved) == (60, 11)
    assert group.summary is not None
    assert (group.summary.firing, group.summary.resolved) == (49, 11)


async def test_replicas_completing_the_same_sync_record_it_once(
    replicas: list[PostgresStore],
) -> None:
    for n in range(4):
        body = notification(f"g{n}", [alert("f1")])
        await replicas[0].record_delivery("alertmanager", f"d{n}", body, NOW)
    for group in await replicas[0].dirty_alert_groups():
        outcomes = await asyncio.gather(
            *(sync(r, group, items=[post("C1", group.group_id)], channel="C1") for r in replicas)
        )
        assert sorted(outcomes) == [False, False, True]
    assert await replicas[2].channel_backlog("C1") == 4  # one post per group
    assert await replicas[1].dirty_alert_groups() == []


async def test_a_delivery_racing_a_sync_leaves_the_group_dirty(
    replicas: list[PostgresStore],
) -> None:
    await replicas[0].record_delivery("alertmanager", "d0", notification("g", [alert("f0")]), NOW)
    group = await only_dirty(replicas[0])
    change = notification("g", [alert("f0", status="resolved")])
    synced, stored = await asyncio.gather(
        sync(replicas[1], group), replicas[2].record_delivery("alertmanager", "d1", change, NOW)
    )
    assert synced and stored
    after = await only_dirty(replicas[0])
    assert (after.version, after.synced_version) == (2, 1)
    assert [a.fingerprint for a in after.changed or ()] == ["f0"]


# group commit ----------------------------------------------------------------------------


async def test_a_failing_delivery_does_not_undo_the_deliveries_beside_it(store: Store) -> None:
    good = [
        store.record_delivery("alertmanager", f"d{n}", notification(f"g{n}", [alert("f")]), NOW)
        for n in range(20)
    ]
    bad = store.record_delivery("alertmanager", "bad", {"alerts": []}, NOW)  # no groupKey
    outcomes = await asyncio.gather(*good, bad, return_exceptions=True)
    assert outcomes[:20] == [True] * 20
    assert isinstance(outcomes[20], KeyError)
    _, total = await store.list_alerts()
    assert total == 20
    # Nothing of it was kept: its retry is not taken for a duplicate.
    with pytest.raises(KeyError):
        await store.record_delivery("alertmanager", "bad", {"alerts": []}, NOW)


async def test_concurrent_deliveries_share_commits_and_each_is_answered(
    replicas: list[PostgresStore],
) -> None:
    store = replicas[0]
    before = store.write_batches
    bodies = [(f"d{n}", notification(f"g{n % 7}", [alert(f"f{n}")])) for n in range(200)]
    outcomes = await asyncio.gather(
        *(store.record_delivery("alertmanager", d, body, NOW) for d, body in bodies)
    )
    assert outcomes == [True] * 200
    assert store.write_batches - before < 50
    # Answered after the commit: every delivery is already there for another replica.
    _, total = await replicas[1].list_alerts()
    assert total == 200
    again = await asyncio.gather(
        *(r.record_delivery("alertmanager", d, body, NOW) for d, body in bodies for r in replicas)
    )
    assert not any(again)
    groups = await replicas[2].dirty_alert_groups()
    assert sorted(g.summary.firing for g in groups if g.summary) == sorted(
        len(range(n, 200, 7)) for n in range(7)
    )


async def test_a_batch_held_up_by_another_replica_does_not_hold_up_the_rest(
    replicas: list[PostgresStore],
) -> None:
    """A batch waits on a group another replica's transaction holds; deliveries to other
    groups arriving meanwhile are committed by another writer, not left behind it."""
    held = notification("held", [alert("f")])
    conn = await asyncpg.connect(replicas[1].dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", GROUP_LOCKS, held["groupKey"]
        )
        stuck = asyncio.create_task(replicas[0].record_delivery("alertmanager", "h", held, NOW))
        await asyncio.sleep(0.2)
        others = [notification(f"free{n}", [alert("f")]) for n in range(10)]
        async with asyncio.timeout(5):
            outcomes = await asyncio.gather(
                *(
                    replicas[0].record_delivery("alertmanager", f"o{n}", b, NOW)
                    for n, b in enumerate(others)
                )
            )
        assert outcomes == [True] * 10 and not stuck.done()
        await tx.rollback()
    finally:
        await conn.close()
    async with asyncio.timeout(5):
        assert await stuck


async def test_deliveries_to_an_unavailable_store_are_refused_not_left_waiting(
    replicas: list[PostgresStore],
) -> None:
    closed = PostgresStore(replicas[0].dsn)  # never opened
    body = notification("g", [alert("f")])
    async with asyncio.timeout(10):
        for _ in range(2):
            outcomes = await asyncio.gather(
                *(closed.record_delivery("alertmanager", f"d{n}", body, NOW) for n in range(5)),
                return_exceptions=True,
            )
            assert all(isinstance(o, StoreUnavailable) for o in outcomes)


async def test_a_delivery_with_nul_characters_is_stored_not_refused(store: Store) -> None:
    """Alertmanager passes label values through as they come; PostgreSQL's text cannot hold
    U+0000, so such a delivery must still be stored (without it) rather than fail."""
    body = notification(
        "g\x00nul", [alert("a\x00b", pod="records-\x00service")], alertname="Nul\x00Alert"
    )
    assert await store.record_delivery("alertmanager", "nul-1", body, NOW)
    [group] = await store.dirty_alert_groups()
    assert "Nul" in group.group_key and "nul" in group.group_key
    stored, total = await store.list_alerts()
    assert total == 1 and "records-" in str(stored[0])


async def test_deliveries_committed_together_end_as_they_would_one_by_one(store: Store) -> None:
    """One batch holding a group's whole story (growth, a resolution, a late retry, a repeat
    of a delivery, a body listing an alert twice) ends as the same deliveries sent in turn."""
    late = "2026-03-01T02:05:00Z"
    story = [
        ("d1", notification("g1", [alert("f1"), alert("f2")])),
        ("d2", notification("g1", [alert("f1", status="resolved"), alert("f3")])),
        ("d3", notification("g1", [alert("f1")])),  # a late retry of d1: f1 stays resolved
        ("d1", notification("g1", [alert("f1"), alert("f2")])),  # Alertmanager's retry
        ("d4", notification("g1", [alert("f2", status="resolved"), alert("f4", starts_at=late)])),
        ("d5", notification("g2", [alert("f1", severity="critical"), alert("f1")])),
        *((f"x{n}", notification(f"other{n}", [alert("f")])) for n in range(20)),
    ]
    outcomes = await asyncio.gather(
        *(store.record_delivery("alertmanager", d, body, NOW) for d, body in story)
    )
    assert outcomes == [True, True, True, False, True, True] + [True] * 20
    g1 = await store.alert_group_by_dedup(dedup_hash_of(story[0][1]["groupKey"]))
    assert g1 is not None and g1.summary is not None
    assert {a.fingerprint: a.status for a in g1.alerts} == {
        "f1": "resolved",
        "f2": "resolved",
        "f3": "firing",
        "f4": "firing",
    }
    assert (g1.summary.firing, g1.summary.resolved, g1.version) == (2, 2, 4)
    assert g1.status == "firing"
    g2 = await store.alert_group_by_dedup(dedup_hash_of(story[5][1]["groupKey"]))
    assert g2 is not None and g2.summary is not None
    assert [a.fingerprint for a in g2.alerts] == ["f1"]
    assert (g2.summary.firing, g2.summary.resolved) == (1, 0)
    _, total = await store.list_alerts()
    assert total == 4 + 1 + 20
    if isinstance(store, PostgresStore):  # and not by falling back to one at a time
        assert store.batches_rewritten == 0
