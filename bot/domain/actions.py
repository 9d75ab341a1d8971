"""Dangerous actions on the platform: what is planned, who may confirm it, where it stands."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.domain.incident import Severity


class ActionKind(enum.StrEnum):
    ROLLBACK = "rollback"
    SCALE = "scale"
    RESTART = "restart"
    DESKTOP_ROLLBACK = "desktop_rollback"


class ActionState(enum.StrEnum):
    PENDING = "pending"  # waiting for an operator to confirm
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Not confirmed in time, or what the confirmation showed no longer holds: ask again.
    EXPIRED = "expired"


@dataclass(frozen=True)
class ActionPlan:
    kind: ActionKind
    target: str  # the service, or "desktop"
    params: Mapping[str, Any]
    before: str  # what a person sees now (image, replicas, version)
    after: str  # what it will be
    detail: Mapping[str, Any] = field(default_factory=dict)  # what execution needs (a patch…)


@dataclass(frozen=True)
class PendingAction:
    id: int
    plan: ActionPlan
    requested_by: str
    channel: str
    incident_id: int | None
    state: ActionState
    approvals: tuple[str, ...]
    result: str
    created_at: datetime
    # Fixed when the action is asked for: lowering the incident's severity before the Confirm
    # must not take the second operator away.
    needed: int = 1


VERB = {
    ActionKind.ROLLBACK: "Roll back",
    ActionKind.SCALE: "Scale",
    ActionKind.RESTART: "Restart",
    ActionKind.DESKTOP_ROLLBACK: "Roll back the desktop app update channel for",
}


def title(action: PendingAction) -> str:
    """What the action does, in a few words: "Scale records"."""
    return f"{VERB[action.plan.kind]} {action.plan.target}"


def is_operator(user: str, operators: Iterable[str], groups_of_user: Iterable[str]) -> bool:
    """Operators are user IDs or @usergroup handles; `groups_of_user` are the user's handles."""
    allowed = set(operators)
    return user in allowed or any(f"@{g.lstrip('@')}" in allowed for g in groups_of_user)


def too_old(action: PendingAction, now: datetime, max_age: timedelta) -> bool:
    """A confirmation shows the platform as it was; after a while that is no longer true."""
    return now - action.created_at > max_age


def approvals_needed(
    plan: ActionPlan, severity: Severity | None, *, two_person_p0_rollbacks: bool
) -> int:
    """Confirmations from distinct operators; the requester's own click counts as one."""
    if two_person_p0_rollbacks and plan.kind == ActionKind.ROLLBACK and severity == Severity.P0:
        return 2
    return 1
