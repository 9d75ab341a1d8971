"""The store contract, the status page: an incident is published only with an opening a
person chose, its public updates read back newest first, and maintenances and the page's
version read alike on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.incident import NewIncident, Severity
from bot.domain.publication import ComponentStatus, NewMaintenance, Opening, PublicStatus
from bot.store.base import Store

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
OPENING = Opening("pub-abc123", "Exports are delayed", ComponentStatus.PARTIAL_OUTAGE, ("export",))


async def declared(store: Store) -> int:
    new = NewIncident("Root cause: pool exhaustion", Severity.P1, "U1", NOW, ("export",))
    return (await store.create_incident(new)).id


async def test_an_incident_is_not_published_without_an_opening(store: Store) -> None:
    incident_id = await declared(store)
    before = await store.status_page_version()

    assert await store.publish(incident_id, PublicStatus.INVESTIGATING, "x", NOW) is None

    assert await store.published_incident(incident_id) is None
    assert await store.public_incidents(NOW - timedelta(days=90)) == []
    assert await store.status_page_version() == before


async def test_published_updates_read_back_newest_first_under_the_public_title(
    store: Store,
) -> None:
    incident_id = await declared(store)
    first = await store.publish(
        incident_id, PublicStatus.INVESTIGATING, "We are looking into it.", NOW, OPENING
    )
    assert first is not None
    version = await store.status_page_version()
    later = NOW + timedelta(minutes=5)
    second = await store.publish(incident_id, PublicStatus.MONITORING, "A fix is out.", later)

    assert second is not None
    assert (second.public_id, second.title, second.impact, second.components) == (
        "pub-abc123",
        "Exports are delayed",
        ComponentStatus.PARTIAL_OUTAGE,
        ("export",),
    )
    assert (second.status, second.created_at, second.updated_at) == (
        PublicStatus.MONITORING,
        NOW,
        later,
    )
    assert [u.body for u in second.updates] == ["A fix is out.", "We are looking into it."]
    assert await store.public_incident("pub-abc123") == second
    assert await store.published_incident(incident_id) == second
    assert await store.public_incident("pub-nope") is None
    assert await store.status_page_version() != version


async def test_resolution_is_recorded_and_old_resolved_incidents_drop_out(store: Store) -> None:
    incident_id = await declared(store)
    await store.publish(incident_id, PublicStatus.INVESTIGATING, "Looking.", NOW, OPENING)
    resolved_at = NOW + timedelta(hours=1)
    changed = Opening("ignored", "Exports were delayed", ComponentStatus.MAJOR_OUTAGE, ())

    done = await store.publish(incident_id, PublicStatus.RESOLVED, "Fixed.", resolved_at, changed)

    assert done is not None and not done.is_open
    assert done.resolved_at == resolved_at
    assert (done.public_id, done.title, done.impact) == (
        "pub-abc123",
        "Exports were delayed",
        ComponentStatus.MAJOR_OUTAGE,
    )
    assert [i.public_id for i in await store.public_incidents(NOW)] == ["pub-abc123"]
    assert await store.public_incidents(NOW + timedelta(days=1)) == []


async def test_maintenances_read_back_until_they_end(store: Store) -> None:
    before = await store.status_page_version()
    window = NewMaintenance(
        "mnt-1",
        "Database upgrade",
        "Saving may pause.",
        ("records", "export"),
        NOW + timedelta(hours=1),
        NOW + timedelta(hours=2),
        "U1",
    )
    made = await store.add_maintenance(window, NOW)

    assert (made.title, made.components, made.starts_at, made.ends_at) == (
        "Database upgrade",
        ("records", "export"),
        window.starts_at,
        window.ends_at,
    )
    assert made.state(NOW) == "scheduled"
    assert made.state(NOW + timedelta(minutes=90)) == "in_progress"
    assert await store.maintenances(NOW) == [made]
    assert await store.maintenances(NOW + timedelta(hours=3)) == []
    assert await store.status_page_version() != before
