"""PagerDuty webhook events and incidents as both stores keep them: what an event writes, and
rows read back as records. Pure, so the SQLite and PostgreSQL stores cannot drift apart."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.store.records import PagerDutyEvent, PagerDutyIncident


def incident_of(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The incident an event is about: its data for incident events, a reference otherwise."""
    if data.get("type") == "incident":
        return data
    ref = data.get("incident")
    return ref if isinstance(ref, Mapping) else None


@dataclass(frozen=True)
class PagerDutyEventWrite:
    """What one webhook event writes: its pd_events row and what it says of the incident."""

    incident_id: str
    event_row: Mapping[str, Any]
    # The incident's columns a full event (one whose data is the incident) sets; for an event
    # that only references the incident, just updated_at.
    values: Mapping[str, Any]
    full: bool
    summary: str  # a reference's title, for an incident first seen through one

    def new_incident(self) -> dict[str, Any]:
        """The pd_incidents row for an incident this event is the first news of."""
        return {
            "id": self.incident_id,
            "title": self.summary,
            "status": "",
            **self.values,
            # Known only from a reference: any full event, however old, may fill it in.
            "updated_at": self.values["updated_at"] if self.full else None,
            "version": 1,
            "synced_version": 0,
        }

    def changes(self, stored_updated_at: str | None) -> dict[str, Any]:
        """The columns to set on the stored incident (its version goes up regardless)."""
        # Deliveries can arrive out of order: an older event never rolls the state back.
        if not self.full or (stored_updated_at and stored_updated_at > self.occurred_at):
            return {}
        return dict(self.values)

    @property
    def occurred_at(self) -> str:
        return str(self.event_row["occurred_at"])


def pagerduty_event_write(event: Mapping[str, Any]) -> PagerDutyEventWrite | None:
    """None for an event about no incident (nothing to store)."""
    data = event.get("data") or {}
    incident = incident_of(data)
    if incident is None or not incident.get("id"):
        return None
    incident_id = str(incident["id"])
    event_row = {
        "id": event["id"],
        "incident_id": incident_id,
        "event_type": event["event_type"],
        "agent": (event.get("agent") or {}).get("summary", ""),
        "occurred_at": event["occurred_at"],
        "data": json.dumps(data),
        "synced": 0,
    }
    full = data.get("type") == "incident"
    values: dict[str, Any] = {"updated_at": event["occurred_at"]}
    if full:
        values.update(_incident_columns(incident))
    return PagerDutyEventWrite(
        incident_id=incident_id,
        event_row=event_row,
        values=values,
        full=full,
        summary=incident.get("summary", ""),
    )


def _incident_columns(incident: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "number": incident.get("number"),
        "title": incident.get("title", ""),
        "status": incident.get("status", ""),
        "urgency": incident.get("urgency", ""),
        "service": (incident.get("service") or {}).get("summary", ""),
        "html_url": incident.get("html_url", ""),
        "incident_key": incident.get("incident_key"),
        "assignees": json.dumps([a.get("summary", "") for a in incident.get("assignees") or []]),
        # A priority of null is PagerDuty saying the incident has none (any more).
        "priority": (incident.get("priority") or {}).get("summary") or "",
    }


def event_record(row: Mapping[str, Any]) -> PagerDutyEvent:
    return PagerDutyEvent(
        id=row["id"],
        incident_id=row["incident_id"],
        event_type=row["event_type"],
        agent=row["agent"] or "",
        occurred_at=datetime.fromisoformat(row["occurred_at"].replace("Z", "+00:00")),
        data=json.loads(row["data"] or "{}"),
    )


def incident_record(row: Mapping[str, Any], events: Sequence[PagerDutyEvent]) -> PagerDutyIncident:
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
