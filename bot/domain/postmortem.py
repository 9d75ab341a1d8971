"""The post-mortem draft: the runbook's template filled from an incident and its timeline.

Pure: it decides what the review needs (key events, root cause, what changed production, the
follow-ups, the response times) and renders Markdown; the Word export reads the same model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.incident import Incident, format_duration
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
class ResponseTimes:
    started: datetime  # the first alert, or the declaration when no alert came first
    to_acknowledge: float | None
    to_mitigate: float | None
    to_resolve: float | None


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


def _is_root_cause(event: TimelineEvent) -> bool:
    text = event.text.lower().lstrip("📌 ").removeprefix("pinned: ")
    return text.startswith(("root cause", "rca:", "cause:")) or bool(event.data.get("root_cause"))


def _clean_root_cause(text: str) -> str:
    text = text.removeprefix("📌 ").removeprefix("pinned: ")
    for prefix in ("root cause:", "root cause -", "root cause", "rca:", "cause:"):
        if text.lower().startswith(prefix):
            return text[len(prefix) :].strip()
    return text.strip()


def _entry_text(event: TimelineEvent) -> str:
    if event.kind == EventKind.DECLARED:
        return f"Incident declared ({event.data.get('severity', '?')})"
    if event.kind == EventKind.ALERT:
        return f"Alert linked: {event.text.removeprefix('alert group linked: ')}"
    if event.kind == EventKind.PAGE:
        return event.text
    if event.kind == EventKind.RESOLVED:
        return f"Resolved: {event.text}"
    if event.kind == EventKind.STATUS_UPDATE and _is_root_cause(event):
        return f"Root cause identified: {_clean_root_cause(event.text)}"
    if event.kind == EventKind.STATUS_UPDATE:
        return f"Update: {event.text}"
    return event.text


def _changed_production(event: TimelineEvent) -> bool:
    return event.kind == EventKind.ACTION and "succeeded" in event.data


def response_times(incident: Incident, events: Sequence[TimelineEvent]) -> ResponseTimes:
    alerts = [e.at for e in events if e.kind == EventKind.ALERT]
    started = min([*alerts, incident.declared_at])

    def since(moment: datetime | None) -> float | None:
        return None if moment is None else max(0.0, (moment - started).total_seconds())

    acked = next(
        (e.at for e in events if e.kind == EventKind.ACTION and "acknowledged" in e.text.lower()),
        None,
    )
    if acked is None:
        acked = next(
            (e.at for e in events if e.kind in (EventKind.STATUS_UPDATE, EventKind.MESSAGE)), None
        )
    mitigated = next(
        (
            e.at
            for e in events
            if (_changed_production(e) and e.data.get("succeeded"))
            or (e.kind == EventKind.STATUS_UPDATE and e.data.get("status") == "monitoring")
        ),
        None,
    )
    return ResponseTimes(started, since(acked), since(mitigated), since(incident.resolved_at))


def build(incident: Incident, events: Sequence[TimelineEvent], now: datetime) -> PostMortem:
    timeline = tuple(
        Entry(e.at, _entry_text(e), e.actor) for e in events if e.kind in TIMELINE_KINDS or e.key
    )
    root_cause = tuple(
        _clean_root_cause(e.text)
        for e in events
        if e.kind in (EventKind.STATUS_UPDATE, EventKind.MESSAGE) and _is_root_cause(e)
    )
    resolution = tuple(
        Entry(e.at, e.text, e.actor)
        for e in events
        if _changed_production(e) and e.data.get("succeeded")
    )
    follow_ups = tuple(
        FollowUp(e.text, e.data.get("owner")) for e in events if e.kind == EventKind.FOLLOW_UP
    )
    alerts = tuple(
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
        alerts=alerts,
        timeline=timeline,
        root_cause=root_cause,
        resolution=resolution,
        follow_ups=follow_ups,
        times=response_times(incident, events),
        open=incident.is_open,
    )


def who(user: str | None, names: Mapping[str, str]) -> str:
    """A person as the document names them: their display name where it is known."""
    if not user:
        return "unassigned"
    return names.get(user, user)


def minutes(seconds: float | None) -> str:
    return "n/a" if seconds is None else format_duration(seconds)


def render_markdown(pm: PostMortem, names: Mapping[str, str] | None = None) -> str:
    names = names or {}
    lines = [
        f"# Post-Mortem: {pm.title}",
        "",
        f"**Date:** {pm.date:%Y-%m-%d}  ",
        f"**Duration:** {pm.duration}{' (still open)' if pm.open else ''}  ",
        f"**Severity:** {pm.severity}  ",
        f"**Incident Commander:** {who(pm.commander, names)}",
        "",
        "## Summary",
        pm.summary or FILL_IN,
        "",
        "## Impact",
        f"- Services affected: {', '.join(pm.services) or 'none named'}",
        f"- Duration: {pm.duration}",
        f"- Alerts: {', '.join(pm.alerts) or 'none linked'}",
        f"- Users affected: {FILL_IN}",
        f"- Revenue impact: {FILL_IN}",
        f"- Data loss: {FILL_IN}",
        "",
        "### Response times",
        f"- Time to acknowledge: {minutes(pm.times.to_acknowledge)}",
        f"- Time to mitigate: {minutes(pm.times.to_mitigate)}",
        f"- Time to resolve: {minutes(pm.times.to_resolve)}",
        "",
        "## Timeline",
        "All times UTC.",
        "",
    ]
    lines += [f"- {e.at:%Y-%m-%d %H:%M} - {e.text} ({who(e.actor, names)})" for e in pm.timeline]
    lines += ["", "## Root Cause"]
    lines += [f"- {cause}" for cause in pm.root_cause] or [FILL_IN]
    lines += ["", "## Resolution"]
    lines += [f"- {e.at:%H:%M} {e.text}" for e in pm.resolution] or [
        "No production change was made through the bot. " + FILL_IN
    ]
    lines += ["", "## Action Items"]
    lines += [
        f"- [ ] {f.text} (Owner: {who(f.owner, names)}, Due: {FILL_IN})" for f in pm.follow_ups
    ] or [f"- [ ] {FILL_IN}"]
    lines += ["", "## Lessons Learned", "", "**What went well?**"]
    lines += [f"- {p}" for p in PROMPTS_WENT_WELL]
    lines += ["", "**What could be improved?**"]
    lines += [f"- {p}" for p in PROMPTS_IMPROVE]
    return "\n".join(lines) + "\n"
