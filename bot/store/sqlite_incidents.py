"""Incidents and their hash-chained timelines, in SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

from bot.domain.incident import Incident, NewIncident
from bot.domain.timeline import NewEvent, TimelineEvent
from bot.store.incident_rows import (
    chained_event_columns,
    declared_event,
    event_record,
    incident_changes,
    incident_record,
    new_incident_columns,
)
from bot.store.records import NewOutboxItem
from bot.store.sqlite_base import SqliteBase, _last_id, _now
from bot.store.sqlite_outbox import insert_outbox_items


def _append_event(db: Database, incident_id: int, event: NewEvent) -> TimelineEvent:
    last = db.execute(
        "SELECT seq, hash FROM timeline_events WHERE incident_id = ? ORDER BY seq DESC LIMIT 1",
        [incident_id],
    ).fetchone()
    table = db.table("timeline_events")
    table.insert(chained_event_columns(incident_id, (last[0], last[1]) if last else None, event))
    return event_record(table.get(_last_id(table)))


class IncidentStore(SqliteBase):
    # incidents -----------------------------------------------------------------------------

    async def create_incident(self, new: NewIncident) -> Incident:
        def write(db: Database) -> Incident:
            table = db.table("incidents")
            table.insert(new_incident_columns(new, _now()))
            incident_id = _last_id(table)
            _append_event(db, incident_id, declared_event(new))
            return incident_record(table.get(incident_id))

        return await self._write(write)

    async def get_incident(self, incident_id: int) -> Incident | None:
        def read(db: Database) -> Incident | None:
            rows = self._rows(db, "SELECT * FROM incidents WHERE id = ?", [incident_id])
            return incident_record(rows[0]) if rows else None

        return await self._read(read)

    async def list_incidents(self, *, open_only: bool = False, limit: int = 100) -> list[Incident]:
        def read(db: Database) -> list[Incident]:
            where = "WHERE status NOT IN ('resolved', 'closed')" if open_only else ""
            rows = self._rows(
                db, f"SELECT * FROM incidents {where} ORDER BY id DESC LIMIT ?", [limit]
            )
            return [incident_record(r) for r in rows]

        return await self._read(read)

    async def update_incident(self, incident_id: int, **changes: Any) -> Incident:
        values = incident_changes(changes, _now())

        def write(db: Database) -> Incident:
            db.table("incidents").update(incident_id, values)
            return incident_record(db.table("incidents").get(incident_id))

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
            return [event_record(r) for r in rows]

        return await self._read(read)

    async def incident_by_channel(self, channel_id: str) -> Incident | None:
        def read(db: Database) -> Incident | None:
            rows = self._rows(db, "SELECT * FROM incidents WHERE channel_id = ?", [channel_id])
            return incident_record(rows[0]) if rows else None

        return await self._read(read)

    async def append_event_once(
        self,
        incident_id: int,
        event: NewEvent,
        dedup_key: str,
        *,
        outbox: Sequence[NewOutboxItem] = (),
    ) -> TimelineEvent | None:
        def write(db: Database) -> TimelineEvent | None:
            created = _now()
            cur = db.execute(
                "INSERT OR IGNORE INTO seen_events (key, at) VALUES (?, ?)", [dedup_key, created]
            )
            if cur.rowcount == 0:
                return None
            appended = _append_event(db, incident_id, event)
            insert_outbox_items(db, outbox, created)
            return appended

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
            return event_record(rows[0]) if rows else None

        return await self._read(read)
