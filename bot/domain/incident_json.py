"""An incident and its timeline events as JSON values: the shape the API answers with and the
CLI's --json prints, kept in one place so the two cannot drift."""

from __future__ import annotations

from typing import Any

from bot.domain.incident import Incident
from bot.domain.timeline import TimelineEvent


def incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "title": incident.title,
        "severity": str(incident.severity),
        "status": str(incident.status),
        "commander": incident.commander,
        "declared_by": incident.declared_by,
        "declared_at": incident.declared_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        "services": list(incident.services),
        "description": incident.description,
        "summary": incident.summary,
        "channel_id": incident.channel_id,
        "channel_name": incident.channel_name,
        "roles": dict(incident.roles),
    }


def event_json(event: TimelineEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "kind": str(event.kind),
        "actor": event.actor,
        "text": event.text,
        "data": dict(event.data),
        "key": event.key,
        "public": event.public,
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }
