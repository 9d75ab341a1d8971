"""The timeline's hash chain: an intact timeline verifies, and any edit, deletion, reordering
or splice is reported at the event where the chain breaks."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.timeline import (
    GENESIS,
    EventKind,
    NewEvent,
    TimelineEvent,
    event_hash,
    verify_chain,
)
from tests.domain.chain import chain

T0 = datetime(2026, 2, 3, 9, 30, tzinfo=UTC)


def incident_timeline() -> list[TimelineEvent]:
    return chain(
        7,
        NewEvent(
            EventKind.DECLARED,
            "U_ALICE",
            "P1 incident declared: Checkout 500s",
            T0,
            {"severity": "P1", "services": ["checkout"]},
            key=True,
            public=True,
        ),
        NewEvent(
            EventKind.MESSAGE, "U_BOB", "looking at the checkout pods", T0 + timedelta(minutes=2)
        ),
        NewEvent(
            EventKind.STATUS_UPDATE,
            "U_ALICE",
            "Root cause: bad deploy",
            T0 + timedelta(minutes=20),
            {"status": "identified"},
            key=True,
            public=True,
        ),
        NewEvent(
            EventKind.ACTION,
            "U_BOB",
            "rolled back checkout to revision 41",
            T0 + timedelta(minutes=25),
            {"succeeded": True},
            key=True,
        ),
        NewEvent(
            EventKind.RESOLVED,
            "U_ALICE",
            "rolled back",
            T0 + timedelta(minutes=40),
            key=True,
            public=True,
        ),
    )


def reasons(events: list[TimelineEvent]) -> list[tuple[int, str]]:
    return [(p.seq, p.reason) for p in verify_chain(events)]


def test_a_timeline_recorded_event_by_event_verifies() -> None:
    assert verify_chain(incident_timeline()) == []


def test_an_empty_timeline_verifies() -> None:
    assert verify_chain([]) == []


def test_the_hash_is_a_sha256_hex_digest_that_does_not_change_between_calls() -> None:
    event = NewEvent(EventKind.NOTE, "U_ALICE", "note", T0, {"n": 1})
    digest = event_hash(GENESIS, 1, 1, event)
    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")
    assert event_hash(GENESIS, 1, 1, event) == digest


def test_the_hash_ignores_the_order_data_keys_were_written_in() -> None:
    first = NewEvent(EventKind.NOTE, "U_ALICE", "note", T0, {"a": 1, "b": 2})
    second = NewEvent(EventKind.NOTE, "U_ALICE", "note", T0, {"b": 2, "a": 1})
    assert event_hash(GENESIS, 1, 1, first) == event_hash(GENESIS, 1, 1, second)


BASE = NewEvent(EventKind.MESSAGE, "U_BOB", "looking", T0, {"ts": "1.2"}, key=False, public=False)
CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("kind", {"kind": EventKind.NOTE}),
    ("actor", {"actor": "U_MALLORY"}),
    ("text", {"text": "looking!"}),
    ("at", {"at": T0 + timedelta(seconds=1)}),
    ("data", {"data": {"ts": "1.3"}}),
    ("key", {"key": True}),
    ("public", {"public": True}),
]


@pytest.mark.parametrize(("field", "change"), CHANGES, ids=[name for name, _ in CHANGES])
def test_every_field_of_an_event_is_covered_by_its_hash(field: str, change: dict[str, Any]) -> None:
    changed = dataclasses.replace(BASE, **change)
    assert event_hash(GENESIS, 7, 2, changed) != event_hash(GENESIS, 7, 2, BASE), field


def test_the_hash_depends_on_the_predecessor_the_incident_and_the_position() -> None:
    digest = event_hash(GENESIS, 7, 2, BASE)
    assert event_hash("1" * 64, 7, 2, BASE) != digest
    assert event_hash(GENESIS, 8, 2, BASE) != digest
    assert event_hash(GENESIS, 7, 3, BASE) != digest


def test_editing_an_event_after_the_fact_is_detected_at_that_event() -> None:
    events = incident_timeline()
    events[2] = dataclasses.replace(events[2], text="Root cause: a cosmic ray")
    assert reasons(events) == [(3, "content does not match its hash (edited?)")]


def test_editing_the_data_or_the_time_of_an_event_is_detected() -> None:
    events = incident_timeline()
    events[3] = dataclasses.replace(events[3], data={"succeeded": False})
    events[4] = dataclasses.replace(events[4], at=T0 + timedelta(minutes=15))
    assert [seq for seq, _ in reasons(events)] == [4, 5]


def test_an_edit_whose_hash_is_recomputed_breaks_the_link_to_the_next_event() -> None:
    events = incident_timeline()
    forged = dataclasses.replace(events[2], text="Root cause: a cosmic ray")
    content = NewEvent(
        forged.kind, forged.actor, forged.text, forged.at, forged.data, forged.key, forged.public
    )
    events[2] = dataclasses.replace(forged, hash=event_hash(forged.prev_hash, 7, 3, content))
    assert reasons(events) == [(4, "does not follow the previous event's hash")]


def test_deleting_an_event_is_detected_where_the_gap_is() -> None:
    events = incident_timeline()
    del events[1]
    problems = reasons(events)
    assert {seq for seq, _ in problems} == {3}
    assert (3, "expected event #2, found #3") in problems
    assert (3, "does not follow the previous event's hash") in problems


def test_swapping_two_events_is_detected() -> None:
    events = incident_timeline()
    events[1], events[2] = events[2], events[1]
    problems = reasons(events)
    assert (3, "expected event #2, found #3") in problems
    assert (2, "expected event #4, found #2") in problems


def test_an_event_moved_to_another_incident_no_longer_matches_its_hash() -> None:
    events = incident_timeline()
    events[1] = dataclasses.replace(events[1], incident_id=8)
    assert reasons(events) == [(2, "content does not match its hash (edited?)")]


def test_a_timeline_that_does_not_start_from_genesis_is_reported() -> None:
    events = incident_timeline()[1:]
    problems = reasons(events)
    assert (2, "expected event #1, found #2") in problems
    assert (2, "does not follow the previous event's hash") in problems
