"""Time to acknowledge, mitigate and resolve, each from the event it was measured to.

A review argues about these numbers, so each one names the event it came from ("PagerDuty
acknowledgement by Dana at 02:14:07"); a figure nobody can trace is worse than none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.incident import Incident
from bot.domain.timeline import EventKind, TimelineEvent

# The platform actions that change production: a rollback, a scale or a restart done.
MITIGATIONS = {
    "rollback": "rollback",
    "scale": "scale",
    "restart": "restart",
    "desktop_rollback": "desktop rollback",
}
MONITORING = "monitoring"


@dataclass(frozen=True)
class Milestone:
    at: datetime
    what: str  # the event, in words, without its time
    actor: str


@dataclass(frozen=True)
class ResponseTimes:
    started: datetime  # the first alert, or the declaration when no alert came first
    started_by: str  # what started the clock, in words
    acknowledged: Milestone | None
    mitigated: Milestone | None
    resolved: Milestone | None

    def since(self, milestone: Milestone | None) -> float | None:
        if milestone is None:
            return None
        return max(0.0, (milestone.at - self.started).total_seconds())

    @property
    def to_acknowledge(self) -> float | None:
        return self.since(self.acknowledged)

    @property
    def to_mitigate(self) -> float | None:
        return self.since(self.mitigated)

    @property
    def to_resolve(self) -> float | None:
        return self.since(self.resolved)


def commanders(incident: Incident, events: Sequence[TimelineEvent]) -> set[str]:
    """Everyone who led the incident at some point: the first commander and each named since."""
    found = {incident.commander}
    declared = next((e for e in events if e.kind == EventKind.DECLARED), None)
    if declared is not None:
        found.add(str(declared.data.get("commander") or declared.actor))
    for event in events:
        if event.kind == EventKind.ROLE_CHANGED and event.data.get("role") == "commander":
            found.add(str(event.data.get("user", "")))
    return found


def acknowledgement(event: TimelineEvent, leaders: set[str]) -> str | None:
    """What the event is as an acknowledgement, or None when it is not one."""
    if event.kind == EventKind.ACTION and event.data.get("pagerduty") == "acknowledged":
        return "PagerDuty acknowledgement"
    if event.kind == EventKind.ACTION and event.text.lower().startswith("acknowledged alert"):
        return "alert acknowledgement in its thread"
    if event.kind == EventKind.STATUS_UPDATE and event.actor in leaders:
        return "the commander's first update"
    return None


def mitigation(event: TimelineEvent) -> str | None:
    """What the event is as a mitigation (a change that worked, or "monitoring"), or None."""
    if event.kind == EventKind.ACTION and event.data.get("succeeded") is True:
        kind = str(event.data.get("kind", ""))
        target = str(event.data.get("target", ""))
        done = MITIGATIONS.get(kind, "platform action")
        return f"{done} of {target}" if target else done
    if event.kind == EventKind.STATUS_UPDATE and event.data.get("status") == MONITORING:
        return "status set to monitoring"
    return None


def _first(
    events: Sequence[TimelineEvent], what: Callable[[TimelineEvent], str | None]
) -> Milestone | None:
    for event in events:
        said = what(event)
        if said is not None:
            return Milestone(event.at, said, event.actor)
    return None


def response_times(incident: Incident, events: Sequence[TimelineEvent]) -> ResponseTimes:
    alerts = [e for e in events if e.kind == EventKind.ALERT]
    first_alert = min(alerts, key=lambda e: e.at, default=None)
    if first_alert is not None and first_alert.at < incident.declared_at:
        started, started_by = first_alert.at, "the first alert"
    else:
        started, started_by = incident.declared_at, "the declaration"
    leaders = commanders(incident, events)
    resolved: Milestone | None = None
    if incident.resolved_at is not None:
        said = next((e for e in reversed(events) if e.kind == EventKind.RESOLVED), None)
        actor = said.actor if said is not None else incident.commander
        resolved = Milestone(incident.resolved_at, "resolution", actor)
    return ResponseTimes(
        started,
        started_by,
        _first(events, lambda e: acknowledgement(e, leaders)),
        _first(events, mitigation),
        resolved,
    )
