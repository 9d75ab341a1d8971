"""Alert groups as responders see them: current state, what changed, and where to look."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
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


LISTED_ALERTS = 20  # alerts a thread's parent lists; the rest are counted, not read
MAX_SERVICE_VALUES = 100  # distinct service-label values a summary remembers


@dataclass
class GroupSummary:
    """What a group's thread shows, kept up to date one changed alert at a time, so that a
    change to a group of 20,000 alerts costs what a change to a group of 20 does.

    The counts move with each alert's status; everything else only grows (alerts are never
    deleted): the first annotation or link of each kind, the names, namespaces and service
    label values seen, the earliest start and the latest end of a resolved alert."""

    firing: int = 0
    resolved: int = 0
    firing_severities: dict[str, int] = field(default_factory=dict)
    severities: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    service_values: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    resolved_at: datetime | None = None
    firsts: dict[str, str] = field(default_factory=dict)  # summary, runbook_url, Source, ...

    def add(self, alert: Alert, before: tuple[str, str] | None = None) -> None:
        """Counts `alert` in; `before` is the (status, severity) its stored row had, if any."""
        if before is not None:
            status, severity = before
            if status == "firing":
                self.firing -= 1
                left = self.firing_severities.get(severity, 0) - 1
                if left > 0:
                    self.firing_severities[severity] = left
                else:
                    self.firing_severities.pop(severity, None)
            else:
                self.resolved -= 1
        severity = alert.labels.get("severity", "none").lower()
        if alert.status == "firing":
            self.firing += 1
            self.firing_severities[severity] = self.firing_severities.get(severity, 0) + 1
        else:
            self.resolved += 1
            if alert.ends_at is not None and (
                self.resolved_at is None or alert.ends_at > self.resolved_at
            ):
                self.resolved_at = alert.ends_at
        _grow(self.severities, severity)
        _grow(self.names, alert.name)
        if alert.labels.get("namespace"):
            _grow(self.namespaces, alert.labels["namespace"])
        for label in SERVICE_LABELS:
            value = alert.labels.get(label)
            if value and len(self.service_values) < MAX_SERVICE_VALUES:
                _grow(self.service_values, value)
        if alert.starts_at is not None and (
            self.started_at is None or alert.starts_at < self.started_at
        ):
            self.started_at = alert.starts_at
        if "Source" not in self.firsts:
            self.firsts["Source"] = alert.generator_url
        for key in ("summary", "description", "runbook_url", "dashboard_url"):
            if not self.firsts.get(key) and alert.annotations.get(key):
                self.firsts[key] = alert.annotations[key]
        for each in alert.links:
            self.firsts.setdefault(f"link:{each.label}", each.url)

    def to_json(self) -> dict[str, object]:
        return {
            "firing": self.firing,
            "resolved": self.resolved,
            "firing_severities": self.firing_severities,
            "severities": self.severities,
            "names": self.names,
            "service_values": self.service_values,
            "namespaces": self.namespaces,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "firsts": self.firsts,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupSummary:
        started, ended = data.get("started_at"), data.get("resolved_at")
        return cls(
            firing=int(data.get("firing", 0)),
            resolved=int(data.get("resolved", 0)),
            firing_severities=dict(data.get("firing_severities", {})),
            severities=list(data.get("severities", [])),
            names=list(data.get("names", [])),
            service_values=list(data.get("service_values", [])),
            namespaces=list(data.get("namespaces", [])),
            started_at=datetime.fromisoformat(started) if started else None,
            resolved_at=datetime.fromisoformat(ended) if ended else None,
            firsts=dict(data.get("firsts", {})),
        )


def _grow(values: list[str], value: str) -> None:
    if value not in values:
        values.append(value)


def summarize_group(
    group_key: str,
    summary: GroupSummary,
    listed: Sequence[Alert],
    *,
    common_labels: Mapping[str, str],
    common_annotations: Mapping[str, str],
    external_url: str,
    known_services: Mapping[str, str],
    unseen: int = 0,
) -> GroupView:
    """The view `summarize` would give, from a group's summary and the few alerts it lists:
    no alert beyond those is read."""
    names = sorted(summary.names) or ["alert"]
    title = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
    firsts = summary.firsts
    links: list[Link] = []
    if firsts.get("Source"):
        links.append(Link("Source", firsts["Source"]))
    for key, label in (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard")):
        url = common_annotations.get(key) or firsts.get(key) or firsts.get(f"link:{label}")
        if url:
            links.append(Link(label, url))
    if panel := firsts.get("link:Panel"):
        links.append(Link("Panel", panel))
    if silence := firsts.get("link:Silence"):
        links.append(Link("Silence", silence))
    elif external_url:
        links.append(Link("Silence", silence_url(external_url, common_labels)))
    severities = summary.firing_severities if summary.firing else summary.severities
    services: list[str] = []
    for value in summary.service_values:
        name = known_services.get(value)
        if name and name not in services:
            services.append(name)
    return GroupView(
        group_key=group_key,
        status="firing" if summary.firing or unseen else "resolved",
        severity=max(severities, key=lambda s: SEVERITY_RANK.get(s, 0), default="none"),
        title=title,
        firing=summary.firing,
        resolved=summary.resolved,
        summary=common_annotations.get("summary") or firsts.get("summary", ""),
        description=common_annotations.get("description") or firsts.get("description", ""),
        services=tuple(services),
        namespace=", ".join(sorted(summary.namespaces)),
        links=tuple(links),
        started_at=summary.started_at,
        resolved_at=summary.resolved_at if not summary.firing and not unseen else None,
        alerts=tuple(listed),
        unseen=unseen,
    )
