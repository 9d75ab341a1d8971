"""The status page's rows as both stores keep them: published incidents with their public
updates, and scheduled maintenances. Shared, so the two stores answer alike."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bot.domain.publication import (
    ComponentStatus,
    Maintenance,
    NewMaintenance,
    Opening,
    PublicIncident,
    PublicStatus,
    PublicUpdate,
)
from bot.store.columns import from_iso, iso

# How many published incidents a page of them holds at most.
MOST = 500


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def update_record(row: Mapping[str, Any]) -> PublicUpdate:
    return PublicUpdate(
        id=row["id"],
        status=PublicStatus(row["status"]),
        body=row["body"],
        created_at=_time(row["created_at"]),
    )


def public_incident_record(
    row: Mapping[str, Any], updates: Iterable[Mapping[str, Any]] = ()
) -> PublicIncident:
    return PublicIncident(
        id=row["id"],
        incident_id=row["incident_id"],
        public_id=row["public_id"],
        title=row["title"],
        impact=ComponentStatus(row["impact"]),
        components=tuple(json.loads(row["components"])),
        status=PublicStatus(row["status"]),
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
        resolved_at=from_iso(row["resolved_at"]),
        # Newest first, as a status page lists them.
        updates=tuple(update_record(u) for u in sorted(updates, key=lambda u: -int(u["id"]))),
    )


def with_updates(
    rows: Iterable[Mapping[str, Any]], updates: Iterable[Mapping[str, Any]]
) -> list[PublicIncident]:
    """Each incident row with its own update rows."""
    by_incident: dict[int, list[Mapping[str, Any]]] = {}
    for update in updates:
        by_incident.setdefault(int(update["status_incident_id"]), []).append(update)
    return [public_incident_record(r, by_incident.get(int(r["id"]), [])) for r in rows]


def opening_columns(incident_id: int, opening: Opening, at: datetime) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "public_id": opening.public_id,
        "title": opening.title,
        "impact": str(opening.impact),
        "components": json.dumps(list(opening.components)),
        "status": str(PublicStatus.INVESTIGATING),
        "created_at": iso(at),
        "updated_at": iso(at),
        "resolved_at": None,
    }


def reopening_columns(opening: Opening) -> dict[str, Any]:
    """A later update that names a title, impact or components again changes them (the
    public id stays the one readers already have)."""
    return {
        "title": opening.title,
        "impact": str(opening.impact),
        "components": json.dumps(list(opening.components)),
    }


def progress_columns(status: PublicStatus, at: datetime) -> dict[str, Any]:
    return {
        "status": str(status),
        "updated_at": iso(at),
        "resolved_at": iso(at) if status == PublicStatus.RESOLVED else None,
    }


def update_columns(
    status_incident_id: int, status: PublicStatus, body: str, at: datetime
) -> dict[str, Any]:
    return {
        "status_incident_id": status_incident_id,
        "status": str(status),
        "body": body,
        "created_at": iso(at),
    }


def maintenance_columns(new: NewMaintenance, at: datetime) -> dict[str, Any]:
    return {
        "public_id": new.public_id,
        "title": new.title,
        "body": new.body,
        "components": json.dumps(list(new.components)),
        "starts_at": iso(new.starts_at),
        "ends_at": iso(new.ends_at),
        "created_by": new.created_by,
        "created_at": iso(at),
        "updated_at": iso(at),
    }


def maintenance_record(row: Mapping[str, Any]) -> Maintenance:
    return Maintenance(
        id=row["id"],
        public_id=row["public_id"],
        title=row["title"],
        body=row["body"],
        components=tuple(json.loads(row["components"])),
        starts_at=_time(row["starts_at"]),
        ends_at=_time(row["ends_at"]),
        created_by=row["created_by"],
        created_at=_time(row["created_at"]),
        updated_at=_time(row["updated_at"]),
    )


def version_text(last_update: int | None, last_maintenance: int | None) -> str:
    """Changes whenever anything is published: each publication adds a row."""
    return f"{last_update or 0}.{last_maintenance or 0}"
