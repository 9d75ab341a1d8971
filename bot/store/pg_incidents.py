"""Incidents and their hash-chained timelines, in PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bot.domain.incident import Incident, NewIncident
from bot.domain.timeline import NewEvent, TimelineEvent
from bot.store.columns import now_iso
from bot.store.incident_rows import (
    chained_event_columns,
    declared_event,
    event_record,
    incident_changes,
    incident_record,
    new_incident_columns,
)
from bot.store.pg_base import Conn, PgBase, affected, without_nul
from bot.store.pg_outbox import insert_outbox_items
from bot.store.records import NewOutboxItem


def data_value(data: Mapping[str, Any], key: str) -> str | None:
    """As SQLite's json_extract(data, '$.' || key) = value compares it: a dotted key walks
    into nested objects, and only a JSON string is ever equal to the text (5 is not '5')."""
    found: Any = data
    for part in key.split("."):
        if not isinstance(found, Mapping) or part not in found:
            return None
        found = found[part]
    return found if isinstance(found, str) else None


def _text(value: Any) -> Any:
    """Dropped before hashing, not only by the connection's text codec, so an event's hash is
    of what is stored (a title pasted with U+0000 is still declared, and still verifies).
    JSON columns hold it escaped, and keep it."""
    return without_nul(value) if isinstance(value, str) else value


def storable(columns: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _text(value) for name, value in columns.items()}


async def insert_returning(conn: Conn, table: str, columns: Mapping[str, Any]) -> dict[str, Any]:
    """Inserts one row of trusted column names; the row as stored."""
    columns = storable(columns)
    names = ", ".join(columns)
    marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING *", *columns.values()
    )
    assert row is not None
    return dict(row)


async def append_chained(conn: Conn, incident_id: int, event: NewEvent) -> TimelineEvent:
    """Inside the caller's transaction. Two replicas appending at once both read the same last
    event; unique (incident_id, seq) lets one insert win and the serializable retry reruns the
    other on top of it, so the chain never forks."""
    last = await conn.fetchrow(
        "SELECT seq, hash FROM timeline_events WHERE incident_id = $1 ORDER BY seq DESC LIMIT 1",
        incident_id,
    )
    # Hashed as stored, so the chain still verifies.
    event = replace(event, actor=_text(event.actor), text=_text(event.text))
    columns = chained_event_columns(
        incident_id, (int(last["seq"]), last["hash"]) if last else None, event
    )
    return event_record(await insert_returning(conn, "timeline_events", columns))


class IncidentStore(PgBase):
    # incidents -----------------------------------------------------------------------------

    async def create_incident(self, new: NewIncident) -> Incident:
        async def write(conn: Conn) -> Incident:
            row = await insert_returning(conn, "incidents", new_incident_columns(new, now_iso()))
            await append_chained(conn, row["id"], declared_event(new))
            return incident_record(row)

        return await self._write(write)

    async def get_incident(self, incident_id: int) -> Incident | None:
        async def read(conn: Conn) -> Incident | None:
            rows = await self._rows(conn, "SELECT * FROM incidents WHERE id = $1", [incident_id])
            return incident_record(rows[0]) if rows else None

        return await self._read(read)

    async def list_incidents(self, *, open_only: bool = False, limit: int = 100) -> list[Incident]:
        async def read(conn: Conn) -> list[Incident]:
            where = "WHERE status NOT IN ('resolved', 'closed')" if open_only else ""
            # SQLite reads a negative limit as none at all; LIMIT NULL says so here.
            rows = await self._rows(
                conn,
                f"SELECT * FROM incidents {where} ORDER BY id DESC LIMIT $1",
                [limit if limit >= 0 else None],
            )
            return [incident_record(r) for r in rows]

        return await self._read(read)

    async def update_incident(self, incident_id: int, **changes: Any) -> Incident:
        values = storable(incident_changes(changes, now_iso()))
        sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(values, start=2))

        async def write(conn: Conn) -> Incident:
            row = await conn.fetchrow(
                f"UPDATE incidents SET {sets} WHERE id = $1 RETURNING *",
                incident_id,
                *values.values(),
            )
            if row is None:
                # SQLite's store raises too (sqlite-utils' NotFoundError): callers read first.
                raise LookupError(f"no incident #{incident_id}")
            return incident_record(row)

        return await self._write(write)

    async def append_event(self, incident_id: int, event: NewEvent) -> TimelineEvent:
        return await self._write(lambda conn: append_chained(conn, incident_id, event))

    async def timeline(self, incident_id: int) -> list[TimelineEvent]:
        async def read(conn: Conn) -> list[TimelineEvent]:
            rows = await self._rows(
                conn,
                "SELECT * FROM timeline_events WHERE incident_id = $1 ORDER BY seq",
                [incident_id],
            )
            return [event_record(r) for r in rows]

        return await self._read(read)

    async def incident_by_channel(self, channel_id: str) -> Incident | None:
        async def read(conn: Conn) -> Incident | None:
            # SQLite answers with the first row it finds; the lowest id is that row there.
            rows = await self._rows(
                conn,
                "SELECT * FROM incidents WHERE channel_id = $1 ORDER BY id LIMIT 1",
                [channel_id],
            )
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
        async def write(conn: Conn) -> TimelineEvent | None:
            # Two replicas given the same retry: the key's primary key lets one insert win;
            # the serializable retry reruns the other, which then finds the key taken.
            status = await conn.execute(
                "INSERT INTO seen_events (key, at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                _text(dedup_key),
                now_iso(),
            )
            if affected(status) == 0:
                return None
            appended = await append_chained(conn, incident_id, event)
            await insert_outbox_items(conn, outbox, now_iso())
            return appended

        return await self._write(write)

    async def find_event(self, incident_id: int, data_key: str, value: str) -> TimelineEvent | None:
        """The latest event whose data has `data_key` equal to `value` (e.g. a message's ts)."""

        async def read(conn: Conn) -> TimelineEvent | None:
            # Matched here, not by PostgreSQL's JSON operators: those refuse a whole event
            # whose data holds a \u0000 anywhere, which SQLite's json_extract reads.
            # Only rows holding the value's JSON text (written by json.dumps) can match.
            rows = await self._rows(
                conn,
                "SELECT * FROM timeline_events WHERE incident_id = $1"
                " AND strpos(data, $2) > 0 ORDER BY seq DESC",
                [incident_id, json.dumps(value)],
            )
            for row in rows:
                event = event_record(row)
                if data_value(event.data, data_key) == value:
                    return event
            return None

        return await self._read(read)
