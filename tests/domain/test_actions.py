"""Who may confirm a dangerous action, how many confirmations it needs, and for how long a
confirmation holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.actions import (
    ActionKind,
    ActionPlan,
    ActionState,
    PendingAction,
    approvals_needed,
    is_operator,
    too_old,
)
from bot.domain.incident import Severity

OPERATORS = ["U_ALICE", "@sre-oncall"]


def test_an_operator_listed_by_user_id() -> None:
    assert is_operator("U_ALICE", OPERATORS, []) is True


@pytest.mark.parametrize("handle", ["sre-oncall", "@sre-oncall"])
def test_a_member_of_an_operator_user_group(handle: str) -> None:
    assert is_operator("U_BOB", OPERATORS, ["platform", handle]) is True


def test_anyone_else_is_not_an_operator() -> None:
    assert is_operator("U_MALLORY", OPERATORS, ["platform", "frontend"]) is False
    assert is_operator("U_MALLORY", OPERATORS, []) is False
    assert is_operator("U_ALICE", [], ["sre-oncall"]) is False


def test_a_group_named_like_a_user_id_does_not_make_an_operator() -> None:
    # Operators' user IDs are not group handles: only "@handle" entries grant group access.
    assert is_operator("U_BOB", ["U_ALICE"], ["U_ALICE"]) is False


def plan(kind: ActionKind) -> ActionPlan:
    return ActionPlan(kind, "checkout", {}, before="revision 3", after="revision 2")


def test_a_p0_rollback_needs_two_operators_when_the_rule_is_on() -> None:
    needed = approvals_needed(plan(ActionKind.ROLLBACK), Severity.P0, two_person_p0_rollbacks=True)
    assert needed == 2


@pytest.mark.parametrize("severity", [Severity.P1, Severity.P2, Severity.P3, None])
def test_other_rollbacks_need_one(severity: Severity | None) -> None:
    assert approvals_needed(plan(ActionKind.ROLLBACK), severity, two_person_p0_rollbacks=True) == 1


@pytest.mark.parametrize(
    "kind", [ActionKind.SCALE, ActionKind.RESTART, ActionKind.DESKTOP_ROLLBACK]
)
def test_other_actions_on_a_p0_need_one(kind: ActionKind) -> None:
    assert approvals_needed(plan(kind), Severity.P0, two_person_p0_rollbacks=True) == 1


def test_with_the_rule_off_a_p0_rollback_needs_one() -> None:
    assert (
        approvals_needed(plan(ActionKind.ROLLBACK), Severity.P0, two_person_p0_rollbacks=False) == 1
    )


def test_a_confirmation_holds_for_its_age_and_not_a_moment_longer() -> None:
    asked = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
    action = PendingAction(
        1, plan(ActionKind.SCALE), "U1", "C1", None, ActionState.PENDING, (), "", asked
    )
    ten = timedelta(minutes=10)
    assert not too_old(action, asked + ten, ten)
    assert too_old(action, asked + ten + timedelta(seconds=1), ten)
