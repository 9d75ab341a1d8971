"""Alertmanager webhook v4 bodies for tests, shaped as Alertmanager sends them."""

from __future__ import annotations

from typing import Any

FIRING_END = "0001-01-01T00:00:00Z"


def alert(
    fingerprint: str,
    *,
    status: str = "firing",
    alertname: str = "HighErrorRate",
    severity: str = "warning",
    service: str = "records-service",
    namespace: str = "factsway-prod",
    starts_at: str = "2026-03-01T02:00:00Z",
    ends_at: str | None = None,
    summary: str = "Error rate above 5%",
    **labels: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": alertname,
            "severity": severity,
            "service": service,
            "namespace": namespace,
            "pod": f"{service}-{fingerprint}",
            **labels,
        },
        "annotations": {
            "summary": summary,
            "description": "5xx responses over 5% of requests for 5 minutes",
            "runbook_url": "https://runbooks.example/high-error-rate",
            "dashboard_url": "https://grafana.example/d/services",
        },
        "startsAt": starts_at,
        "endsAt": ends_at or (FIRING_END if status == "firing" else "2026-03-01T02:12:00Z"),
        "generatorURL": "http://prometheus.example/graph?g0.expr=x",
        "fingerprint": fingerprint,
    }


def notification(
    group: str,
    alerts: list[dict[str, Any]],
    *,
    receiver: str = "incident-bot",
    alertname: str = "HighErrorRate",
) -> dict[str, Any]:
    for a in alerts:
        a["labels"].setdefault("group", group)
    firing = any(a["status"] == "firing" for a in alerts)
    common = {"alertname": alertname, "namespace": "factsway-prod"}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}", group="{group}"}}',
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": {"alertname": alertname, "group": group},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": alerts,
    }
