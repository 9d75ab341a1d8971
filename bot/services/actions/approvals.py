"""The approval state machine of dangerous actions: who may ask, how many must confirm, how
long a confirmation holds, and an audit record of every refusal, cancellation and result.

Slack, the API and the CLI translate to and from this; none of them decides who may act.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from bot.domain.actions import (
    ActionPlan,
    ActionState,
    PendingAction,
    approvals_needed,
    is_operator,
    title,
    too_old,
)
from bot.domain.clock import Clock
from bot.domain.incident import Incident
from bot.domain.problem import Problem
from bot.domain.timeline import EventKind, NewEvent
from bot.services.actions.plans import PlatformActions
from bot.services.jobs import Jobs, Work
from bot.store.base import Store

log = logging.getLogger(__name__)
NO_OPERATORS = (
    "Dangerous actions are refused: nobody is allowed to run them yet. Name Slack user"
    " IDs or @usergroups in `operators` in the platform config, or in INCIDENT_BOT_OPERATORS."
)
# Long enough to read the confirmation and find a second operator; short enough that what it
# showed ("Now: 2 replicas") is still what Confirm acts on.
PENDING_FOR = timedelta(minutes=10)
# The job kind under which a confirmed action runs: a replica that dies mid-run leaves it for
# the lease holder to fail visibly, never to run again.
RUN_ACTION = "dangerous_action"
INTERRUPTED = (
    "interrupted: the bot (the replica running it) stopped while this was running, so it may"
    " be partly done. Check the service (`/rollback SERVICE history`, `kubectl rollout"
    " status`) before asking again."
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
        *,
        pending_for: timedelta = PENDING_FOR,
        jobs: Jobs | None = None,
    ) -> None:
        self._store = store
        self._jobs = jobs
        if jobs is not None:
            jobs.handlers[RUN_ACTION] = self.interrupted
        self.actions = actions
        self._clock = clock
        self._board = board
        self._groups = groups
        self._operators = operators
        self._pending_for = pending_for

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

    async def audit(
        self, incident_id: int | None, user: str, text: str, data: dict[str, Any]
    ) -> None:
        # Nested: LogRecord refuses extra keys it has itself ("args", "msg"), and the audit's
        # keys are the command's.
        log.info("action audit", extra={"audit": {"user": user, "text": text, **data}})
        if incident_id is not None:
            await self._store.append_event(
                incident_id,
                NewEvent(EventKind.ACTION, user, text, self._clock.now(), data, key=True),
            )

    async def _incident(self, channel: str, incident_id: int | None) -> Incident | None:
        if incident_id is not None:
            return await self._store.get_incident(incident_id)
        return await self._store.incident_by_channel(channel)

    def _needed_at(self, plan: ActionPlan, incident: Incident | None) -> int:
        return approvals_needed(
            plan,
            incident.severity if incident else None,
            two_person_p0_rollbacks=self._operators.two_person_p0_rollbacks,
        )

    async def needed(self, action: PendingAction) -> int:
        """What the request fixed, or more if the incident became a P0 since."""
        incident = (
            await self._store.get_incident(action.incident_id)
            if action.incident_id is not None
            else None
        )
        return max(action.needed, self._needed_at(action.plan, incident))

    async def _stale(self, action: PendingAction) -> str | None:
        """Why the confirmation no longer shows what Confirm would act on, if it does not."""
        if too_old(action, self._clock.now(), self._pending_for):
            minutes = self._pending_for.total_seconds() / 60
            return (
                f"this confirmation is over {minutes:g} minutes old, so what it shows may no"
                " longer hold"
            )
        return await self.actions.drift(action.plan)

    # the state machine ---------------------------------------------------------------------

    async def request(
        self,
        plan: ActionPlan | Problem,
        user: str,
        channel: str,
        command: Sequence[str],
        *,
        incident_id: int | None = None,
    ) -> PendingAction | Problem:
        """Records a planned action and shows it for confirmation. `command` is what was asked
        (`/scale records 5` as words), for the audit of a refusal. The action belongs to
        `incident_id` when given (an alert thread's incident), else to the channel's."""
        name, args = command[0], list(command[1:])
        incident = await self._incident(channel, incident_id)
        refusal = await self.authorised(user)
        if refusal is not None:
            await self.audit(
                incident.id if incident else None,
                user,
                f"refused {name} {' '.join(args)}".strip(),
                {"action": name, "args": args, "result": "refused", "reason": refusal.message},
            )
            return refusal
        if isinstance(plan, Problem):
            return plan
        action = await self._store.create_action(
            plan,
            user,
            channel,
            incident.id if incident else None,
            needed=self._needed_at(plan, incident),
            at=self._clock.now(),
        )
        await self._board.show(action, needed=action.needed)
        return action

    async def confirm(self, action: PendingAction, user: str) -> Problem | None:
        """None once the confirmation is taken (the action runs, or waits for another)."""
        refusal = await self.authorised(user)
        if refusal is not None:
            await self._refused(action, user, "confirming", refusal.message)
            return refusal
        if action.state != ActionState.PENDING:
            return Problem(f"This action is already {action.state}.")
        if user in action.approvals:
            return Problem("You have confirmed this already; another operator must confirm it too.")
        stale = await self._stale(action)
        if stale is not None:
            expired = await self._store.transition_action(
                action.id, [ActionState.PENDING], ActionState.EXPIRED, result=stale
            )
            if expired is None:
                return Problem("Someone else acted on this first.")
            await self._board.show(expired)
            await self._refused(action, user, "confirming", stale)
            return Problem(f"Not done: {stale}. Ask again to see it as it is now.", refused=True)
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
        if self._jobs is None:
            await self._run(running)
        else:
            await self._jobs.run(
                RUN_ACTION, f"action:{running.id}", {"action_id": running.id}, self._job(running)
            )
        return None

    def _job(self, action: PendingAction) -> Work:
        async def run(_: Mapping[str, Any]) -> None:
            await self._run(action)

        return run

    async def _refused(self, action: PendingAction, user: str, what: str, reason: str) -> None:
        await self.audit(
            action.incident_id,
            user,
            f"refused {what} {title(action)} (action #{action.id}): {reason}",
            {"action_id": action.id, "result": "refused", "reason": reason},
        )

    async def cancel(self, action: PendingAction, user: str) -> Problem | None:
        if user != action.requested_by and await self.authorised(user) is not None:
            reason = "Only the requester or an operator can cancel this."
            await self._refused(action, user, "cancelling", reason)
            return Problem(reason, refused=True)
        cancelled = await self._store.transition_action(
            action.id, [ActionState.PENDING], ActionState.CANCELLED, result=f"cancelled by {user}"
        )
        if cancelled is None:
            return Problem(f"Too late: this action is already {action.state}.")
        await self._board.show(cancelled)
        await self.audit(
            action.incident_id,
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
        await self._audit_result(action, ok, result)

    async def _audit_result(self, action: PendingAction, ok: bool, result: str) -> None:
        await self.audit(
            action.incident_id,
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

    async def fail_interrupted(self) -> int:
        """Fails, visibly, the actions a stop left running: nothing else would ever finish
        them. Called at start, before any request is taken; returns how many there were.
        Every running row is this process's own: the store is one SQLite file, one replica.
        """
        interrupted = await self._store.actions_in_state([ActionState.RUNNING])
        for action in interrupted:
            await self._fail(action)
        return len(interrupted)

    async def interrupted(self, job: Mapping[str, Any]) -> None:
        """The job of an action whose replica died mid-run, taken over by the lease holder.

        Failed rather than resumed: whether the change was applied before the stop is not
        known, and running it again unasked is the one thing a dangerous action must not do.
        """
        action = await self._store.get_action(int(job["action_id"]))
        if action is not None and action.state == ActionState.RUNNING:
            await self._fail(action)

    async def _fail(self, action: PendingAction) -> None:
        failed = await self._store.transition_action(
            action.id, [ActionState.RUNNING], ActionState.FAILED, result=INTERRUPTED
        )
        if failed is None:
            return
        log.warning("action interrupted by a stop", extra={"action_id": action.id})
        await self._board.show(failed)
        await self._audit_result(failed, False, INTERRUPTED)
