"""Alert groups as responders see them: current state, what changed, and where to look."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

SEVERITY_RANK = {
    "critical": 4,
    "page": 4,
    "error": 3,
    "high": 3,
    "warning": 2,
    "medium": 2,
    "info": 1,
    "low": 1,
    "none": 0,
}
SERVICE_LABELS = ("service", "app", "app_kubernetes_io_name", "deployment", "job", "container")


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    status: str  # "firing" | "resolved"
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    # Links the sender gave this alert (Grafana: silence, dashboard, panel, image).
    links: tuple[Link, ...] = ()
    # What the rule saw when it fired (Grafana: each query's value), shown as text.
    values: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "alert")

    def link(self, label: str) -> str:
        return next((each.url for each in self.links if each.label == label), "")


@dataclass(frozen=True)
class GroupView:
    """Everything the parent message of an alert thread shows."""

    group_key: str
    status: str
    severity: str
    title: str
    firing: int
    resolved: int
    summary: str
    description: str
    services: tuple[str, ...]
    namespace: str
    links: tuple[Link, ...]
    started_at: datetime | None
    resolved_at: datetime | None
    alerts: tuple[Alert, ...] = field(default=(), repr=False)
    # Alerts of the group the last notification left out (Alertmanager's max_alerts): their
    # state is unknown, so the group is not resolved while there are any.
    unseen: int = 0

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.resolved_at is None:
            return None
        return max(0.0, (self.resolved_at - self.started_at).total_seconds())


@dataclass(frozen=True)
class Changes:
    newly_firing: tuple[Alert, ...]
    newly_resolved: tuple[Alert, ...]

    def __bool__(self) -> bool:
        return bool(self.newly_firing or self.newly_resolved)


def worst_severity(alerts: Iterable[Alert]) -> str:
    found = [a.labels.get("severity", "none").lower() for a in alerts]
    return max(found, key=lambda s: SEVERITY_RANK.get(s, 0), default="none")


def affected_services(alerts: Iterable[Alert], known: Mapping[str, str]) -> tuple[str, ...]:
    """Services named by the alerts' labels, as the config calls them. `known` maps every
    name a service goes by (short name, deployment) to its short name."""
    found: list[str] = []
    for alert in alerts:
        for label in SERVICE_LABELS:
            value = alert.labels.get(label)
            name = known.get(value) if value else None
            if name and name not in found:
                found.append(name)
    return tuple(found)


_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = 0xFF  # a byte that cannot occur in UTF-8, between names and values


def fingerprint(labels: Mapping[str, str]) -> str:
    """The fingerprint Alertmanager gives an alert: FNV-1a (64-bit) over the label names in
    order, each followed by its value, every string followed by 0xff, as 16 hex digits
    (prometheus/common model.LabelSet.Fingerprint). Alertmanager before 0.19 sends none."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
            h = ((h ^ _SEPARATOR) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


MAX_SILENCES = 20  # one silence per alert beyond this is no longer something to review


def silence_matchers(
    group_labels: Mapping[str, str], alerts: Sequence[Alert]
) -> list[dict[str, str]]:
    """Label sets that silence the thread's alerts and, as far as labels can tell, no others.

    The group labels alone would silence far more (with `group_by: [alertname]`, every
    TargetDown of every team). The labels every firing alert shares narrow it when they say
    more than the group labels do; else one exact set per alert, up to MAX_SILENCES. Empty
    when neither is possible (too many alerts with nothing in common)."""
    chosen = [a for a in alerts if a.status == "firing"] or list(alerts)
    if not chosen:
        return []
    common = dict(chosen[0].labels)
    for alert in chosen[1:]:
        common = {k: v for k, v in common.items() if alert.labels.get(k) == v}
    if set(common) - set(group_labels) or len(chosen) == 1:
        return [common]
    if len(chosen) <= MAX_SILENCES:
        unique = {tuple(sorted(a.labels.items())): dict(a.labels) for a in chosen}
        return list(unique.values())
    return []


def matchers_text(labels: Mapping[str, str]) -> str:
    """As Alertmanager writes a matcher set: {alertname="X", job="y"}."""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def silence_url(external_url: str, labels: Mapping[str, str]) -> str:
    """Alertmanager's own "new silence" form, prefilled with the group's labels."""
    matchers = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{external_url.rstrip('/')}/#/silences/new?filter={quote('{' + matchers + '}')}"


def _first(alerts: Sequence[Alert], key: str, common: Mapping[str, str]) -> str:
    if common.get(key):
        return common[key]
    for alert in alerts:
        if alert.annotations.get(key):
            return alert.annotations[key]
    return ""


def summarize(
    group_key: str,
    alerts: Sequence[Alert],
    *,
    common_labels: Mapping[str, str],
    common_annotations: Mapping[str, str],
    external_url: str,
    known_services: Mapping[str, str],
    unseen: int = 0,
) -> GroupView:
    firing = [a for a in alerts if a.status == "firing"]
    resolved = [a for a in alerts if a.status != "firing"]
    names = sorted({a.name for a in alerts})
    title = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
    starts = [a.starts_at for a in alerts if a.starts_at is not None]
    ends = [a.ends_at for a in resolved if a.ends_at is not None]
    links: list[Link] = []
    for alert in alerts[:1]:
        if alert.generator_url:
            links.append(Link("Source", alert.generator_url))
    for key, label in (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard")):
        url = _first(alerts, key, common_annotations) or _first_link(alerts, label)
        if url:
            links.append(Link(label, url))
    if panel := _first_link(alerts, "Panel"):
        links.append(Link("Panel", panel))
    # A sender's own silence form (Grafana's) knows its alerts; else Alertmanager's, prefilled.
    if silence := _first_link(alerts, "Silence"):
        links.append(Link("Silence", silence))
    elif external_url:
        links.append(Link("Silence", silence_url(external_url, common_labels)))
    namespaces = sorted({a.labels["namespace"] for a in alerts if a.labels.get("namespace")})
    return GroupView(
        group_key=group_key,
        status="firing" if firing or unseen else "resolved",
        severity=worst_severity(firing or alerts),
        title=title,
        firing=len(firing),
        resolved=len(resolved),
        summary=_first(alerts, "summary", common_annotations),
        description=_first(alerts, "description", common_annotations),
        services=affected_services(alerts, known_services),
        namespace=", ".join(namespaces),
        links=tuple(links),
        started_at=min(starts) if starts else None,
        resolved_at=max(ends) if ends and not firing and not unseen else None,
        alerts=tuple(alerts),
        unseen=unseen,
    )


def _first_link(alerts: Sequence[Alert], label: str) -> str:
    return next((url for a in alerts if (url := a.link(label))), "")


def diff(posted: Mapping[str, str], alerts: Iterable[Alert]) -> Changes:
    """What changed since the thread last showed `posted` (fingerprint -> status)."""
    newly_firing: list[Alert] = []
    newly_resolved: list[Alert] = []
    for alert in alerts:
        before = posted.get(alert.fingerprint)
        if alert.status == "firing" and before != "firing":
            newly_firing.append(alert)
        elif alert.status != "firing" and before == "firing":
            newly_resolved.append(alert)
    return Changes(tuple(newly_firing), tuple(newly_resolved))
