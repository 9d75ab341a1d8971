"""The post-mortem draft built from an incident and its timeline: the key events, the root
cause, what changed production, the follow-ups and the response times, and its Markdown."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from bot.domain.incident import Incident, Severity, Status
from bot.domain.paging import BusinessHours, decide
from bot.domain.postmortem import FILL_IN, PostMortem, build
from bot.domain.postmortem_markdown import render_markdown
from bot.domain.timeline import EventKind, NewEvent, TimelineEvent
from tests.domain.chain import chain

DECLARED = datetime(2026, 3, 2, 14, 2, tzinfo=UTC)
RESOLVED = datetime(2026, 3, 2, 15, 17, tzinfo=UTC)
NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
NAMES = {"U_ALICE": "Alice Ng", "U_BOB": "Bob Ruiz", "U_CAROL": "Carol Ode"}


def at(minutes: float) -> datetime:
    return DECLARED + timedelta(minutes=minutes)


def event(
    kind: EventKind,
    actor: str,
    text: str,
    minutes: float,
    data: dict[str, Any] | None = None,
    *,
    key: bool = False,
) -> NewEvent:
    return NewEvent(kind, actor, text, at(minutes), data or {}, key=key)


def incident(**changes: Any) -> Incident:
    base = Incident(
        id=31,
        title="Records API 500s",
        severity=Severity.P1,
        status=Status.RESOLVED,
        declared_by="U_ALICE",
        declared_at=DECLARED,
        commander="U_ALICE",
        services=("records", "api-gateway"),
        description="Records API returns 500 for a third of requests",
        resolved_at=RESOLVED,
        summary="A deploy exhausted the database connection pool; rolled back.",
    )
    return dataclasses.replace(base, **changes)


def full_timeline() -> list[TimelineEvent]:
    D = EventKind
    return chain(
        31,
        event(D.ALERT, "alertmanager", "alert group linked: HighErrorRate records", -4, key=True),
        event(
            D.DECLARED,
            "U_ALICE",
            "P1 incident declared: Records API 500s",
            0,
            {"severity": "P1", "services": ["records"]},
            key=True,
        ),
        event(
            D.PAGE,
            "incident-bot",
            "Paged the records on-call (PagerDuty): Bob Ruiz",
            1,
            {"paged": True},
        ),
        event(D.MESSAGE, "U_CAROL", "anyone else seeing slow CI today?", 2),
        event(D.ACTION, "U_BOB", "acknowledged alert HighErrorRate records", 5, key=True),
        event(D.ALERT, "alertmanager", "alert group linked: HighErrorRate records", 6, key=True),
        event(
            D.MESSAGE,
            "U_BOB",
            "pinned: records pods at max_connections=100",
            13,
            {"pinned": True},
            key=True,
        ),
        event(
            D.STATUS_UPDATE,
            "U_BOB",
            "Root cause: connection pool exhausted after deploy 1.1",
            18,
            {"status": "identified"},
            key=True,
        ),
        event(
            D.REMINDER,
            "incident-bot",
            "No status update for 30 minutes",
            48,
            {"reminder": "update_due"},
        ),
        event(
            D.ACTION,
            "U_BOB",
            "Scale records to 6 replicas failed: quota exceeded",
            50,
            {"succeeded": False},
            key=True,
        ),
        event(
            D.ACTION,
            "U_BOB",
            "Rolled back records to revision 41 (records:1.0.9)",
            52,
            {"succeeded": True},
            key=True,
        ),
        event(
            D.STATUS_UPDATE, "U_ALICE", "error rate back to baseline", 60, {"status": "monitoring"}
        ),
        event(
            D.FOLLOW_UP, "U_ALICE", "Alert on connection pool saturation", 70, {"owner": "U_CAROL"}
        ),
        event(
            D.FOLLOW_UP,
            "U_ALICE",
            "Load-test deploys against the real pool size",
            71,
            {"owner": None},
        ),
        event(D.RESOLVED, "U_ALICE", "rolled back the bad deploy", 75, key=True),
    )


def draft() -> PostMortem:
    return build(incident(), full_timeline(), NOW)


def test_the_header_comes_from_the_incident() -> None:
    pm = draft()
    assert pm.title == "Records API 500s"
    assert pm.date == DECLARED
    assert pm.duration == "1h 15m"
    assert pm.severity == "P1"
    assert pm.commander == "U_ALICE"
    assert pm.services == ("records", "api-gateway")
    assert pm.summary == "A deploy exhausted the database connection pool; rolled back."
    assert pm.open is False


def test_the_description_stands_in_for_a_missing_summary() -> None:
    pm = build(incident(summary=""), full_timeline(), NOW)
    assert pm.summary == "Records API returns 500 for a third of requests"


def test_the_timeline_keeps_key_events_and_every_update_and_leaves_out_chatter() -> None:
    texts = [entry.text for entry in draft().timeline]
    assert texts == [
        "Alert linked: HighErrorRate records",
        "Incident declared (P1)",
        "Paged the records on-call (PagerDuty): Bob Ruiz",
        "acknowledged alert HighErrorRate records",
        "Alert linked: HighErrorRate records",
        "pinned: records pods at max_connections=100",
        "Root cause identified: connection pool exhausted after deploy 1.1",
        "Scale records to 6 replicas failed: quota exceeded",
        "Rolled back records to revision 41 (records:1.0.9)",
        "Update: error rate back to baseline",
        "Resolved: rolled back the bad deploy",
    ]


def test_timeline_entries_keep_who_and_when() -> None:
    declared = draft().timeline[1]
    assert (declared.at, declared.actor) == (DECLARED, "U_ALICE")


def test_a_status_update_marked_key_appears_as_an_update() -> None:
    events = chain(31, event(EventKind.STATUS_UPDATE, "U_BOB", "db failover started", 10, key=True))
    assert [e.text for e in build(incident(), events, NOW).timeline] == [
        "Update: db failover started"
    ]


def test_the_linked_alerts_are_listed_once_each() -> None:
    assert draft().alerts == ("HighErrorRate records",)


def test_the_root_cause_is_read_from_updates_and_pinned_messages() -> None:
    events = chain(
        31,
        event(EventKind.STATUS_UPDATE, "U_BOB", "Root cause: pool exhausted", 10),
        event(EventKind.STATUS_UPDATE, "U_BOB", "root cause - a retry storm", 11),
        event(EventKind.MESSAGE, "U_BOB", "pinned: RCA: bad index on records.owner", 12),
        event(EventKind.MESSAGE, "U_BOB", "📌 Cause: cache stampede", 13),
        event(
            EventKind.MESSAGE, "U_BOB", "the pool size was halved in 1.1", 14, {"root_cause": True}
        ),
        event(EventKind.MESSAGE, "U_CAROL", "I think the root cause is the deploy?", 15),
    )
    assert build(incident(), events, NOW).root_cause == (
        "pool exhausted",
        "a retry storm",
        "bad index on records.owner",
        "cache stampede",
        "the pool size was halved in 1.1",
    )


def test_a_root_cause_update_not_marked_key_still_makes_the_timeline() -> None:
    events = chain(31, event(EventKind.STATUS_UPDATE, "U_BOB", "Cause: disk full on db-2", 10))
    assert [e.text for e in build(incident(), events, NOW).timeline] == [
        "Root cause identified: disk full on db-2"
    ]


def test_the_resolution_lists_only_production_changes_that_succeeded() -> None:
    resolution = draft().resolution
    assert [(e.at, e.text, e.actor) for e in resolution] == [
        (at(52), "Rolled back records to revision 41 (records:1.0.9)", "U_BOB")
    ]


def test_follow_ups_keep_their_owner() -> None:
    assert [(f.text, f.owner) for f in draft().follow_ups] == [
        ("Alert on connection pool saturation", "U_CAROL"),
        ("Load-test deploys against the real pool size", None),
    ]


def test_response_times_count_from_the_first_alert() -> None:
    times = draft().times
    assert times.started == at(-4)
    assert times.to_acknowledge == 9 * 60  # the acknowledgement at +5
    assert times.to_mitigate == 56 * 60  # the successful rollback at +52
    assert times.to_resolve == 79 * 60  # resolved at +75


def test_without_an_alert_first_times_count_from_the_declaration() -> None:
    events = chain(
        31,
        event(EventKind.DECLARED, "U_ALICE", "P1 incident declared", 0, {"severity": "P1"}),
        event(EventKind.ALERT, "alertmanager", "alert group linked: DiskFull", 3),
        event(EventKind.MESSAGE, "U_BOB", "on it", 7),
        event(EventKind.STATUS_UPDATE, "U_BOB", "failing over", 20, {"status": "monitoring"}),
    )
    times = build(incident(), events, NOW).times
    assert (times.started, times.started_by) == (DECLARED, "the declaration")
    # Chatter ("on it") and an update by someone who is not the commander acknowledge nothing.
    assert times.acknowledged is None
    # No production change: moving to monitoring is the mitigation.
    assert times.to_mitigate == 20 * 60
    assert times.mitigated is not None and times.mitigated.what == "status set to monitoring"
    assert times.to_resolve == 75 * 60


def test_the_commanders_first_update_acknowledges_when_nobody_acked() -> None:
    events = chain(
        31,
        event(EventKind.DECLARED, "U_ALICE", "P1 incident declared", 0, {"severity": "P1"}),
        event(EventKind.STATUS_UPDATE, "U_BOB", "looking", 2, {"status": "investigating"}),
        event(
            EventKind.ROLE_CHANGED,
            "U_ALICE",
            "commander: U_DANA",
            3,
            {"role": "commander", "user": "U_DANA"},
        ),
        event(EventKind.STATUS_UPDATE, "U_DANA", "I have it", 4.2, {"status": "investigating"}),
    )
    times = build(incident(commander="U_DANA"), events, NOW).times
    assert times.acknowledged is not None
    assert (times.acknowledged.what, times.acknowledged.actor) == (
        "the commander's first update",
        "U_DANA",
    )
    assert times.to_acknowledge == 4.2 * 60


def test_a_pagerduty_acknowledgement_comes_before_any_update() -> None:
    events = chain(
        31,
        event(EventKind.STATUS_UPDATE, "U_ALICE", "investigating", 6, {"status": "investigating"}),
        event(
            EventKind.ACTION,
            "Dana Reyes",
            "PagerDuty acknowledgement by Dana Reyes (Records API 500s)",
            4 + 12 / 60,
            {"pagerduty": "acknowledged"},
        ),
    )
    times = build(incident(), sorted(events, key=lambda e: e.at), NOW).times
    assert times.acknowledged is not None
    assert times.acknowledged.what == "PagerDuty acknowledgement"
    lines = render_markdown(build(incident(), sorted(events, key=lambda e: e.at), NOW))
    assert (
        "- Time to acknowledge: 4 min 12 s (PagerDuty acknowledgement by Dana Reyes at 14:06:12)"
        in lines.splitlines()
    )


def test_a_failed_change_is_not_a_mitigation() -> None:
    events = chain(
        31,
        event(EventKind.ACTION, "U_BOB", "Restart of records failed", 10, {"succeeded": False}),
    )
    assert build(incident(), events, NOW).times.to_mitigate is None


def test_an_open_incident_has_no_resolution_time_and_lasts_until_now() -> None:
    still_open = incident(status=Status.MONITORING, resolved_at=None)
    pm = build(still_open, [], at(42))
    assert pm.open is True
    assert pm.duration == "42m"
    assert pm.times.to_acknowledge is None
    assert pm.times.to_mitigate is None
    assert pm.times.to_resolve is None


# Markdown -----------------------------------------------------------------------------------


def section(markdown: str, heading: str) -> list[str]:
    """The lines under a `## heading`, up to the next heading of that level."""
    lines = markdown.splitlines()
    start = lines.index(f"## {heading}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return [ln for ln in lines[start:end] if ln]


def test_the_markdown_follows_the_runbook_template() -> None:
    markdown = render_markdown(draft(), NAMES)
    headings = [ln for ln in markdown.splitlines() if ln.startswith("#")]
    assert headings == [
        "# Post-Mortem: Records API 500s",
        "## Summary",
        "## Impact",
        "### Response times",
        "## Timeline",
        "## Root Cause",
        "## Resolution",
        "## Action Items",
        "## Lessons Learned",
        "## Appendix: Evidence",
        "### Playbook runs",
        "### Platform actions",
        "### Alert groups",
    ]
    assert markdown.endswith("\n")


def test_the_markdown_header_names_people_by_their_display_names() -> None:
    markdown = render_markdown(draft(), NAMES)
    assert "**Date:** 2026-03-02" in markdown
    assert "**Duration:** 1h 15m  \n" in markdown
    assert "**Severity:** P1" in markdown
    assert "**Incident Commander:** Alice Ng" in markdown
    assert "U_ALICE" not in markdown


def test_the_markdown_impact_and_response_times() -> None:
    impact = section(render_markdown(draft(), NAMES), "Impact")
    assert "- Services affected: records, api-gateway" in impact
    assert "- Alerts: HighErrorRate records" in impact
    assert "Measured from the first alert at 2026-03-02 13:58:00 UTC." in impact
    assert (
        "- Time to acknowledge: 9 min 0 s (alert acknowledgement in its thread by Bob Ruiz"
        " at 14:07:00)"
    ) in impact
    assert "- Time to mitigate: 56 min 0 s (platform action by Bob Ruiz at 14:54:00)" in impact
    assert "- Time to resolve: 1 h 19 min (resolution by Alice Ng at 15:17:00)" in impact


def test_the_markdown_timeline_lists_each_key_event_with_time_and_person() -> None:
    timeline = section(render_markdown(draft(), NAMES), "Timeline")
    assert timeline[0] == "All times UTC."
    assert timeline[1:4] == [
        "- 2026-03-02 13:58:00 - Alert linked: HighErrorRate records (alertmanager)",
        "- 2026-03-02 14:02:00 - Incident declared (P1) (Alice Ng)",
        "- 2026-03-02 14:03:00 - Paged the records on-call (PagerDuty): Bob Ruiz (incident-bot)",
    ]
    assert len(timeline) == 1 + len(draft().timeline)
    assert not any("slow CI" in ln for ln in timeline)


def test_the_markdown_root_cause_resolution_and_action_items() -> None:
    markdown = render_markdown(draft(), NAMES)
    assert section(markdown, "Root Cause") == ["- connection pool exhausted after deploy 1.1"]
    assert section(markdown, "Resolution") == [
        "- 14:54:00 Rolled back records to revision 41 (records:1.0.9)"
    ]
    assert section(markdown, "Action Items") == [
        f"- [ ] Alert on connection pool saturation (Owner: Carol Ode, Due: {FILL_IN})",
        f"- [ ] Load-test deploys against the real pool size (Owner: unassigned, Due: {FILL_IN})",
    ]


def test_the_markdown_of_a_bare_draft_leaves_places_to_fill_in() -> None:
    bare = incident(
        summary="",
        description="",
        services=(),
        commander="",
        status=Status.INVESTIGATING,
        resolved_at=None,
    )
    markdown = render_markdown(build(bare, [], at(30)))
    assert "**Duration:** 30m (still open)" in markdown
    assert f"**Incident Commander:** not named {FILL_IN}" in markdown
    assert section(markdown, "Summary") == [FILL_IN]
    impact = section(markdown, "Impact")
    assert "- Services affected: none named" in impact
    assert "- Alerts: none linked" in impact
    assert "- Time to acknowledge: n/a (no acknowledgement recorded)" in impact
    assert "- Time to resolve: n/a (not resolved yet)" in impact
    assert section(markdown, "Timeline") == ["All times UTC."]
    assert section(markdown, "Root Cause") == [FILL_IN]
    assert section(markdown, "Resolution") == [
        f"No production change was made through the bot. {FILL_IN}"
    ]
    assert section(markdown, "Action Items") == [f"- [ ] {FILL_IN}"]


def test_people_without_a_known_name_are_shown_by_their_id() -> None:
    markdown = render_markdown(draft(), {"U_ALICE": "Alice Ng"})
    assert "(Owner: U_CAROL," in markdown
    assert "Rolled back records to revision 41 (records:1.0.9) (U_BOB)" in markdown


def test_the_lessons_learned_prompts_are_there_to_answer() -> None:
    lessons = section(render_markdown(draft(), NAMES), "Lessons Learned")
    assert lessons[0] == "**What went well?**"
    assert "**What could be improved?**" in lessons
    assert all(ln.startswith(("- ", "**")) for ln in lessons)
    assert len(lessons) >= 4


def test_the_paging_explanation_becomes_one_line_of_fact() -> None:
    hours = BusinessHours("Europe/London", ("mon", "tue", "wed", "thu", "fri"), time(9), time(17))
    night = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    decision = decide(Severity.P2, "business_hours", hours, night)
    assert "/incident sev P0" in decision.reason  # what the channel was told at the time
    events = chain(
        31,
        event(EventKind.PAGE, "U_ALICE", f"Not paged: {decision.reason}", 1, {"paged": False}),
        event(EventKind.PAGE, "U_ALICE", "Not paged: P3 does not page", 2, {"paged": False}),
    )
    assert [e.text for e in build(incident(), events, NOW).timeline] == [
        "Not paged: P2 pages only during business hours"
        " (Mon/Tue/Wed/Thu/Fri 09:00-17:00 Europe/London), and it was outside them",
        "Not paged: P3 does not page",
    ]


@pytest.mark.parametrize("tool", ["cli", "api", "alertmanager"])
def test_a_tool_is_never_named_the_incident_commander(tool: str) -> None:
    markdown = render_markdown(build(incident(commander=tool), [], NOW), NAMES)
    assert f"**Incident Commander:** not named (declared through {tool}) {FILL_IN}" in markdown


def test_a_person_named_from_the_cli_is_the_commander() -> None:
    markdown = render_markdown(build(incident(commander="dana"), [], NOW), NAMES)
    assert "**Incident Commander:** dana\n" in markdown
