"""Who may change an incident from chat: the rule in `domain.access`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.domain.access import Asker, Change, allowed_without_operator, severity_change
from bot.domain.incident import Incident, Severity, Status

INCIDENT = Incident(
    id=4,
    title="Records down",
    severity=Severity.P1,
    status=Status.INVESTIGATING,
    declared_by="U_DECLARER",
    declared_at=datetime(2026, 3, 3, tzinfo=UTC),
    commander="U_COMMANDER",
    channel_id="C_WAR",
    roles={"commander": "U_COMMANDER", "scribe": "U_SCRIBE"},
)


def test_raising_and_lowering_follow_p0_as_the_most_severe() -> None:
    assert severity_change(Severity.P2, Severity.P0) == Change.RAISE_SEVERITY
    assert severity_change(Severity.P0, Severity.P3) == Change.LOWER_SEVERITY


@pytest.mark.parametrize("user", ["U_DECLARER", "U_COMMANDER", "U_SCRIBE"])
@pytest.mark.parametrize("change", list(Change))
def test_the_incidents_own_people_may_make_any_change_from_anywhere(
    user: str, change: Change
) -> None:
    assert allowed_without_operator(INCIDENT, Asker(user, "C_ELSEWHERE"), change)


@pytest.mark.parametrize("change", [c for c in Change if c != Change.RAISE_SEVERITY])
def test_anyone_else_may_only_raise_and_only_in_the_incidents_channel(change: Change) -> None:
    bystander = Asker("U_BYSTANDER", "C_WAR")
    assert allowed_without_operator(INCIDENT, bystander, Change.RAISE_SEVERITY)
    assert not allowed_without_operator(INCIDENT, bystander, change)
    elsewhere = Asker("U_BYSTANDER", "C_ALERTS")
    assert not allowed_without_operator(INCIDENT, elsewhere, Change.RAISE_SEVERITY)


def test_an_incident_nobody_leads_can_be_taken_by_a_person_in_its_channel() -> None:
    declared_by_an_alert = replace(
        INCIDENT, declared_by="alertmanager", commander="alertmanager", roles={}
    )
    assert allowed_without_operator(declared_by_an_alert, Asker("U_X", "C_WAR"), Change.SET_ROLE)
    assert not allowed_without_operator(declared_by_an_alert, Asker("U_X", "C_WAR"), Change.RESOLVE)
    assert not allowed_without_operator(
        declared_by_an_alert, Asker("U_X", "C_ALERTS"), Change.SET_ROLE
    )
    assert not allowed_without_operator(INCIDENT, Asker("U_X", "C_WAR"), Change.SET_ROLE)
