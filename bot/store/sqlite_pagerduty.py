"""PagerDuty incidents and their webhook events, in SQLite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlite_utils import Database

from bot.store.pagerduty_rows import event_record, incident_record, pagerduty_event_write
from bot.store.records import NewOutboxItem, PagerDutyIncident
from bot.store.sqlite_base import SqliteBase, _now
from bot.store.sqlite_outbox import insert_outbox_items


def store_pagerduty_event(db: Database, event: Mapping[str, Any]) -> None:
    """Inside the delivery's transaction: the event for the thread, the incident's state."""
    write = pagerduty_event_write(event)
    if write is None:
        return
    db.table("pd_events").insert(dict(write.event_row), ignore=True)
    existing = db.execute(
        "SELECT updated_at FROM pd_incidents WHERE id = ?", [write.incident_id]
    ).fetchone()
    if existing is None:
        db.table("pd_incidents").insert(write.new_incident())
        return
    values = write.changes(existing[0])
    sets = ", ".join([*(f"{k} = ?" for k in values), "version = version + 1"])
    db.execute(
        f"UPDATE pd_incidents SET {sets} WHERE id = ?", [*values.values(), write.incident_id]
    )


class PagerDutyStore(SqliteBase):
    def _incidents(
        self,
        db: Database,
        where: str,
        params: Sequence[Any],
        limit: int = -1,
        source: str = "pd_incidents",
    ) -> list[PagerDutyIncident]:
        found = []
        rows = self._rows(
            db, f"SELECT * FROM {source} WHERE {where} ORDER BY rowid LIMIT ?", [*params, limit]
        )
        for row in rows:
            events = [
                event_record(e)
                for e in self._rows(
                    db,
                    "SELECT * FROM pd_events WHERE incident_id = ? AND synced = 0"
                    " ORDER BY occurred_at, rowid",
                    [row["id"]],
                )
            ]
            found.append(incident_record(row, events))
        return found

    async def dirty_pagerduty_incidents(self, limit: int = 100) -> list[PagerDutyIncident]:
        return await self._read(
            lambda db: self._incidents(
                db,
                "version > synced_version",
                [],
                limit,
                source="pd_incidents INDEXED BY pd_incidents_dirty",
            )
        )

    async def pagerduty_incident(self, incident_id: str) -> PagerDutyIncident | None:
        found = await self._read(lambda db: self._incidents(db, "id = ?", [incident_id]))
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
        def write(db: Database) -> bool:
            cur = db.execute(
                "UPDATE pd_incidents SET synced_version = ?, posted_status = ?, channel = ?,"
                " thread_key = ?, posted_view = ? WHERE id = ? AND synced_version < ?",
                [
                    incident.version,
                    incident.status,
                    channel,
                    thread_key,
                    posted_view,
                    incident.id,
                    incident.version,
                ],
            )
            if cur.rowcount == 0:
                return False
            ids = [e.id for e in incident.pending_events]
            if ids:
                db.execute(
                    f"UPDATE pd_events SET synced = 1 WHERE id IN ({','.join('?' * len(ids))})",
                    ids,
                )
            if link_group is not None:
                db.execute(
                    "UPDATE alert_groups SET pd_incident_id = ? WHERE group_key = ?",
                    [incident.id, link_group],
                )
            insert_outbox_items(db, items, _now())
            return True

        return await self._write(write)
