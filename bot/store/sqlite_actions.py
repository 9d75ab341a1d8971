"""Pending dangerous actions, with compare-and-set state changes, in SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from bot.domain.actions import ActionKind, ActionPlan, ActionState, PendingAction
from bot.store.sqlite_base import SqliteBase, _last_id, _now


def _action(row: Mapping[str, Any]) -> PendingAction:
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


class ActionStore(SqliteBase):
    async def create_action(
        self,
        plan: ActionPlan,
        requested_by: str,
        channel: str,
        incident_id: int | None,
        *,
        needed: int = 1,
        at: datetime | None = None,
    ) -> PendingAction:
        created = at.isoformat() if at is not None else _now()

        def write(db: Database) -> PendingAction:
            table = db.table("pending_actions")
            table.insert(
                {
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
                    "created_at": created,
                    "updated_at": _now(),
                }
            )
            return _action(table.get(_last_id(table)))

        return await self._write(write)

    async def get_action(self, action_id: int) -> PendingAction | None:
        def read(db: Database) -> PendingAction | None:
            rows = self._rows(db, "SELECT * FROM pending_actions WHERE id = ?", [action_id])
            return _action(rows[0]) if rows else None

        return await self._read(read)

    async def actions_in_state(self, states: Iterable[ActionState]) -> list[PendingAction]:
        wanted = [str(s) for s in states]

        def read(db: Database) -> list[PendingAction]:
            rows = self._rows(
                db,
                f"SELECT * FROM pending_actions WHERE state IN ({','.join('?' * len(wanted))})"
                " ORDER BY id",
                wanted,
            )
            return [_action(r) for r in rows]

        return await self._read(read)

    async def transition_action(
        self,
        action_id: int,
        expected: Iterable[ActionState],
        to: ActionState,
        *,
        approvals: Iterable[str] | None = None,
        result: str | None = None,
    ) -> PendingAction | None:
        """Moves the action only if it is still in an expected state: two clicks on Confirm
        cannot both run it. None when someone else moved it first."""
        states = [str(s) for s in expected]

        def write(db: Database) -> PendingAction | None:
            sets: dict[str, Any] = {"state": str(to), "updated_at": _now()}
            if approvals is not None:
                sets["approvals"] = json.dumps(list(approvals))
            if result is not None:
                sets["result"] = result
            cur = db.execute(
                f"UPDATE pending_actions SET {', '.join(f'{k} = ?' for k in sets)}"
                f" WHERE id = ? AND state IN ({','.join('?' * len(states))})",
                [*sets.values(), action_id, *states],
            )
            if cur.rowcount == 0:
                return None
            return _action(db.table("pending_actions").get(action_id))

        return await self._write(write)
