"""The evidence a post-mortem appends: what each playbook run and platform action showed while
the incident lasted, and the alert groups linked to it with their firing window.

A playbook run's steps are kept in its timeline event (`run_data`), so the draft shows what the
responders saw then, not what the platform says now; a platform action's event already holds
its before, after and result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.report import Line, from_data, to_data
from bot.domain.timeline import EventKind, TimelineEvent

# A step's full output is kept up to this many characters: enough for a log tail or a
# describe, bounded so one run cannot bloat every timeline read.
MAX_DETAILS = 64_000
TRUNCATED = "\n… (output cut at {limit:,} characters)"


@dataclass(frozen=True)
class StepSeen:
    title: str
    kind: str
    outcome: str  # ok, problem, failed, timeout, unavailable
    seconds: float
    lines: tuple[Line, ...]
    details: str  # the full output, when the step had more than its summary lines


@dataclass(frozen=True)
class PlaybookRun:
    at: datetime
    actor: str
    playbook: str
    service: str | None
    steps: tuple[StepSeen, ...]

    @property
    def attention(self) -> int:
        return sum(step.outcome != "ok" for step in self.steps)


@dataclass(frozen=True)
class PlatformAction:
    at: datetime
    actor: str
    text: str
    succeeded: bool
    before: str
    after: str
    result: str
    confirmed_by: tuple[str, ...]


@dataclass(frozen=True)
class AlertWindow:
    """An alert group linked to the incident and when it fired."""

    name: str
    group_id: str
    firing_from: datetime | None
    firing_until: datetime | None  # None while it still fires
    alerts: int
    url: str = ""


@dataclass(frozen=True)
class Evidence:
    runs: tuple[PlaybookRun, ...]
    actions: tuple[PlatformAction, ...]
    alerts: tuple[AlertWindow, ...]

    @property
    def empty(self) -> bool:
        return not (self.runs or self.actions or self.alerts)


def run_data(playbook: str, service: str | None, steps: Iterable[StepSeen]) -> dict[str, Any]:
    """A playbook run as its timeline event keeps it."""
    kept = []
    for step in steps:
        details = step.details
        if len(details) > MAX_DETAILS:
            details = details[:MAX_DETAILS] + TRUNCATED.format(limit=MAX_DETAILS)
        kept.append(
            {
                "title": step.title,
                "kind": step.kind,
                "outcome": step.outcome,
                "seconds": round(step.seconds, 3),
                "lines": to_data(step.lines),
                "details": details,
            }
        )
    return {"playbook": playbook, "service": service, "steps": kept}


def _steps(data: object) -> tuple[StepSeen, ...]:
    if not isinstance(data, list):
        return ()
    found = []
    for item in data:
        if not isinstance(item, dict):
            continue
        try:
            seconds = float(item.get("seconds", 0.0))
        except (TypeError, ValueError):
            seconds = 0.0
        found.append(
            StepSeen(
                str(item.get("title", "")),
                str(item.get("kind", "")),
                str(item.get("outcome", "")),
                seconds,
                from_data(item.get("lines")),
                str(item.get("details") or ""),
            )
        )
    return tuple(found)


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return "" if value is None else str(value)


def collect(events: Sequence[TimelineEvent], alerts: Sequence[AlertWindow] = ()) -> Evidence:
    runs, actions = [], []
    for event in events:
        if event.kind != EventKind.ACTION:
            continue
        if event.data.get("playbook"):
            service = event.data.get("service")
            runs.append(
                PlaybookRun(
                    event.at,
                    event.actor,
                    str(event.data["playbook"]),
                    str(service) if service else None,
                    _steps(event.data.get("steps")),
                )
            )
        elif "succeeded" in event.data:
            confirmed = event.data.get("confirmed_by")
            actions.append(
                PlatformAction(
                    event.at,
                    event.actor,
                    event.text,
                    event.data.get("succeeded") is True,
                    _text(event.data, "before"),
                    _text(event.data, "after"),
                    _text(event.data, "result"),
                    tuple(str(c) for c in confirmed) if isinstance(confirmed, list) else (),
                )
            )
    return Evidence(tuple(runs), tuple(actions), tuple(alerts))


def linked_groups(events: Sequence[TimelineEvent]) -> list[str]:
    """The ids of the alert groups linked to the incident, first linked first."""
    ids = (e.data.get("alert_group") for e in events if e.kind == EventKind.ALERT)
    return list(dict.fromkeys(str(i) for i in ids if i))
