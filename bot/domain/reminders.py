"""Which reminders an incident is owed now, derived from its timeline so restarts lose none."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.incident import Incident, Severity, Status
from bot.domain.timeline import EventKind, TimelineEvent

UPDATE_DUE = "update_due"
NOTIFY_CUSTOMERS = "notify_customers"
MONITOR_CHECK = "monitor_check"
MONITOR_AFTER = timedelta(hours=1)
REVIEW_DUE = "review_due"
REVIEW_REMINDER_AFTER = timedelta(days=4)
REVIEW_WITHIN = timedelta(days=7)


@dataclass(frozen=True)
class ReminderPolicy:
    update_every: dict[Severity, timedelta]  # severities that want regular updates
    customer_notice_after: dict[Severity, timedelta]


@dataclass(frozen=True)
class Reminder:
    kind: str
    text: str


def _sent(events: Sequence[TimelineEvent], kind: str) -> list[TimelineEvent]:
    return [e for e in events if e.kind == EventKind.REMINDER and e.data.get("reminder") == kind]


def due(
    incident: Incident, events: Sequence[TimelineEvent], policy: ReminderPolicy, now: datetime
) -> list[Reminder]:
    owed: list[Reminder] = []
    if incident.is_open:
        every = policy.update_every.get(incident.severity)
        if every is not None:
            last = max(
                (
                    e.at
                    for e in events
                    if e.kind in (EventKind.STATUS_UPDATE, EventKind.DECLARED)
                    or (e.kind == EventKind.REMINDER and e.data.get("reminder") == UPDATE_DUE)
                ),
                default=incident.declared_at,
            )
            if now - last >= every:
                minutes = int((now - last).total_seconds() // 60)
                owed.append(
                    Reminder(
                        UPDATE_DUE,
                        f":hourglass: No status update for {minutes} minutes"
                        f" on this {incident.severity}."
                        " Post one with `/incident update <text>`: the runbook asks for one every"
                        f" {int(every.total_seconds() // 60)} minutes.",
                    )
                )
        notice = policy.customer_notice_after.get(incident.severity)
        if (
            notice is not None
            and now - incident.declared_at >= notice
            and not _sent(events, NOTIFY_CUSTOMERS)
        ):
            owed.append(
                Reminder(
                    NOTIFY_CUSTOMERS,
                    f":loudspeaker: This {incident.severity} has lasted over"
                    f" {int(notice.total_seconds() // 60)} minutes: notify affected customers"
                    " (the runbook's customer-notice rule).",
                )
            )
    elif (
        incident.status == Status.RESOLVED
        and incident.resolved_at is not None
        and now - incident.resolved_at >= MONITOR_AFTER
        and not _sent(events, MONITOR_CHECK)
    ):
        owed.append(
            Reminder(
                MONITOR_CHECK,
                ":mag: An hour since this was resolved. Confirm error rates are back to"
                " baseline and no related alerts fired, then `/incident close` once the"
                " post-mortem is done.",
            )
        )
    if (
        incident.status == Status.RESOLVED
        and incident.resolved_at is not None
        and now - incident.resolved_at >= REVIEW_REMINDER_AFTER
        and not _sent(events, REVIEW_DUE)
    ):
        by = incident.resolved_at + REVIEW_WITHIN
        owed.append(
            Reminder(
                REVIEW_DUE,
                f":spiral_calendar_pad: Hold the post-mortem review by {by:%A %Y-%m-%d}"
                " (within a week, per the runbook): commander, on-call engineer, engineering"
                " manager"
                + (", product manager" if incident.severity in ("P0", "P1") else "")
                + ". `/incident postmortem` drafts it; `/incident close` once it is done.",
            )
        )
    return owed
