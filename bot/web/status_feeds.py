"""The status page as feeds its readers already consume: Atom 1.0 (RFC 4287), one entry per
public update, and JSON in Atlassian Statuspage's public API v2 shape (status, summary and
incidents), so widgets and monitors built for Statuspage read it unchanged."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from bot.domain.publication import Maintenance, PublicIncident
from bot.domain.status_history import SEVERITY_ORDER, impact_level
from bot.web.status_html import printable
from bot.web.status_view import Component, StatusView

ATOM = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 100
LISTED_INCIDENTS = 50  # as Statuspage's incidents.json: the 50 most recent


def _stamp(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _sub(parent: ET.Element, tag: str, value: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if value is not None:
        element.text = value
    return element


def atom_feed(view: StatusView, origin: str) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", f"tag:status,{view.page_id}:feed")
    _sub(feed, "title", printable(f"{view.platform} status"))
    _sub(feed, "updated", view.updated_at.isoformat())
    _sub(feed, "link", href=f"{origin}/", rel="alternate", type="text/html")
    _sub(feed, "link", href=f"{origin}/feed.atom", rel="self", type="application/atom+xml")
    author = _sub(feed, "author")
    _sub(author, "name", printable(view.platform))
    entries = sorted(
        ((incident, update) for incident in view.incidents for update in incident.updates),
        key=lambda pair: pair[1].created_at,
        reverse=True,
    )[:FEED_ENTRIES]
    for incident, update in entries:
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"tag:status,{view.page_id}:update:{incident.public_id}:{update.id}")
        _sub(entry, "title", printable(f"{incident.title}: {update.status}"))
        _sub(entry, "updated", update.created_at.isoformat())
        _sub(entry, "published", update.created_at.isoformat())
        _sub(
            entry,
            "link",
            href=f"{origin}/incidents/{incident.public_id}",
            rel="alternate",
            type="text/html",
        )
        # Plain text, escaped by the serialiser; XML cannot hold control characters at all.
        _sub(entry, "content", printable(update.body), type="text")
    written: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return written


def _page(view: StatusView, origin: str) -> dict[str, Any]:
    return {
        "id": view.page_id,
        "name": view.platform,
        "url": f"{origin}/",
        "time_zone": "Etc/UTC",
        "updated_at": view.updated_at.isoformat(),
    }


def _component(view: StatusView, component: Component) -> dict[str, Any]:
    return {
        "id": component.id,
        "name": component.name,
        "status": str(component.status),
        "created_at": view.now.replace(microsecond=0).isoformat(),
        "updated_at": view.updated_at.isoformat(),
        "position": component.position,
        "description": component.description or None,
        "showcase": True,
        "start_date": None,
        "group_id": _group_id(component.group) if component.group else None,
        "page_id": view.page_id,
        "group": False,
        "only_show_if_degraded": False,
    }


def _group_id(group: str) -> str:
    return "group-" + "".join(c if c.isalnum() else "-" for c in group.lower())


def _groups(view: StatusView) -> list[dict[str, Any]]:
    """Statuspage lists a group as a component of its own, naming its members."""
    groups: dict[str, list[Component]] = {}
    for component in view.components:
        if component.group:
            groups.setdefault(component.group, []).append(component)
    return [
        {
            "id": _group_id(name),
            "name": name,
            "status": str(max((m.status for m in members), key=_rank)),
            "created_at": view.now.replace(microsecond=0).isoformat(),
            "updated_at": view.updated_at.isoformat(),
            "position": min(m.position for m in members),
            "description": None,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": view.page_id,
            "group": True,
            "only_show_if_degraded": False,
            "components": [m.id for m in members],
        }
        for name, members in groups.items()
    ]


def _rank(status: Any) -> int:
    return SEVERITY_ORDER.index(status)


def _affected(view: StatusView, names: tuple[str, ...]) -> list[dict[str, Any]]:
    by_id = {c.id: c for c in view.components}
    return [_component(view, by_id[n]) for n in names if n in by_id]


def _incident(view: StatusView, incident: PublicIncident, origin: str) -> dict[str, Any]:
    monitoring = next((u.created_at for u in incident.updates if u.status == "monitoring"), None)
    return {
        "id": incident.public_id,
        "name": incident.title,
        "status": str(incident.status),
        "created_at": incident.created_at.isoformat(),
        "updated_at": incident.updated_at.isoformat(),
        "monitoring_at": _stamp(monitoring),
        "resolved_at": _stamp(incident.resolved_at),
        "impact": impact_level(incident.impact),
        "shortlink": f"{origin}/incidents/{incident.public_id}",
        "started_at": incident.created_at.isoformat(),
        "page_id": view.page_id,
        "incident_updates": [
            {
                "id": f"{incident.public_id}-{update.id}",
                "status": str(update.status),
                "body": update.body,
                "incident_id": incident.public_id,
                "created_at": update.created_at.isoformat(),
                "updated_at": update.created_at.isoformat(),
                "display_at": update.created_at.isoformat(),
                "affected_components": None,
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
            for update in incident.updates
        ],
        "components": _affected(view, incident.components),
    }


def _maintenance(view: StatusView, maintenance: Maintenance, origin: str) -> dict[str, Any]:
    state = maintenance.state(view.now)
    return {
        "id": maintenance.public_id,
        "name": maintenance.title,
        "status": state,
        "created_at": maintenance.created_at.isoformat(),
        "updated_at": maintenance.updated_at.isoformat(),
        "monitoring_at": None,
        "resolved_at": _stamp(maintenance.ends_at) if state == "completed" else None,
        "impact": "maintenance",
        "shortlink": f"{origin}/",
        "started_at": maintenance.starts_at.isoformat(),
        "page_id": view.page_id,
        "scheduled_for": maintenance.starts_at.isoformat(),
        "scheduled_until": maintenance.ends_at.isoformat(),
        "incident_updates": [
            {
                "id": f"{maintenance.public_id}-1",
                "status": "scheduled",
                "body": maintenance.body or maintenance.title,
                "incident_id": maintenance.public_id,
                "created_at": maintenance.created_at.isoformat(),
                "updated_at": maintenance.created_at.isoformat(),
                "display_at": maintenance.created_at.isoformat(),
                "affected_components": None,
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
        ],
        "components": _affected(view, maintenance.components),
    }


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def status_json(view: StatusView, origin: str) -> bytes:
    indicator = view.indicator
    return _json(
        {
            "page": _page(view, origin),
            "status": {"indicator": indicator.indicator, "description": indicator.description},
        }
    )


def summary_json(view: StatusView, origin: str) -> bytes:
    indicator = view.indicator
    return _json(
        {
            "page": _page(view, origin),
            "components": [_component(view, c) for c in view.components] + _groups(view),
            "incidents": [_incident(view, i, origin) for i in view.open_incidents],
            "scheduled_maintenances": [_maintenance(view, m, origin) for m in view.maintenances],
            "status": {"indicator": indicator.indicator, "description": indicator.description},
        }
    )


def incidents_json(view: StatusView, origin: str) -> bytes:
    return _json(
        {
            "page": _page(view, origin),
            "incidents": [_incident(view, i, origin) for i in view.incidents[:LISTED_INCIDENTS]],
        }
    )
