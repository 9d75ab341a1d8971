"""Pending actions as both stores keep them: rows read back as records, and the columns a
write stores. Shared, so the two stores answer alike."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bot.domain.actions import ActionKind, ActionPlan, ActionState, PendingAction


def action_record(row: Mapping[str, Any]) -> PendingAction:
    plan = json.loads(row["plan"] or "{}")
    return PendingAction(
        id=row["id"],
        plan=ActionPlan(
            kind=ActionKind(row["kind"]),
            target=row["service"] or "",
            params=json.loads(row["params"] or "{}"),
            before=row["before"] or "",
            after=row["after"] or "",
            detail=plan,
        ),
        requested_by=row["requested_by"],
        channel=row["channel"] or "",
        incident_id=row["incident_id"],
        state=ActionState(row["state"]),
        approvals=tuple(json.loads(row["approvals"] or "[]")),
        result=row["result"] or "",
        created_at=datetime.fromisoformat(row["created_at"]),
        needed=row.get("approvals_needed") or 1,
    )


def new_action_columns(
    plan: ActionPlan,
    requested_by: str,
    channel: str,
    incident_id: int | None,
    *,
    needed: int,
    created_at: str,
    updated_at: str,
) -> dict[str, Any]:
    return {
        "kind": str(plan.kind),
        "service": plan.target,
        "params": json.dumps(dict(plan.params)),
        "plan": json.dumps(dict(plan.detail)),
        "before": plan.before,
        "after": plan.after,
        "requested_by": requested_by,
        "channel": channel,
        "incident_id": incident_id,
        "state": str(ActionState.PENDING),
        "approvals": "[]",
        "result": "",
        "approvals_needed": needed,
        "created_at": created_at,
        "updated_at": updated_at,
    }


def transition_columns(
    to: ActionState, approvals: Iterable[str] | None, result: str | None, updated_at: str
) -> dict[str, Any]:
    """The columns a transition sets: approvals and result only when given."""
    sets: dict[str, Any] = {"state": str(to), "updated_at": updated_at}
    if approvals is not None:
        sets["approvals"] = json.dumps(list(approvals))
    if result is not None:
        sets["result"] = result
    return sets
