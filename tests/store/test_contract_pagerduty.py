"""The store contract, PagerDuty: webhook events make one incident row each, dirty until its
Slack thread is synced, and a sync completes once however many replicas try."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.store.base import Store
from bot.store.postgres import PostgresStore
from bot.store.records import NewOutboxItem, PagerDutyIncident
from tests.fakes.pagerduty_api import webhook
from tests.harness.postgres import ThrowawayPostgres
from tests.store.conftest import drop_database, fresh_database

NOW = datetime(2020, 10, 2, 19, 0, tzinfo=UTC)


def event(
    event_type: str, *, event_id: str | None = None, incident: str | None = None, **changes: Any
) -> dict[str, Any]:
    """A delivery's event from PagerDuty's documented v3 webhooks, with `changes` made to it
    (`incident` names the incident it is about, in full or as a reference)."""
    body: dict[str, Any] = copy.deepcopy(webhook(event_type)["event"])
    if event_id is not None:
        body["id"] = event_id
    if incident is not None:
        about = body["data"] if body["data"].get("type") == "incident" else body["data"]["incident"]
        about["id"] = incident
    body.update(changes)
    return body


async def deliver(store: Store, pd_event: dict[str, Any]) -> None:
    """As the webhook handler stores an event: a delivery named by the event's id."""
    await store.record_delivery("pagerduty", pd_event["id"], {"event": pd_event}, NOW)


async def complete(store: Store, incident: PagerDutyIncident, text: str = "synced") -> bool:
    return await store.complete_pagerduty_sync(
        incident,
        items=[NewOutboxItem(method="chat.postMessage", channel="C1", args={"text": text})],
        channel="C1",
        thread_key=f"pd:{incident.id}",
        link_group=None,
    )


async def test_a_triggered_incident_is_one_dirty_row_until_synced(store: Store) -> None:
    await deliver(store, event("incident.triggered"))
    [dirty] = await store.dirty_pagerduty_incidents()
    assert (dirty.id, dirty.number, dirty.title) == ("PGR0VU2", 2, "A little bump in the road")
    assert (dirty.status, dirty.urgency, dirty.service) == ("triggered", "high", "API Service")
    assert dirty.html_url == "https://acme.pagerduty.com/incidents/PGR0VU2"
    assert dirty.incident_key == "d3640fbd41094207a1c11e58e46b1662"
    assert (dirty.assignees, dirty.priority) == (("User 123",), "P1")
    assert (dirty.version, dirty.synced_version, dirty.posted_status) == (1, 0, None)
    [pending] = dirty.pending_events
    assert (pending.event_type, pending.agent) == ("incident.triggered", "API Service")
    assert pending.occurred_at == datetime(2020, 10, 2, 18, 30, 22, 169000, tzinfo=UTC)
    assert pending.data["title"] == "A little bump in the road"

    assert await complete(store, dirty)
    assert await store.dirty_pagerduty_incidents() == []
    synced = await store.pagerduty_incident("PGR0VU2")
    assert synced is not None and synced.pending_events == ()
    assert (synced.synced_version, synced.posted_status) == (1, "triggered")
    assert (synced.channel, synced.thread_key) == ("C1", "pd:PGR0VU2")
    [head] = await store.outbox_heads()
    assert head.args == {"text": "synced"}


async def test_a_sync_of_a_version_already_synced_changes_nothing(store: Store) -> None:
    await deliver(store, event("incident.triggered"))
    [dirty] = await store.dirty_pagerduty_incidents()
    assert await complete(store, dirty, "first")
    assert not await complete(store, dirty, "again")
    assert [h.args["text"] for h in await store.outbox_heads()] == ["first"]
    # Newer news makes it dirty again, with only the events not yet shown.
    await deliver(store, event("incident.acknowledged"))
    [again] = await store.dirty_pagerduty_incidents()
    assert (again.version, again.synced_version, again.status) == (2, 1, "acknowledged")
    assert [e.event_type for e in again.pending_events] == ["incident.acknowledged"]


async def test_an_event_delivered_late_never_rolls_the_state_back(store: Store) -> None:
    await deliver(store, event("incident.acknowledged"))
    await deliver(store, event("incident.triggered"))
    found = await store.pagerduty_incident("PGR0VU2")
    assert found is not None and found.status == "acknowledged"
    assert found.version == 2
    # The thread still hears both, in the order they happened.
    assert [e.event_type for e in found.pending_events] == [
        "incident.triggered",
        "incident.acknowledged",
    ]


async def test_an_event_redelivered_is_kept_once(store: Store) -> None:
    triggered = event("incident.triggered")
    await deliver(store, triggered)
    await deliver(store, triggered)
    found = await store.pagerduty_incident("PGR0VU2")
    assert found is not None and len(found.pending_events) == 1


async def test_an_incident_first_known_by_reference_is_filled_in_by_any_full_event(
    store: Store,
) -> None:
    await deliver(store, event("incident.annotated"))
    known = await store.pagerduty_incident("PGR0VU2")
    assert known is not None
    assert (known.title, known.status, known.version) == ("A little bump in the road", "", 1)
    # Older than the note, the triggered event still says what the incident is.
    await deliver(store, event("incident.triggered"))
    filled = await store.pagerduty_incident("PGR0VU2")
    assert filled is not None and (filled.status, filled.number, filled.version) == (
        "triggered",
        2,
        2,
    )
    assert [e.event_type for e in filled.pending_events] == [
        "incident.triggered",
        "incident.annotated",
    ]


async def test_dirty_incidents_come_in_arrival_order_up_to_the_limit(store: Store) -> None:
    for n, incident in enumerate(["PZZZ", "PAAA", "PMMM"]):
        await deliver(store, event("incident.triggered", event_id=f"e{n}", incident=incident))
    assert [i.id for i in await store.dirty_pagerduty_incidents()] == ["PZZZ", "PAAA", "PMMM"]
    assert [i.id for i in await store.dirty_pagerduty_incidents(limit=2)] == ["PZZZ", "PAAA"]
    assert await store.pagerduty_incident("PNONE") is None


async def test_an_event_about_no_incident_stores_nothing(store: Store) -> None:
    await deliver(store, {**event("incident.triggered"), "data": {"type": "service"}})
    assert await store.dirty_pagerduty_incidents() == []


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


async def test_replicas_completing_one_sync_post_it_once(replicas: list[PostgresStore]) -> None:
    a, b = replicas
    for round_ in range(5):
        await deliver(a, event("incident.triggered", event_id=f"e{round_}", incident=f"P{round_}"))
        dirty = await a.pagerduty_incident(f"P{round_}")
        assert dirty is not None
        won = await asyncio.gather(complete(a, dirty, "from a"), complete(b, dirty, "from b"))
        assert sorted(won) == [False, True]
    assert len(await a.outbox_heads()) == 1
    stats = await b.outbox_stats(NOW.timestamp())
    assert stats.depth == 5  # one post per sync, from whichever replica won


async def test_replicas_storing_an_incidents_first_events_at_once_make_one_row(
    replicas: list[PostgresStore],
) -> None:
    a, b = replicas
    for round_ in range(5):
        incident = f"P{round_}"
        await asyncio.gather(
            deliver(a, event("incident.triggered", event_id=f"t{round_}", incident=incident)),
            deliver(b, event("incident.acknowledged", event_id=f"a{round_}", incident=incident)),
        )
        found = await b.pagerduty_incident(incident)
        assert found is not None and found.version == 2 and found.status == "acknowledged"
        assert [e.id for e in found.pending_events] == [f"t{round_}", f"a{round_}"]
    assert len(await a.dirty_pagerduty_incidents()) == 5
