"""Alerts and alert groups as both stores keep them: what a delivery writes, and rows read back
as records. Pure, so the SQLite and PostgreSQL stores cannot drift apart."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.domain.alerts import Alert, GroupSummary, Link
from bot.store.columns import from_json_text, iso, json_text
from bot.store.records import AlertGroupState

GROUP_FIELDS = {"acked_by", "incident_id", "pd_incident_id"}
DIGEST_OPEN_FOR = timedelta(minutes=30)
ALERT_SOURCES = ("alertmanager", "grafana")

# A sender's per-alert links (Grafana's webhook), by the label the thread shows them under.
SENDER_LINKS = {
    "silenceURL": "Silence",
    "dashboardURL": "Dashboard",
    "panelURL": "Panel",
    "imageURL": "Image",
}


def group_id_of(group_key: str) -> str:
    """A short stable id for buttons and message keys; group keys can be long."""
    return hashlib.sha256(group_key.encode()).hexdigest()[:20]


def dedup_hash_of(group_key: str) -> str:
    """What Alertmanager sends PagerDuty as dedup_key: the SHA-256 of the group key."""
    return hashlib.sha256(group_key.encode()).hexdigest()


def alert_time(value: str | None) -> datetime | None:
    if not value or value.startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def alert_record(row: Mapping[str, Any]) -> Alert:
    return Alert(
        fingerprint=row["fingerprint"],
        status=row["status"],
        labels=(from_json_text(row["labels"]) or {}),
        annotations=(from_json_text(row["annotations"]) or {}),
        starts_at=alert_time(row["starts_at"]),
        ends_at=alert_time(row["ends_at"]),
        generator_url=row["generator_url"] or "",
        **extra_fields(row["extra"]),
    )


def extra_of(alert: Mapping[str, Any]) -> dict[str, Any]:
    """What an alert of a delivery carries beyond Alertmanager's fields, as stored."""
    extra: dict[str, Any] = {k: alert[k] for k in SENDER_LINKS if alert.get(k)}
    if alert.get("values"):
        extra["values"] = alert["values"]
    return extra


def extra_fields(stored: str | dict[str, Any] | None) -> dict[str, Any]:
    """The Alert fields a stored extra column fills in."""
    if not stored:
        return {}
    extra = dict(stored) if isinstance(stored, dict) else from_json_text(stored)
    values = extra.pop("values", None) or {}
    return {
        "links": tuple(
            Link(SENDER_LINKS[k], str(v)) for k, v in extra.items() if k in SENDER_LINKS
        ),
        "values": {str(k): str(v) for k, v in values.items()},
    }


def sent_alert(alert: Mapping[str, Any], extra: dict[str, Any]) -> Alert:
    """An alert of a delivery's body as the store will read it back."""
    return Alert(
        fingerprint=str(alert.get("fingerprint", "")),
        status=str(alert.get("status", "")),
        labels=alert.get("labels") or {},
        annotations=alert.get("annotations") or {},
        starts_at=alert_time(alert.get("startsAt")),
        ends_at=alert_time(alert.get("endsAt")),
        generator_url=alert.get("generatorURL") or "",
        **extra_fields(extra),
    )


def severity_of(labels: Mapping[str, Any]) -> str:
    return str(labels.get("severity", "none")).lower()


def stored_state(status: object, labels: str | None) -> tuple[str, str]:
    """(status, severity) of a stored alert row: what its change takes out of the summary."""
    return str(status), severity_of(from_json_text(labels) or {})


def folded_summary(rows: Iterable[Mapping[str, Any]]) -> GroupSummary:
    """A group's summary folded from its stored alert rows, in id order."""
    summary = GroupSummary()
    for row in rows:
        summary.add(alert_record(row))
    return summary


def alert_params(
    group_key: str, alert: Mapping[str, Any], at: datetime, version: int, extra: dict[str, Any]
) -> list[Any]:
    """An alerts row of a delivery, in the order of both stores' upsert columns: group_key,
    fingerprint, status, labels, annotations, starts_at, ends_at, generator_url, updated_at,
    extra, changed_version."""
    return [
        group_key,
        alert.get("fingerprint", ""),
        alert.get("status", ""),
        json_text(alert.get("labels", {})),
        json_text(alert.get("annotations", {})),
        alert.get("startsAt"),
        alert.get("endsAt"),
        alert.get("generatorURL"),
        iso(at),
        json_text(extra) if extra else None,
        version,
    ]


def group_values(
    body: Mapping[str, Any], at: datetime, version: int, summary: GroupSummary
) -> dict[str, Any]:
    """The alert_groups columns every delivery sets."""
    # Alerts the notification left out (max_alerts) may still fire: not resolved yet.
    unseen = int(body.get("truncatedAlerts") or 0)
    common_labels = json_text(body.get("commonLabels", {}))
    return {
        "receiver": body.get("receiver", ""),
        "status": "firing" if summary.firing or unseen else "resolved",
        "truncated_alerts": unseen,
        "group_labels": json_text(body.get("groupLabels", {})),
        "common_labels": common_labels,
        "common_annotations": json_text(body.get("commonAnnotations", {})),
        "external_url": body.get("externalURL", ""),
        "labels": common_labels,
        "last_seen": iso(at),
        "summary": json_text(summary.to_json()),
        "version": version,
    }


def new_group_values(group_key: str, at: datetime) -> dict[str, Any]:
    """The alert_groups columns only a group's first delivery sets."""
    return {
        "group_key": group_key,
        "group_id": group_id_of(group_key),
        "dedup_hash": dedup_hash_of(group_key),
        "payload": "{}",
        "first_seen": iso(at),
        "synced_version": 0,
    }


def group_record(
    row: Mapping[str, Any],
    alerts: Sequence[Alert],
    changed: Sequence[Alert] | None = None,
    posted: Mapping[str, str] | None = None,
) -> AlertGroupState:
    return AlertGroupState(
        group_key=row["group_key"],
        group_id=row["group_id"],
        receiver=row["receiver"] or "",
        status=row["status"] or "",
        channel=row["channel"],
        group_labels=(from_json_text(row["group_labels"]) or {}),
        common_labels=(from_json_text(row["common_labels"]) or {}),
        common_annotations=(from_json_text(row["common_annotations"]) or {}),
        external_url=row["external_url"] or "",
        first_seen=datetime.fromisoformat(row["first_seen"]),
        last_seen=datetime.fromisoformat(row["last_seen"]),
        version=row["version"],
        synced_version=row["synced_version"],
        posted_state=posted if posted is not None else (from_json_text(row["posted_state"]) or {}),
        posted_view=row["posted_view"],
        acked_by=row["acked_by"],
        incident_id=row["incident_id"],
        digest_key=row["digest_key"],
        pd_incident_id=row["pd_incident_id"],
        alerts=tuple(alerts),
        truncated_alerts=row["truncated_alerts"] or 0,
        summary=GroupSummary.from_json(from_json_text(row["summary"])) if row["summary"] else None,
        changed=tuple(changed) if changed is not None else None,
    )


def changed_group(
    row: Mapping[str, Any],
    listed: Sequence[Mapping[str, Any]],
    changed: Sequence[Mapping[str, Any]],
) -> AlertGroupState:
    """A dirty group as a sync reads it: the alerts its parent lists, those changed since the
    last sync, and what the thread showed of the changed ones."""
    posted = {a["fingerprint"]: a["posted_status"] for a in changed if a["posted_status"]}
    return group_record(
        row, [alert_record(a) for a in listed], [alert_record(a) for a in changed], posted
    )


def api_alert(row: dict[str, Any]) -> dict[str, Any]:
    """An alerts row as the API lists it: labels and annotations as objects."""
    row["labels"] = json.loads(row["labels"] or "{}")
    row["annotations"] = json.loads(row["annotations"] or "{}")
    return row
