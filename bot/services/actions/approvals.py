"""The approval state machine of dangerous actions: who may ask, how many must confirm, and an
audit record of every request, refusal, confirmation, cancellation and result.

Slack, the API and the CLI translate to and from this; none of them decides who may act.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.domain.actions import (
    ActionPlan,
    ActionState,
    PendingAction,
    approvals_needed,
    is_operator,
    title,
)
from bot.domain.clock import Clock
from bot.domain.problem import Problem
from bot.domain.timeline import EventKind, NewEvent
from bot.services.actions.plans import PlatformActions
from bot.store.base import Store

log = logging.getLogger(__name__)
NO_OPERATORS = (
    "Dangerous actions are refused: nobody is allowed to run them yet. Name Slack user"
    " IDs or @usergroups in `operators` in the platform config, or in INCIDENT_BOT_OPERATORS."
)


class ActionBoard(Protocol):
    """Where a pending action is shown for confirmation and kept current as it moves on."""

    async def show(self, action: PendingAction, note: str = "", *, needed: int = 1) -> None: ...


class UserGroups(Protocol):
    """The @usergroup handles a user belongs to (operators may be named by group)."""

    async def groups_of(self, user: str) -> list[str]: ...


@dataclass(frozen=True)
class Operators:
    names: tuple[str, ...]  # user IDs and @usergroup handles
    two_person_p0_rollbacks: bool


class DangerousActions:
    def __init__(
        self,
        store: Store,
        actions: PlatformActions,
        clock: Clock,
        board: ActionBoard,
        groups: UserGroups,
        operators: Operators,
    ) -> None:
        self._store = store
        self.actions = actions
        self._clock = clock
        self._board = board
        self._groups = groups
        self._operators = operators

    # who may act ---------------------------------------------------------------------------

    async def authorised(self, user: str) -> Problem | None:
        """None if the user may act; otherwise why not."""
        names = self._operators.names
        if not names:
            return Problem(NO_OPERATORS, refused=True)
        groups = await self._groups.groups_of(user) if any(n.startswith("@") for n in names) else []
        if is_operator(user, names, groups):
            return None
        return Problem(
            "Only operators may run this (" + ", ".join(names) + "). The refusal is recorded.",
            refused=True,
        )

    async def audit(self, channel: str, user: str, text: str, data: dict[str, Any]) -> None:
        incident = await self._store.incident_by_channel(channel)
        log.info("action audit", extra={"user": user, "text": text, **data})
        if incident is not None:
            await self._store.append_event(
                incident.id,
                NewEvent(EventKind.ACTION, user, text, self._clock.now(), data, key=True),
            )

    async def needed(self, action: PendingAction) -> int:
        incident = (
            await self._store.get_incident(action.incident_id)
            if action.incident_id is not None
            else None
        )
        return approvals_needed(
            action.plan,
            incident.severity if incident else None,
            two_person_p0_rollbacks=self._operators.two_person_p0_rollbacks,
        )

    # the state machine ---------------------------------------------------------------------

    async def request(
        self, plan: ActionPlan | Problem, user: str, channel: str, command: Sequence[str]
    ) -> PendingAction | Problem:
        """Records a planned action and shows it for confirmation. `command` is what was asked
        (`/scale records 5` as words), for the audit of a refusal."""
        name, args = command[0], list(command[1:])
        refusal = await self.authorised(user)
        if refusal is not None:
            await self.audit(
                channel,
                user,
                f"refused {name} {' '.join(args)}",
                {"action": name, "args": args, "result": "refused"},
            )
            return refusal
        if isinstance(plan, Problem):
            return plan
        incident = await self._store.incident_by_channel(channel)
        action = await self._store.create_action(
            plan, user, channel, incident.id if incident else None
        )
        await self._board.show(action, needed=await self.needed(action))
        return action

    async def confirm(self, action: PendingAction, user: str) -> Problem | None:
        """None once the confirmation is taken (the action runs, or waits for another)."""
        refusal = await self.authorised(user)
        if refusal is not None:
            await self.audit(
                action.channel,
                user,
                f"refused confirming action #{action.id}",
                {"action_id": action.id, "result": "refused"},
            )
            return refusal
        if action.state != ActionState.PENDING:
            return Problem(f"This action is already {action.state}.")
        if user in action.approvals:
            return Problem("You have confirmed this already; another operator must confirm it too.")
        approvals = (*action.approvals, user)
        needed = await self.needed(action)
        if len(approvals) < needed:
            moved = await self._store.transition_action(
                action.id, [ActionState.PENDING], ActionState.PENDING, approvals=approvals
            )
            if moved is not None:
                await self._board.show(moved, "Waiting for a second operator.", needed=needed)
            return None
        running = await self._store.transition_action(
            action.id, [ActionState.PENDING], ActionState.RUNNING, approvals=approvals
        )
        if running is None:
            return Problem("Someone else acted on this first.")
        await self._run(running)
        return None

    async def cancel(self, action: PendingAction, user: str) -> Problem | None:
        if user != action.requested_by and await self.authorised(user) is not None:
            return Problem("Only the requester or an operator can cancel this.", refused=True)
        cancelled = await self._store.transition_action(
            action.id, [ActionState.PENDING], ActionState.CANCELLED, result=f"cancelled by {user}"
        )
        if cancelled is None:
            return Problem(f"Too late: this action is already {action.state}.")
        await self._board.show(cancelled)
        await self.audit(
            action.channel,
            user,
            f"cancelled {title(action)}",
            {"action_id": action.id, "result": "cancelled"},
        )
        return None

    async def _run(self, action: PendingAction) -> None:
        async def progress(note: str) -> None:
            await self._board.show(action, note)

        await progress("Running…")
        try:
            ok, result = await self.actions.execute(action.plan, progress)
        except Exception as exc:
            log.exception("action failed", extra={"action_id": action.id})
            ok, result = False, f"failed unexpectedly: {type(exc).__name__}"
        done = await self._store.transition_action(
            action.id,
            [ActionState.RUNNING],
            ActionState.DONE if ok else ActionState.FAILED,
            result=result,
        )
        if done is not None:
            await self._board.show(done)
        await self.audit(
            action.channel,
            action.requested_by,
            f"{title(action)}: {'done' if ok else 'failed'}: {result}",
            {
                "action_id": action.id,
                "kind": str(action.plan.kind),
                "target": action.plan.target,
                "before": action.plan.before,
                "after": action.plan.after,
                "result": result,
                "succeeded": ok,
                "requested_by": action.requested_by,
                "confirmed_by": list(action.approvals),
            },
        )
