"""Incidents and their timeline events as both stores keep them: rows read back as records,
and the columns a write stores. Shared, so the two stores answer alike and hash alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.domain.incident import Incident, NewIncident, Severity, Status
from bot.domain.timeline import GENESIS, EventKind, NewEvent, TimelineEvent, event_hash
from bot.store.columns import from_iso, iso

INCIDENT_FIELDS = {
    "title",
    "severity",
    "status",
    "commander",
    "services",
    "description",
    "channel_id",
    "channel_name",
    "resolved_at",
    "summary",
    "roles",
}


def incident_record(row: Mapping[str, Any]) -> Incident:
    return Incident(
        id=row["id"],
        title=row["title"],
        severity=Severity(row["severity"]),
        status=Status(row["status"]),
        declared_by=row["declared_by"],
        declared_at=datetime.fromisoformat(row["declared_at"]),
        commander=row["commander"],
        services=tuple(json.loads(row["services"] or "[]")),
        description=row["description"] or "",
        channel_id=row["channel_id"],
        channel_name=row["channel_name"],
        resolved_at=from_iso(row["resolved_at"]),
        summary=row["summary"] or "",
        roles=json.loads(row["roles"] or "{}"),
    )


def event_record(row: Mapping[str, Any]) -> TimelineEvent:
    return TimelineEvent(
        id=row["id"],
        incident_id=row["incident_id"],
        seq=row["seq"],
        kind=EventKind(row["kind"]),
        actor=row["actor"] or "",
        text=row["text"] or "",
        at=datetime.fromisoformat(row["at"]),
        data=json.loads(row["data"] or "{}"),
        key=bool(row["key"]),
        public=bool(row["public"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def new_incident_columns(new: NewIncident, updated_at: str) -> dict[str, Any]:
    return {
        "title": new.title,
        "severity": str(new.severity),
        "status": str(Status.INVESTIGATING),
        "declared_by": new.declared_by,
        "declared_at": iso(new.declared_at),
        "commander": new.leader,
        "services": json.dumps(list(new.services)),
        "description": new.description,
        "summary": "",
        "roles": json.dumps({"commander": new.leader}),
        "updated_at": updated_at,
    }


def declared_event(new: NewIncident) -> NewEvent:
    """The first event of every timeline, written with the incident."""
    return NewEvent(
        EventKind.DECLARED,
        new.declared_by,
        f"{new.severity} incident declared: {new.title}",
        new.declared_at,
        {"severity": str(new.severity), "services": list(new.services), "commander": new.leader},
        key=True,
        public=True,
    )


def incident_changes(changes: Mapping[str, Any], updated_at: str) -> dict[str, Any]:
    """The columns an update_incident call sets; ValueError for a field that cannot change."""
    unknown = set(changes) - INCIDENT_FIELDS
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if isinstance(value, datetime):
            value = iso(value)
        elif isinstance(value, list | tuple | dict):
            value = json.dumps(list(value) if not isinstance(value, dict) else value)
        elif value is not None and name in ("severity", "status"):
            value = str(value)
        values[name] = value
    values["updated_at"] = updated_at
    return values


def chained_event_columns(
    incident_id: int, last: tuple[int, str] | None, event: NewEvent
) -> dict[str, Any]:
    """The row that follows `last` (its seq and hash; None for an empty timeline)."""
    # Hashed as stored (UTC), so verification recomputes the same digest.
    event = replace(event, at=event.at.astimezone(UTC))
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    return {
        "incident_id": incident_id,
        "seq": seq,
        "kind": str(event.kind),
        "actor": event.actor,
        "text": event.text,
        "at": iso(event.at),
        "data": json.dumps(dict(event.data), default=str),
        "key": int(event.key),
        "public": int(event.public),
        "prev_hash": prev,
        "hash": event_hash(prev, incident_id, seq, event),
    }
