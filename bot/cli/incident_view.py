"""How an incident and its timeline read in a terminal, and as JSON for scripts (the JSON API's
own shapes, so a script reads the same fields from either)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.domain.incident import Incident, format_duration
from bot.domain.incident_json import event_json, incident_json
from bot.domain.timeline import EventKind, TimelineEvent

TIME = "%Y-%m-%d %H:%M:%S"


def summary_line(incident: Incident) -> str:
    """One incident on one line; scripts that predate --json read its first word."""
    return f"#{incident.id} {incident.severity} {incident.status:<13} {incident.title}"


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME)


def event_text(event: TimelineEvent) -> str:
    """An event as the timeline recorded it, with what its data adds to the words."""
    text = event.text
    if event.kind == EventKind.STATUS_UPDATE and event.data.get("status"):
        text = f"{text} [{event.data['status']}]"
    if event.kind == EventKind.FOLLOW_UP and event.data.get("owner"):
        text = f"{text} (owner {event.data['owner']})"
    if event.public and event.kind == EventKind.STATUS_UPDATE:
        text = f"{text} (public)"
    return text


def event_line(event: TimelineEvent) -> str:
    head = f"  {_at(event.at)}  {event.kind:<17} {event.actor or '-'}: "
    first, *more = event_text(event).split("\n")
    return "\n".join([head + first, *(" " * len(head) + ln for ln in more)])


def incident_text(incident: Incident, events: Sequence[TimelineEvent], now: datetime) -> str:
    roles = ", ".join(f"{r} {p}" for r, p in sorted(incident.roles.items()) if r != "commander")
    facts: list[tuple[str, str]] = [
        ("declared", f"{_at(incident.declared_at)} UTC by {incident.declared_by}"),
        ("commander", incident.commander),
        ("roles", roles or "none besides the commander"),
        ("services", ", ".join(incident.services) or "none named"),
        ("channel", f"#{incident.channel_name or incident.channel_id}")
        if incident.channel_id
        else ("channel", "none"),
    ]
    if incident.description:
        facts.append(("description", incident.description))
    if incident.resolved_at is not None:
        took = format_duration(incident.duration(now))
        facts.append(("resolved", f"{_at(incident.resolved_at)} UTC, after {took}"))
    else:
        facts.append(("open for", format_duration(incident.duration(now))))
    if incident.summary:
        facts.append(("summary", incident.summary))
    return "\n".join(
        [
            summary_line(incident),
            *(f"  {name:<12}{value}" for name, value in facts),
            "",
            f"Timeline ({len(events)} events, UTC):",
            *(event_line(e) for e in events),
        ]
    )


def incident_with(incident: Incident, key: str, events: Sequence[TimelineEvent]) -> dict[str, Any]:
    """The API's incident, with events under `key` ("timeline" for show, "recorded" for what
    a command just wrote)."""
    return {**incident_json(incident), key: [event_json(e) for e in events]}
