"""Dangerous actions waiting for confirmation, with compare-and-set state changes, in
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.domain.actions import ActionPlan, ActionState, PendingAction
from bot.store.action_rows import action_record, new_action_columns, transition_columns
from bot.store.columns import now_iso
from bot.store.pg_base import Conn, PgBase
from bot.store.pg_incidents import insert_returning, storable


class ActionStore(PgBase):
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
        columns = new_action_columns(
            plan,
            requested_by,
            channel,
            incident_id,
            needed=needed,
            created_at=at.isoformat() if at is not None else now_iso(),
            updated_at=now_iso(),
        )

        async def write(conn: Conn) -> PendingAction:
            return action_record(await insert_returning(conn, "pending_actions", columns))

        return await self._write(write)

    async def get_action(self, action_id: int) -> PendingAction | None:
        async def read(conn: Conn) -> PendingAction | None:
            rows = await self._rows(
                conn, "SELECT * FROM pending_actions WHERE id = $1", [action_id]
            )
            return action_record(rows[0]) if rows else None

        return await self._read(read)

    async def actions_in_state(self, states: Iterable[ActionState]) -> list[PendingAction]:
        wanted = [str(s) for s in states]

        async def read(conn: Conn) -> list[PendingAction]:
            rows = await self._rows(
                conn,
                "SELECT * FROM pending_actions WHERE state = ANY($1::text[]) ORDER BY id",
                [wanted],
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
        cannot both run it, on one replica or two. None when someone else moved it first."""
        states = [str(s) for s in expected]
        # Built once, outside the write: a rerun must not read `approvals` (maybe an
        # iterator) a second time.
        sets = storable(transition_columns(to, approvals, result, now_iso()))
        assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(sets, start=3))

        async def write(conn: Conn) -> PendingAction | None:
            # A replica whose update waited on the winner's row lock is rerun by the
            # serializable retry, and then finds the state moved on.
            row = await conn.fetchrow(
                f"UPDATE pending_actions SET {assignments}"
                " WHERE id = $1 AND state = ANY($2::text[]) RETURNING *",
                action_id,
                states,
                *sets.values(),
            )
            return action_record(row) if row is not None else None

        return await self._write(write)
