"""Pending dangerous actions, with compare-and-set state changes, in SQLite."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlite_utils import Database

from bot.domain.actions import ActionPlan, ActionState, PendingAction
from bot.store.action_rows import action_record, new_action_columns, transition_columns
from bot.store.sqlite_base import SqliteBase, _last_id, _now


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
                new_action_columns(
                    plan,
                    requested_by,
                    channel,
                    incident_id,
                    needed=needed,
                    created_at=created,
                    updated_at=_now(),
                )
            )
            return action_record(table.get(_last_id(table)))

        return await self._write(write)

    async def get_action(self, action_id: int) -> PendingAction | None:
        def read(db: Database) -> PendingAction | None:
            rows = self._rows(db, "SELECT * FROM pending_actions WHERE id = ?", [action_id])
            return action_record(rows[0]) if rows else None

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
            return [action_record(r) for r in rows]

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
            sets = transition_columns(to, approvals, result, _now())
            cur = db.execute(
                f"UPDATE pending_actions SET {', '.join(f'{k} = ?' for k in sets)}"
                f" WHERE id = ? AND state IN ({','.join('?' * len(states))})",
                [*sets.values(), action_id, *states],
            )
            if cur.rowcount == 0:
                return None
            return action_record(db.table("pending_actions").get(action_id))

        return await self._write(write)
