"""The post-mortem draft: the runbook's template filled from an incident and its timeline.

Pure: it decides what the review needs (the story as key events, root cause, what changed
production, the follow-ups, the response times and the evidence the responders saw); the
Markdown (postmortem_markdown.py) and the Word export read the same model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.evidence import AlertWindow, Evidence, collect
from bot.domain.incident import Incident, format_duration
from bot.domain.paging import OUTSIDE_HOURS, RAISE_TO_PAGE
from bot.domain.response_times import Milestone, ResponseTimes, response_times
from bot.domain.timeline import EventKind, TimelineEvent

# Kinds that make the timeline even when not marked key; chatter and reminders do not. Every
# status update is there: it is what the responders said was happening, as it happened.
TIMELINE_KINDS = {
    EventKind.STATUS_UPDATE,
    EventKind.ALERT,
    EventKind.DECLARED,
    EventKind.PAGE,
    EventKind.SEVERITY_CHANGED,
    EventKind.ACTION,
    EventKind.RESOLVED,
    EventKind.CLOSED,
}
# Who acted when no person did: the names the bot records for its own entry points. A draft
# never calls one of these the incident commander.
TOOLS = {"api", "cli", "alertmanager", "incident-bot", "grafana", "pagerduty", "slack", ""}
PROMPTS_WENT_WELL = [
    "What helped us notice, understand or fix this quickly?",
    "Which alerts, dashboards or playbooks pointed the right way?",
]
PROMPTS_IMPROVE = [
    "What slowed detection, diagnosis or mitigation?",
    "What would have prevented this, or made it smaller?",
    "Which alert, runbook step or tool was missing or misleading?",
]
FILL_IN = "_(to be filled in at the review)_"
TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Entry:
    at: datetime
    text: str
    actor: str


@dataclass(frozen=True)
class FollowUp:
    text: str
    owner: str | None


@dataclass(frozen=True)
class PostMortem:
    title: str
    date: datetime
    duration: str
    severity: str
    commander: str
    summary: str
    services: tuple[str, ...]
    alerts: tuple[str, ...]
    timeline: tuple[Entry, ...]
    root_cause: tuple[str, ...]
    resolution: tuple[Entry, ...]
    follow_ups: tuple[FollowUp, ...]
    times: ResponseTimes
    open: bool
    evidence: Evidence


def _is_root_cause(event: TimelineEvent) -> bool:
    text = event.text.lower().lstrip("📌 ").removeprefix("pinned: ")
    return text.startswith(("root cause", "rca:", "cause:")) or bool(event.data.get("root_cause"))


def _clean_root_cause(text: str) -> str:
    text = text.removeprefix("📌 ").removeprefix("pinned: ")
    for prefix in ("root cause:", "root cause -", "root cause", "rca:", "cause:"):
        if text.lower().startswith(prefix):
            return text[len(prefix) :].strip()
    return text.strip()


def page_fact(text: str) -> str:
    """A paging note as one line of fact: the advice it gave the channel is not history."""
    text = text.replace(RAISE_TO_PAGE, "").replace(OUTSIDE_HOURS, ", and it was outside them")
    if text.startswith("Should page (") and "PagerDuty is not configured" in text:
        reason = text.removeprefix("Should page (").split(")", 1)[0]
        return f"Not paged: PagerDuty is not configured ({reason})"
    return text.removesuffix(".")


def _entry_text(event: TimelineEvent) -> str:
    if event.kind == EventKind.DECLARED:
        return f"Incident declared ({event.data.get('severity', '?')})"
    if event.kind == EventKind.ALERT:
        return f"Alert linked: {event.text.removeprefix('alert group linked: ')}"
    if event.kind == EventKind.PAGE:
        return page_fact(event.text)
    if event.kind == EventKind.RESOLVED:
        return f"Resolved: {event.text}"
    if event.kind == EventKind.STATUS_UPDATE and _is_root_cause(event):
        return f"Root cause identified: {_clean_root_cause(event.text)}"
    if event.kind == EventKind.STATUS_UPDATE:
        return f"Update: {event.text}"
    return event.text


def _changed_production(event: TimelineEvent) -> bool:
    return event.kind == EventKind.ACTION and event.data.get("succeeded") is True


def build(
    incident: Incident,
    events: Sequence[TimelineEvent],
    now: datetime,
    alerts: Sequence[AlertWindow] = (),
) -> PostMortem:
    """`alerts`: the linked alert groups' firing windows, read from the store by the caller."""
    timeline = tuple(
        Entry(e.at, _entry_text(e), e.actor) for e in events if e.kind in TIMELINE_KINDS or e.key
    )
    root_cause = tuple(
        _clean_root_cause(e.text)
        for e in events
        if e.kind in (EventKind.STATUS_UPDATE, EventKind.MESSAGE) and _is_root_cause(e)
    )
    resolution = tuple(Entry(e.at, e.text, e.actor) for e in events if _changed_production(e))
    follow_ups = tuple(
        FollowUp(e.text, e.data.get("owner")) for e in events if e.kind == EventKind.FOLLOW_UP
    )
    names = tuple(
        dict.fromkeys(
            e.text.removeprefix("alert group linked: ") for e in events if e.kind == EventKind.ALERT
        )
    )
    return PostMortem(
        title=incident.title,
        date=incident.declared_at,
        duration=format_duration(incident.duration(now)),
        severity=str(incident.severity),
        commander=incident.commander,
        summary=incident.summary or incident.description,
        services=incident.services,
        alerts=names,
        timeline=timeline,
        root_cause=root_cause,
        resolution=resolution,
        follow_ups=follow_ups,
        times=response_times(incident, events),
        open=incident.is_open,
        evidence=collect(events, alerts),
    )


def who(user: str | None, names: Mapping[str, str]) -> str:
    """A person as the document names them: their display name where it is known."""
    if not user:
        return "unassigned"
    return names.get(user, user)


def commander_line(commander: str, names: Mapping[str, str]) -> str:
    """The commander as a person; a tool's name ("cli", "api") is not one, so the review fills
    it in rather than read that the API led the incident."""
    if commander.strip().lower() in TOOLS:
        where = f" (declared through {commander})" if commander.strip() else ""
        return f"not named{where} {FILL_IN}"
    return who(commander, names)


def span(seconds: float | None) -> str:
    """A duration down to the second: "42 s", "4 min 12 s", "2 h 5 min", "3 d 2 h"."""
    if seconds is None:
        return "n/a"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    mins, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min"
    if mins:
        return f"{mins} min {secs} s"
    return f"{secs} s"


def response_line(
    label: str,
    times: ResponseTimes,
    milestone: Milestone | None,
    missing: str,
    names: Mapping[str, str],
) -> str:
    """ "Time to acknowledge: 4 min 12 s (PagerDuty acknowledgement by Dana at 02:14:07)"."""
    if milestone is None:
        return f"{label}: n/a ({missing})"
    by = (
        f" by {who(milestone.actor, names)}" if milestone.actor.strip().lower() not in TOOLS else ""
    )
    when = f"{milestone.at:%H:%M:%S}"
    if milestone.at.date() != times.started.date():
        when = f"{milestone.at:{TIME}}"
    return f"{label}: {span(times.since(milestone))} ({milestone.what}{by} at {when})"


def response_lines(times: ResponseTimes, names: Mapping[str, str]) -> list[str]:
    return [
        f"Measured from {times.started_by} at {times.started:{TIME}} UTC.",
        response_line(
            "Time to acknowledge", times, times.acknowledged, "no acknowledgement recorded", names
        ),
        response_line("Time to mitigate", times, times.mitigated, "no mitigation recorded", names),
        response_line("Time to resolve", times, times.resolved, "not resolved yet", names),
    ]
