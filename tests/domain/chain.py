"""Timelines as the store records them: numbered from 1, each event hashed onto the last."""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain.timeline import GENESIS, NewEvent, TimelineEvent, event_hash


class Timeline:
    """An incident's timeline, appended to the way the store appends to it."""

    def __init__(self, incident_id: int, events: Iterable[NewEvent] = ()) -> None:
        self.incident_id = incident_id
        self.events: list[TimelineEvent] = []
        for event in events:
            self.append(event)

    def append(self, event: NewEvent) -> TimelineEvent:
        seq = len(self.events) + 1
        prev = self.events[-1].hash if self.events else GENESIS
        recorded = TimelineEvent(
            id=1000 + seq,
            incident_id=self.incident_id,
            seq=seq,
            kind=event.kind,
            actor=event.actor,
            text=event.text,
            at=event.at,
            data=dict(event.data),
            key=event.key,
            public=event.public,
            prev_hash=prev,
            hash=event_hash(prev, self.incident_id, seq, event),
        )
        self.events.append(recorded)
        return recorded


def chain(incident_id: int, *events: NewEvent) -> list[TimelineEvent]:
    return Timeline(incident_id, events).events
