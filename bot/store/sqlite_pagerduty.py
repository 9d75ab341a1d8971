"""PagerDuty incidents and their webhook events, in SQLite."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from bot.store.records import NewOutboxItem, PagerDutyEvent, PagerDutyIncident
from bot.store.sqlite_base import SqliteBase, _now
from bot.store.sqlite_outbox import insert_outbox_items


def incident_of(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The incident an event is about: its data for incident events, a reference otherwise."""
    if data.get("type") == "incident":
        return data
    ref = data.get("incident")
    return ref if isinstance(ref, Mapping) else None


def store_pagerduty_event(db: Database, event: Mapping[str, Any]) -> None:
    """Inside the delivery's transaction: the event for the thread, the incident's state."""
    data = event.get("data") or {}
    incident = incident_of(data)
    if incident is None or not incident.get("id"):
        return
    incident_id = str(incident["id"])
    agent = (event.get("agent") or {}).get("summary", "")
    db.table("pd_events").insert(
        {
            "id": event["id"],
            "incident_id": incident_id,
            "event_type": event["event_type"],
            "agent": agent,
            "occurred_at": event["occurred_at"],
            "data": json.dumps(data),
            "synced": 0,
        },
        ignore=True,
    )
    full = data.get("type") == "incident"
    values: dict[str, Any] = {"updated_at": event["occurred_at"]}
    if full:
        values.update(
            number=incident.get("number"),
            title=incident.get("title", ""),
            status=incident.get("status", ""),
            urgency=incident.get("urgency", ""),
            service=(incident.get("service") or {}).get("summary", ""),
            html_url=incident.get("html_url", ""),
            incident_key=incident.get("incident_key"),
            assignees=json.dumps([a.get("summary", "") for a in incident.get("assignees") or []]),
            # A priority of null is PagerDuty saying the incident has none (any more).
            priority=(incident.get("priority") or {}).get("summary") or "",
        )
    existing = db.execute(
        "SELECT updated_at FROM pd_incidents WHERE id = ?", [incident_id]
    ).fetchone()
    if existing is None:
        db.table("pd_incidents").insert(
            {
                "id": incident_id,
                "title": incident.get("summary", ""),
                "status": "",
                **values,
                # Known only from a reference: any full event, however old, may fill it in.
                "updated_at": values["updated_at"] if full else None,
                "version": 1,
                "synced_version": 0,
            }
        )
        return
    # Deliveries can arrive out of order: an older event never rolls the state back.
    if not full or (existing[0] and existing[0] > event["occurred_at"]):
        values = {}
    sets = ", ".join([*(f"{k} = ?" for k in values), "version = version + 1"])
    db.execute(f"UPDATE pd_incidents SET {sets} WHERE id = ?", [*values.values(), incident_id])


def _event(row: Mapping[str, Any]) -> PagerDutyEvent:
    return PagerDutyEvent(
        id=row["id"],
        incident_id=row["incident_id"],
        event_type=row["event_type"],
        agent=row["agent"] or "",
        occurred_at=datetime.fromisoformat(row["occurred_at"].replace("Z", "+00:00")),
        data=json.loads(row["data"] or "{}"),
    )


def _incident(row: Mapping[str, Any], events: Sequence[PagerDutyEvent]) -> PagerDutyIncident:
    return PagerDutyIncident(
        id=row["id"],
        number=row["number"],
        title=row["title"] or "",
        status=row["status"] or "",
        urgency=row["urgency"] or "",
        service=row["service"] or "",
        html_url=row["html_url"] or "",
        incident_key=row["incident_key"],
        assignees=tuple(json.loads(row["assignees"] or "[]")),
        version=row["version"],
        synced_version=row["synced_version"],
        posted_status=row["posted_status"],
        channel=row["channel"],
        thread_key=row["thread_key"],
        pending_events=tuple(events),
        priority=row["priority"] or "",
        posted_view=row["posted_view"],
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
                _event(e)
                for e in self._rows(
                    db,
                    "SELECT * FROM pd_events WHERE incident_id = ? AND synced = 0"
                    " ORDER BY occurred_at, rowid",
                    [row["id"]],
                )
            ]
            found.append(_incident(row, events))
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
