"""Incidents and their hash-chained timelines, in SQLite."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from bot.domain.incident import Incident, NewIncident, Severity, Status
from bot.domain.timeline import GENESIS, EventKind, NewEvent, TimelineEvent, event_hash
from bot.store.sqlite_base import SqliteBase, _dt, _iso, _last_id, _now

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


def _incident(row: Mapping[str, Any]) -> Incident:
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
        resolved_at=_dt(row["resolved_at"]),
        summary=row["summary"] or "",
        roles=json.loads(row["roles"] or "{}"),
    )


def _event(row: Mapping[str, Any]) -> TimelineEvent:
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


def _append_event(db: Database, incident_id: int, event: NewEvent) -> TimelineEvent:
    # Hashed as stored (UTC), so verification recomputes the same digest.
    event = replace(event, at=event.at.astimezone(UTC))
    last = db.execute(
        "SELECT seq, hash FROM timeline_events WHERE incident_id = ? ORDER BY seq DESC LIMIT 1",
        [incident_id],
    ).fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    digest = event_hash(prev, incident_id, seq, event)
    table = db.table("timeline_events")
    table.insert(
        {
            "incident_id": incident_id,
            "seq": seq,
            "kind": str(event.kind),
            "actor": event.actor,
            "text": event.text,
            "at": _iso(event.at),
            "data": json.dumps(dict(event.data), default=str),
            "key": int(event.key),
            "public": int(event.public),
            "prev_hash": prev,
            "hash": digest,
        }
    )
    return _event(table.get(_last_id(table)))


class IncidentStore(SqliteBase):
    # incidents -----------------------------------------------------------------------------

    async def create_incident(self, new: NewIncident) -> Incident:
        def write(db: Database) -> Incident:
            table = db.table("incidents")
            table.insert(
                {
                    "title": new.title,
                    "severity": str(new.severity),
                    "status": str(Status.INVESTIGATING),
                    "declared_by": new.declared_by,
                    "declared_at": _iso(new.declared_at),
                    "commander": new.declared_by,
                    "services": json.dumps(list(new.services)),
                    "description": new.description,
                    "summary": "",
                    "roles": json.dumps({"commander": new.declared_by}),
                    "updated_at": _now(),
                }
            )
            incident_id = _last_id(table)
            _append_event(
                db,
                incident_id,
                NewEvent(
                    EventKind.DECLARED,
                    new.declared_by,
                    f"{new.severity} incident declared: {new.title}",
                    new.declared_at,
                    {"severity": str(new.severity), "services": list(new.services)},
                    key=True,
                    public=True,
                ),
            )
            return _incident(table.get(incident_id))

        return await self._write(write)

    async def get_incident(self, incident_id: int) -> Incident | None:
        def read(db: Database) -> Incident | None:
            rows = self._rows(db, "SELECT * FROM incidents WHERE id = ?", [incident_id])
            return _incident(rows[0]) if rows else None

        return await self._read(read)

    async def list_incidents(self, *, open_only: bool = False, limit: int = 100) -> list[Incident]:
        def read(db: Database) -> list[Incident]:
            where = "WHERE status NOT IN ('resolved', 'closed')" if open_only else ""
            rows = self._rows(
                db, f"SELECT * FROM incidents {where} ORDER BY id DESC LIMIT ?", [limit]
            )
            return [_incident(r) for r in rows]

        return await self._read(read)

    async def update_incident(self, incident_id: int, **changes: Any) -> Incident:
        unknown = set(changes) - INCIDENT_FIELDS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if isinstance(value, datetime):
                value = _iso(value)
            elif isinstance(value, list | tuple | dict):
                value = json.dumps(list(value) if not isinstance(value, dict) else value)
            elif value is not None and name in ("severity", "status"):
                value = str(value)
            values[name] = value
        values["updated_at"] = _now()

        def write(db: Database) -> Incident:
            db.table("incidents").update(incident_id, values)
            return _incident(db.table("incidents").get(incident_id))

        return await self._write(write)

    async def append_event(self, incident_id: int, event: NewEvent) -> TimelineEvent:
        return await self._write(lambda db: _append_event(db, incident_id, event))

    async def timeline(self, incident_id: int) -> list[TimelineEvent]:
        def read(db: Database) -> list[TimelineEvent]:
            rows = self._rows(
                db,
                "SELECT * FROM timeline_events WHERE incident_id = ? ORDER BY seq",
                [incident_id],
            )
            return [_event(r) for r in rows]

        return await self._read(read)

    async def incident_by_channel(self, channel_id: str) -> Incident | None:
        def read(db: Database) -> Incident | None:
            rows = self._rows(db, "SELECT * FROM incidents WHERE channel_id = ?", [channel_id])
            return _incident(rows[0]) if rows else None

        return await self._read(read)

    async def append_event_once(
        self, incident_id: int, event: NewEvent, dedup_key: str
    ) -> TimelineEvent | None:
        """Appends unless an event with this key was recorded before (Slack's retries)."""

        def write(db: Database) -> TimelineEvent | None:
            cur = db.execute(
                "INSERT OR IGNORE INTO seen_events (key, at) VALUES (?, ?)", [dedup_key, _now()]
            )
            if cur.rowcount == 0:
                return None
            return _append_event(db, incident_id, event)

        return await self._write(write)

    async def find_event(self, incident_id: int, data_key: str, value: str) -> TimelineEvent | None:
        """The latest event whose data has `data_key` equal to `value` (e.g. a message's ts)."""

        def read(db: Database) -> TimelineEvent | None:
            rows = self._rows(
                db,
                "SELECT * FROM timeline_events WHERE incident_id = ?"
                " AND json_extract(data, '$.' || ?) = ? ORDER BY seq DESC LIMIT 1",
                [incident_id, data_key, value],
            )
            return _event(rows[0]) if rows else None

        return await self._read(read)
