"""The store contract, incidents: what is declared reads back as declared, changes stick,
and every timeline is one unbroken hash chain, however many replicas append to it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.domain.incident import NewIncident, Severity, Status
from bot.domain.timeline import GENESIS, EventKind, NewEvent, verify_chain
from bot.store.base import Store
from bot.store.postgres import PostgresStore
from tests.harness.postgres import ThrowawayPostgres
from tests.store.replicas import replicas

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def declared(title: str = "Records down", severity: Severity = Severity.P1) -> NewIncident:
    return NewIncident(title, severity, "U1", NOW, ("records", "export"), "export is failing")


def said(text: str, at: datetime = NOW, **data: object) -> NewEvent:
    return NewEvent(EventKind.MESSAGE, "U2", text, at, data)


async def test_a_declared_incident_reads_back_with_its_first_event(store: Store) -> None:
    incident = await store.create_incident(declared())
    assert (incident.title, incident.severity, incident.status) == (
        "Records down",
        Severity.P1,
        Status.INVESTIGATING,
    )
    assert incident.declared_at == NOW and incident.declared_by == "U1"
    assert incident.commander == "U1" and incident.roles == {"commander": "U1"}
    assert incident.services == ("records", "export")
    assert incident.description == "export is failing" and incident.summary == ""
    assert incident.channel_id is None and incident.resolved_at is None
    assert await store.get_incident(incident.id) == incident
    [first] = await store.timeline(incident.id)
    assert (first.seq, first.kind, first.prev_hash) == (1, EventKind.DECLARED, GENESIS)
    assert first.text == "P1 incident declared: Records down"
    assert first.data == {"severity": "P1", "services": ["records", "export"], "commander": "U1"}
    assert first.key and first.public


async def test_a_commander_named_at_declaration_leads_it(store: Store) -> None:
    new = NewIncident("Records down", Severity.P1, "api", NOW, commander="dana")
    incident = await store.create_incident(new)
    assert (incident.declared_by, incident.commander) == ("api", "dana")
    assert incident.roles == {"commander": "dana"}
    [first] = await store.timeline(incident.id)
    assert (first.actor, first.data["commander"]) == ("api", "dana")


async def test_missing_incidents_read_as_none(store: Store) -> None:
    assert await store.get_incident(404) is None
    assert await store.incident_by_channel("C404") is None
    assert await store.list_incidents() == []


async def test_incidents_list_newest_first_and_open_only_leaves_out_the_finished(
    store: Store,
) -> None:
    ids = [(await store.create_incident(declared(f"incident {n}"))).id for n in range(4)]
    await store.update_incident(ids[0], status=Status.RESOLVED)
    await store.update_incident(ids[1], status=Status.CLOSED)
    assert [i.id for i in await store.list_incidents()] == ids[::-1]
    assert [i.id for i in await store.list_incidents(limit=2)] == ids[:1:-1]
    assert [i.id for i in await store.list_incidents(open_only=True)] == [ids[3], ids[2]]


async def test_changes_stick_and_unknown_fields_are_refused(store: Store) -> None:
    incident = await store.create_incident(declared())
    resolved_at = datetime(2026, 3, 1, 5, 30, tzinfo=timezone(timedelta(hours=2)))
    changed = await store.update_incident(
        incident.id,
        severity=Severity.P0,
        status=Status.RESOLVED,
        resolved_at=resolved_at,
        summary="rolled back",
        services=["records"],
        roles={"commander": "U3", "scribe": "U4"},
        commander="U3",
        channel_id="C_WAR",
        channel_name="inc-1-records-down",
    )
    assert (changed.severity, changed.status, changed.summary) == (
        Severity.P0,
        Status.RESOLVED,
        "rolled back",
    )
    assert changed.resolved_at == resolved_at and changed.resolved_at.tzinfo == UTC
    assert changed.services == ("records",)
    assert changed.roles == {"commander": "U3", "scribe": "U4"} and changed.commander == "U3"
    assert await store.get_incident(incident.id) == changed
    assert await store.incident_by_channel("C_WAR") == changed
    cleared = await store.update_incident(incident.id, resolved_at=None, status=Status.MONITORING)
    assert cleared.resolved_at is None and cleared.status == Status.MONITORING
    with pytest.raises(ValueError, match="declared_by"):
        await store.update_incident(incident.id, declared_by="U9")
    with pytest.raises(Exception):  # noqa: B017 - each backend names it its own way
        await store.update_incident(404, title="nope")


async def test_appended_events_chain_onto_the_last_and_read_back_in_utc(store: Store) -> None:
    incident = await store.create_incident(declared())
    local = datetime(2026, 3, 1, 4, 15, 30, 250000, tzinfo=timezone(timedelta(hours=2)))
    first = await store.append_event(
        incident.id,
        NewEvent(EventKind.STATUS_UPDATE, "U1", "restarted", local, {"n": 1}, key=True),
    )
    second = await store.append_event(incident.id, said("back to normal", when=NOW))
    assert (first.seq, second.seq) == (2, 3)
    assert first.at == local and first.at.tzinfo == UTC
    assert first.key and not first.public and first.data == {"n": 1}
    assert second.data == {"when": str(NOW)}  # as text, the way it was hashed
    assert second.prev_hash == first.hash
    events = await store.timeline(incident.id)
    assert events[1:] == [first, second]
    assert verify_chain(events) == []
    # Another incident's timeline is its own chain.
    other = await store.create_incident(declared("Other"))
    [only] = await store.timeline(other.id)
    assert only.seq == 1 and only.prev_hash == GENESIS


async def test_an_event_recorded_once_per_key(store: Store) -> None:
    incident = await store.create_incident(declared())
    event = said("hello", ts="1700000000.000100")
    recorded = await store.append_event_once(incident.id, event, "slack:Ev1")
    assert recorded is not None and recorded.seq == 2
    assert await store.append_event_once(incident.id, event, "slack:Ev1") is None
    assert await store.append_event_once(incident.id, event, "slack:Ev2") is not None
    assert [e.seq for e in await store.timeline(incident.id)] == [1, 2, 3]


async def test_the_latest_event_with_a_data_value_is_found(store: Store) -> None:
    incident = await store.create_incident(declared())
    other = await store.create_incident(declared("Other"))
    await store.append_event(incident.id, said("first", ts="1.1"))
    latest = await store.append_event(incident.id, said("edited", ts="1.1"))
    await store.append_event(incident.id, said("a number", ts=5, nested={"ts": "2.2"}))
    await store.append_event(other.id, said("elsewhere", ts="3.3"))
    assert await store.find_event(incident.id, "ts", "1.1") == latest
    assert await store.find_event(incident.id, "ts", "3.3") is None
    # Only a JSON string equals the text, as SQLite's json_extract compares.
    assert await store.find_event(incident.id, "ts", "5") is None
    # A dotted key walks into nested objects.
    found = await store.find_event(incident.id, "nested.ts", "2.2")
    assert found is not None and found.text == "a number"


async def test_an_event_holding_a_nul_in_its_data_is_stored_and_found(store: Store) -> None:
    incident = await store.create_incident(declared())
    event = await store.append_event(incident.id, said("pasted", ts="9.9", paste="a\x00b"))
    assert event.data["paste"] == "a\x00b"
    assert await store.find_event(incident.id, "ts", "9.9") == event


async def test_replicas_appending_at_once_keep_one_unbroken_chain(
    postgres: ThrowawayPostgres,
) -> None:
    async with replicas(postgres) as (a, b):
        incident = await a.create_incident(declared())

        async def append_20(store: PostgresStore, name: str) -> None:
            for n in range(20):
                await store.append_event(incident.id, said(f"{name} {n}"))

        await asyncio.gather(append_20(a, "a"), append_20(b, "b"))
        events = await b.timeline(incident.id)
        assert [e.seq for e in events] == list(range(1, 42))
        assert verify_chain(events) == []
        texts = [e.text for e in events[1:]]
        # Each replica's own events stay in the order it appended them.
        assert [t for t in texts if t.startswith("a ")] == [f"a {n}" for n in range(20)]
        assert [t for t in texts if t.startswith("b ")] == [f"b {n}" for n in range(20)]


async def test_replicas_given_the_same_slack_retry_record_it_once(
    postgres: ThrowawayPostgres,
) -> None:
    async with replicas(postgres) as (a, b):
        incident = await a.create_incident(declared())
        for n in range(10):
            event = said(f"message {n}")
            results = await asyncio.gather(
                a.append_event_once(incident.id, event, f"slack:Ev{n}"),
                b.append_event_once(incident.id, event, f"slack:Ev{n}"),
            )
            assert sum(r is not None for r in results) == 1
        events = await a.timeline(incident.id)
        assert [e.text for e in events[1:]] == [f"message {n}" for n in range(10)]
        assert verify_chain(events) == []


async def test_a_title_pasted_with_a_nul_is_still_declared_and_chained(store: Store) -> None:
    """PostgreSQL's text cannot hold the character: it is dropped there, kept by SQLite."""
    incident = await store.create_incident(declared("Exports\x00 delayed"))
    assert incident.title.replace("\x00", "") == "Exports delayed"
    changed = await store.update_incident(incident.id, summary="fix\x00ed")
    assert changed.summary.replace("\x00", "") == "fixed"
    event = await store.append_event(incident.id, said("fix\x00ed"))
    assert event.text.replace("\x00", "") == "fixed"
    assert await store.append_event_once(incident.id, said("once"), "slack:\x00") is not None
    assert verify_chain(await store.timeline(incident.id)) == []
