"""Which reminders an incident is owed, read from its timeline: update nudges every interval,
the customer notice, the post-resolution monitoring check and the review, each only once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bot.domain.clock import ManualClock
from bot.domain.incident import Incident, Severity, Status
from bot.domain.reminders import (
    MONITOR_CHECK,
    NOTIFY_CUSTOMERS,
    REVIEW_DUE,
    UPDATE_DUE,
    Reminder,
    ReminderPolicy,
    due,
)
from bot.domain.timeline import EventKind, NewEvent, TimelineEvent
from tests.domain.chain import Timeline

DECLARED = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # a Monday
RESOLVED = datetime(2026, 1, 6, 15, 30, tzinfo=UTC)  # a Tuesday
POLICY = ReminderPolicy(
    update_every={Severity.P0: timedelta(minutes=15), Severity.P1: timedelta(minutes=30)},
    customer_notice_after={Severity.P0: timedelta(minutes=30)},
)


def incident(
    severity: Severity = Severity.P1,
    status: Status = Status.INVESTIGATING,
    resolved_at: datetime | None = None,
) -> Incident:
    return Incident(
        id=12,
        title="Checkout 500s",
        severity=severity,
        status=status,
        declared_by="U_ALICE",
        declared_at=DECLARED,
        commander="U_ALICE",
        resolved_at=resolved_at,
    )


def declared_timeline(severity: Severity = Severity.P1) -> Timeline:
    return Timeline(
        12,
        [
            NewEvent(
                EventKind.DECLARED,
                "U_ALICE",
                f"{severity} incident declared: Checkout 500s",
                DECLARED,
                {"severity": str(severity)},
                key=True,
            )
        ],
    )


def at(minutes: float) -> datetime:
    return DECLARED + timedelta(minutes=minutes)


def update(timeline: Timeline, when: datetime, text: str = "still digging") -> None:
    timeline.append(NewEvent(EventKind.STATUS_UPDATE, "U_ALICE", text, when, {}))


def record(timeline: Timeline, reminders: list[Reminder], when: datetime) -> None:
    """What the reminder service does after posting: the reminder goes on the timeline."""
    for reminder in reminders:
        timeline.append(
            NewEvent(
                EventKind.REMINDER, "incident-bot", reminder.text, when, {"reminder": reminder.kind}
            )
        )


def kinds(reminders: list[Reminder]) -> list[str]:
    return [r.kind for r in reminders]


def owed(inc: Incident, events: list[TimelineEvent], now: datetime) -> list[str]:
    return kinds(due(inc, events, POLICY, now))


def test_no_update_reminder_before_the_interval_has_passed() -> None:
    timeline = declared_timeline()
    assert owed(incident(), timeline.events, at(29)) == []


def test_an_update_is_owed_once_the_interval_passes_without_one() -> None:
    timeline = declared_timeline()
    reminders = due(incident(), timeline.events, POLICY, at(31))
    assert kinds(reminders) == [UPDATE_DUE]
    text = reminders[0].text
    assert "No status update for 31 minutes on this P1" in text
    assert "`/incident update <text>`" in text
    assert "every 30 minutes" in text


def test_the_interval_follows_the_severity() -> None:
    timeline = declared_timeline(Severity.P0)
    reminders = due(incident(Severity.P0), timeline.events, POLICY, at(15))
    assert kinds(reminders) == [UPDATE_DUE]
    assert "every 15 minutes" in reminders[0].text
    assert "on this P0" in reminders[0].text


def test_a_status_update_restarts_the_interval() -> None:
    timeline = declared_timeline()
    update(timeline, at(20))
    assert owed(incident(), timeline.events, at(40)) == []
    reminders = due(incident(), timeline.events, POLICY, at(50))
    assert kinds(reminders) == [UPDATE_DUE]
    assert "No status update for 30 minutes" in reminders[0].text


def test_chat_in_the_channel_is_not_a_status_update() -> None:
    timeline = declared_timeline()
    timeline.append(NewEvent(EventKind.MESSAGE, "U_BOB", "any news?", at(25)))
    timeline.append(NewEvent(EventKind.NOTE, "U_BOB", "checked the db", at(28)))
    assert owed(incident(), timeline.events, at(30)) == [UPDATE_DUE]


def test_a_severity_without_an_update_interval_is_never_nagged() -> None:
    timeline = declared_timeline(Severity.P3)
    assert owed(incident(Severity.P3), timeline.events, at(60 * 24 * 3)) == []


def test_with_no_timeline_the_interval_counts_from_the_declaration() -> None:
    assert owed(incident(), [], at(29)) == []
    assert owed(incident(), [], at(30)) == [UPDATE_DUE]


def test_open_incidents_being_monitored_still_owe_updates() -> None:
    timeline = declared_timeline()
    for status in (Status.IDENTIFIED, Status.MONITORING):
        assert owed(incident(status=status), timeline.events, at(45)) == [UPDATE_DUE]


def test_update_reminders_repeat_every_interval_but_fire_once_each() -> None:
    clock = ManualClock(DECLARED)
    timeline = declared_timeline()
    fired: list[datetime] = []
    for _ in range(100):  # a minute at a time for 100 minutes
        clock.advance(60)
        reminders = due(incident(), timeline.events, POLICY, clock.now())
        fired += [clock.now() for r in reminders if r.kind == UPDATE_DUE]
        record(timeline, reminders, clock.now())
    assert fired == [at(30), at(60), at(90)]


def test_the_customer_notice_comes_once_after_the_threshold() -> None:
    clock = ManualClock(DECLARED)
    timeline = declared_timeline(Severity.P0)
    fired: list[tuple[datetime, Reminder]] = []
    for _ in range(120):
        clock.advance(60)
        if clock.now() in (at(14), at(29), at(44), at(59)):
            update(timeline, clock.now())  # the commander keeps updates flowing
        reminders = due(incident(Severity.P0), timeline.events, POLICY, clock.now())
        fired += [(clock.now(), r) for r in reminders]
        record(timeline, reminders, clock.now())
    notices = [(when, r) for when, r in fired if r.kind == NOTIFY_CUSTOMERS]
    assert [when for when, _ in notices] == [at(30)]
    assert "This P0 has lasted over 30 minutes: notify affected customers" in notices[0][1].text
    # Updates every 15 minutes until they stopped at 59: the next nudge is due at 74.
    updates = [when for when, r in fired if r.kind == UPDATE_DUE]
    assert updates[0] == at(74)


def test_the_customer_notice_counts_from_the_declaration_not_the_last_update() -> None:
    timeline = declared_timeline(Severity.P0)
    update(timeline, at(25))
    assert owed(incident(Severity.P0), timeline.events, at(30)) == [NOTIFY_CUSTOMERS]


def test_a_customer_notice_reminder_is_not_a_status_update() -> None:
    policy = ReminderPolicy(
        update_every={Severity.P0: timedelta(minutes=45)},
        customer_notice_after={Severity.P0: timedelta(minutes=30)},
    )
    timeline = declared_timeline(Severity.P0)
    notice = due(incident(Severity.P0), timeline.events, policy, at(30))
    assert kinds(notice) == [NOTIFY_CUSTOMERS]
    record(timeline, notice, at(30))
    assert kinds(due(incident(Severity.P0), timeline.events, policy, at(45))) == [UPDATE_DUE]


def test_reminders_sent_before_a_restart_are_not_sent_again() -> None:
    timeline = declared_timeline(Severity.P0)
    sent = due(incident(Severity.P0), timeline.events, POLICY, at(30))
    assert kinds(sent) == [UPDATE_DUE, NOTIFY_CUSTOMERS]
    record(timeline, sent, at(30))
    # A new process reads the same timeline a minute later: nothing is owed.
    assert owed(incident(Severity.P0), list(timeline.events), at(31)) == []


def test_a_severity_without_a_customer_notice_never_asks_for_one() -> None:
    timeline = declared_timeline(Severity.P1)
    update(timeline, at(60 * 5))
    assert NOTIFY_CUSTOMERS not in owed(incident(Severity.P1), timeline.events, at(60 * 5 + 1))


def resolved(severity: Severity = Severity.P1) -> Incident:
    return incident(severity, Status.RESOLVED, RESOLVED)


def test_a_resolved_incident_owes_no_updates_or_customer_notice() -> None:
    timeline = declared_timeline(Severity.P0)
    assert owed(resolved(Severity.P0), timeline.events, RESOLVED + timedelta(minutes=30)) == []


def test_the_monitoring_check_comes_an_hour_after_resolution_once() -> None:
    timeline = declared_timeline()
    after = RESOLVED + timedelta(minutes=59)
    assert owed(resolved(), timeline.events, after) == []
    reminders = due(resolved(), timeline.events, POLICY, RESOLVED + timedelta(hours=1))
    assert kinds(reminders) == [MONITOR_CHECK]
    assert "Confirm error rates are back to baseline" in reminders[0].text
    assert "`/incident close`" in reminders[0].text
    record(timeline, reminders, RESOLVED + timedelta(hours=1))
    assert owed(resolved(), timeline.events, RESOLVED + timedelta(hours=3)) == []


def test_the_review_reminder_comes_four_days_after_resolution_with_the_deadline() -> None:
    timeline = declared_timeline()
    record(timeline, [Reminder(MONITOR_CHECK, "checked")], RESOLVED + timedelta(hours=1))
    assert owed(resolved(), timeline.events, RESOLVED + timedelta(days=3, hours=23)) == []
    reminders = due(resolved(), timeline.events, POLICY, RESOLVED + timedelta(days=4))
    assert kinds(reminders) == [REVIEW_DUE]
    # Resolved Tuesday 2026-01-06: the review is due within the week.
    assert "Hold the post-mortem review by Tuesday 2026-01-13" in reminders[0].text
    assert "`/incident postmortem`" in reminders[0].text
    record(timeline, reminders, RESOLVED + timedelta(days=4))
    assert owed(resolved(), timeline.events, RESOLVED + timedelta(days=6)) == []


def test_a_bot_that_was_down_owes_both_post_resolution_reminders() -> None:
    timeline = declared_timeline()
    late = RESOLVED + timedelta(days=5)
    assert owed(resolved(), timeline.events, late) == [MONITOR_CHECK, REVIEW_DUE]


def test_the_product_manager_joins_reviews_of_p0_and_p1_only() -> None:
    later = RESOLVED + timedelta(days=4)
    attendees: dict[Severity, str] = {}
    for severity in Severity:
        reminders = due(resolved(severity), [], POLICY, later)
        review = next(r for r in reminders if r.kind == REVIEW_DUE)
        attendees[severity] = review.text
        assert "commander, on-call engineer, engineering manager" in review.text
    assert "product manager" in attendees[Severity.P0]
    assert "product manager" in attendees[Severity.P1]
    assert "product manager" not in attendees[Severity.P2]
    assert "product manager" not in attendees[Severity.P3]


def test_a_closed_incident_owes_nothing() -> None:
    closed = dataclasses.replace(resolved(), status=Status.CLOSED)
    assert owed(closed, [], RESOLVED + timedelta(days=5)) == []
