"""PagerDuty incidents and their webhook events, in PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from bot.store.columns import now_iso
from bot.store.pagerduty_rows import event_record, incident_record, pagerduty_event_write
from bot.store.pg_base import Conn, PgBase, affected
from bot.store.pg_outbox import insert_outbox_items
from bot.store.records import NewOutboxItem, PagerDutyEvent, PagerDutyIncident


async def store_pagerduty_event(conn: Conn, event: Mapping[str, Any]) -> None:
    """Inside the delivery's transaction: the event for the thread, the incident's state."""
    write = pagerduty_event_write(event)
    if write is None:
        return
    # A redelivered event is kept once; it still counts as news of the incident below, as in
    # SQLite.
    await _insert(conn, "pd_events", write.event_row)
    # Locked: another replica's event for the same incident waits, or is rerun on conflict.
    stored = await conn.fetchrow(
        "SELECT updated_at FROM pd_incidents WHERE id = $1 FOR UPDATE", write.incident_id
    )
    if stored is None:
        # Two replicas with the first news of one incident both find no row: under
        # serializable the loser's insert conflicts and is rerun, then finds the row.
        await _insert(conn, "pd_incidents", write.new_incident())
        return
    values = write.changes(stored["updated_at"])
    sets = [f"{column} = ${n}" for n, column in enumerate(values, start=2)]
    await conn.execute(
        f"UPDATE pd_incidents SET {', '.join([*sets, 'version = version + 1'])} WHERE id = $1",
        write.incident_id,
        *values.values(),
    )


async def _insert(conn: Conn, table: str, row: Mapping[str, Any]) -> None:
    # Table and column names are this module's own, never a caller's.
    columns = ", ".join(row)
    params = ", ".join(f"${n}" for n in range(1, len(row) + 1))
    await conn.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({params}) ON CONFLICT (id) DO NOTHING",
        *row.values(),
    )


async def _pending_events(
    conn: Conn, incident_ids: Sequence[str]
) -> dict[str, list[PagerDutyEvent]]:
    rows = await PgBase._rows(
        conn,
        # Bytewise, as SQLite orders text, whatever the database's collation.
        "SELECT * FROM pd_events WHERE incident_id = ANY($1::text[]) AND synced = 0"
        ' ORDER BY occurred_at COLLATE "C", seq',
        [list(incident_ids)],
    )
    events: dict[str, list[PagerDutyEvent]] = defaultdict(list)
    for row in rows:
        events[row["incident_id"]].append(event_record(row))
    return events


class PagerDutyStore(PgBase):
    async def _incidents(
        self, conn: Conn, where: str, params: Sequence[Any], limit: int | None = None
    ) -> list[PagerDutyIncident]:
        # LIMIT NULL is no limit; seq is arrival order, as SQLite's rowid.
        rows = await self._rows(
            conn,
            f"SELECT * FROM pd_incidents WHERE {where} ORDER BY seq LIMIT ${len(params) + 1}",
            [*params, limit],
        )
        events = await _pending_events(conn, [row["id"] for row in rows])
        return [incident_record(row, events.get(row["id"], [])) for row in rows]

    async def dirty_pagerduty_incidents(self, limit: int = 100) -> list[PagerDutyIncident]:
        async def read(conn: Conn) -> list[PagerDutyIncident]:
            return await self._incidents(conn, "version > synced_version", [], limit)

        return await self._read(read)

    async def pagerduty_incident(self, incident_id: str) -> PagerDutyIncident | None:
        async def read(conn: Conn) -> list[PagerDutyIncident]:
            return await self._incidents(conn, "id = $1", [incident_id])

        found = await self._read(read)
        return found[0] if found else None

    async def complete_pagerduty_sync(
        self,
        incident: PagerDutyIncident,
        *,
        items: Sequence[NewOutboxItem],
        channel: str | None,
        thread_key: str | None,
        link_group: str | None,
        posted_view: str | None = None,
    ) -> bool:
        async def write(conn: Conn) -> bool:
            # Compare-and-set on the version: of two replicas completing one sync, the second
            # waits on the row, is rerun, and finds it already synced.
            status = await conn.execute(
                "UPDATE pd_incidents SET synced_version = $1, posted_status = $2, channel = $3,"
                " thread_key = $4, posted_view = $5 WHERE id = $6 AND synced_version < $1",
                incident.version,
                incident.status,
                channel,
                thread_key,
                posted_view,
                incident.id,
            )
            if affected(status) == 0:
                return False
            ids = [e.id for e in incident.pending_events]
            if ids:
                await conn.execute(
                    "UPDATE pd_events SET synced = 1 WHERE id = ANY($1::text[])", ids
                )
            if link_group is not None:
                await conn.execute(
                    "UPDATE alert_groups SET pd_incident_id = $1 WHERE group_key = $2",
                    incident.id,
                    link_group,
                )
            await insert_outbox_items(conn, items, now_iso())
            return True

        return await self._write(write)
