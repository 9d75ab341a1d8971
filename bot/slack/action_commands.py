"""/rollback, /scale, /restart and their Confirm/Cancel buttons, guarded and audited."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.actions import (
    ActionPlan,
    ActionState,
    PendingAction,
    approvals_needed,
    is_operator,
)
from bot.domain.clock import Clock
from bot.domain.timeline import EventKind, NewEvent
from bot.services.actions.plans import PlatformActions, Refused, parse_replicas
from bot.services.outbox import Outbox
from bot.slack import action_messages
from bot.store.base import Store, StoreUnavailable

log = logging.getLogger(__name__)
NO_OPERATORS = (
    ":no_entry: Dangerous actions are refused: nobody is allowed to run them yet. Name Slack user"
    " IDs or @usergroups in `operators` in the platform config, or in INCIDENT_BOT_OPERATORS."
)
USAGE = {
    "/rollback": "`/rollback SERVICE [--to-revision N]`, `/rollback SERVICE history`,"
    " `/rollback desktop VERSION`",
    "/scale": "`/scale SERVICE REPLICAS`",
    "/restart": "`/restart SERVICE`",
}


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


@dataclass(frozen=True)
class ActionDeps:
    store: Store
    outbox: Outbox
    actions: PlatformActions
    clock: Clock
    operators: tuple[str, ...]
    two_person_p0_rollbacks: bool
    client: AsyncWebClient


class ActionCommands:
    def __init__(self, deps: ActionDeps) -> None:
        self.d = deps

    def register(self, app: AsyncApp) -> None:
        for name in USAGE:
            app.command(name)(self._command(name))
        app.action("action_confirm")(self._button(self.confirm))
        app.action("action_cancel")(self._button(self.cancel))
        app.action("rollback_offer")(self._offer)

    # who may act ---------------------------------------------------------------------------

    async def _groups_of(self, user: str) -> list[str]:
        if not any(op.startswith("@") for op in self.d.operators):
            return []
        try:
            found = await self.d.client.usergroups_list(include_users=True)
        except SlackApiError as exc:
            log.warning("usergroup lookup failed", extra={"error": str(exc)})
            return []
        return [
            str(g.get("handle"))
            for g in found.get("usergroups") or []
            if user in (g.get("users") or [])
        ]

    async def _authorised(self, user: str) -> str | None:
        """None if the user may act; otherwise why not."""
        if not self.d.operators:
            return NO_OPERATORS
        if is_operator(user, self.d.operators, await self._groups_of(user)):
            return None
        return (
            ":no_entry: Only operators may run this ("
            + ", ".join(self.d.operators)
            + "). The refusal is recorded."
        )

    async def _audit(self, channel: str, user: str, text: str, data: dict[str, Any]) -> None:
        incident = await self.d.store.incident_by_channel(channel)
        log.info("action audit", extra={"user": user, "text": text, **data})
        if incident is not None:
            await self.d.store.append_event(
                incident.id,
                NewEvent(EventKind.ACTION, user, text, self.d.clock.now(), data, key=True),
            )

    # commands ------------------------------------------------------------------------------

    def _command(self, name: str) -> Any:
        async def run(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
            await ack(
                response_type="ephemeral", text=f":hourglass_flowing_sand: Checking `{name}`…"
            )
            user, channel = str(command.get("user_id", "")), str(command.get("channel_id", ""))
            words = str(command.get("text", "")).split()
            try:
                answer = await self.request(name, words, user, channel)
            except StoreUnavailable:
                answer = ":warning: The bot's store is unavailable; nothing was done. Retry."
            except Exception:
                log.exception("action request failed", extra={"command": name})
                answer = f":warning: `{name}` failed before doing anything; the error is logged."
            await respond(**{**_ephemeral(answer), "replace_original": True})

        return run

    async def request(self, name: str, words: list[str], user: str, channel: str) -> str:
        """Plans the command and posts its confirmation; returns what to tell the requester."""
        if name == "/rollback" and len(words) == 2 and words[1] == "history":
            history = await self.d.actions.history(words[0])
            return (
                history.message
                if isinstance(history, Refused)
                else (f"*Rollout history of {words[0]}* (* = current)\n```{history}```")
            )
        plan = await self._plan(name, words)
        if isinstance(plan, str):
            return plan
        refusal = await self._authorised(user)
        if refusal is not None:
            await self._audit(
                channel,
                user,
                f"refused {name} {' '.join(words)}",
                {"action": name, "args": words, "result": "refused"},
            )
            return refusal
        if isinstance(plan, Refused):
            return f":warning: {plan.message}"
        incident = await self.d.store.incident_by_channel(channel)
        action = await self.d.store.create_action(
            plan, user, channel, incident.id if incident else None
        )
        await self._show(action, needed=await self._needed(action))
        return "Posted for confirmation in this channel: an operator must click Confirm."

    async def _plan(self, name: str, words: list[str]) -> ActionPlan | Refused | str:
        usage = f"Usage: {USAGE[name]}"
        if name == "/rollback":
            if len(words) == 2 and words[0] == "desktop":
                return await self.d.actions.plan_desktop(words[1])
            if len(words) == 1:
                return await self.d.actions.plan_rollback(words[0])
            if len(words) == 3 and words[1] == "--to-revision" and words[2].isdigit():
                return await self.d.actions.plan_rollback(words[0], int(words[2]))
            if len(words) == 2 and words[1].startswith("--to-revision="):
                value = words[1].split("=", 1)[1]
                if value.isdigit():
                    return await self.d.actions.plan_rollback(words[0], int(value))
            return usage
        if name == "/scale":
            replicas = parse_replicas(words[1]) if len(words) == 2 else None
            if replicas is None:
                return usage
            return await self.d.actions.plan_scale(words[0], replicas)
        if len(words) != 1:
            return usage
        return await self.d.actions.plan_restart(words[0])

    async def _needed(self, action: PendingAction) -> int:
        incident = (
            await self.d.store.get_incident(action.incident_id)
            if action.incident_id is not None
            else None
        )
        return approvals_needed(
            action.plan,
            incident.severity if incident else None,
            two_person_p0_rollbacks=self.d.two_person_p0_rollbacks,
        )

    async def _show(self, action: PendingAction, note: str = "", *, needed: int = 1) -> None:
        key = f"action:{action.id}"
        text = action_messages.text(action, note)
        blocks = action_messages.blocks(action, note, needed)
        if action.state == ActionState.PENDING and not action.approvals and not note:
            await self.d.outbox.post(
                action.channel, text, blocks=blocks, message_key=key, incident_id=action.incident_id
            )
        else:
            await self.d.outbox.update(action.channel, key, text, blocks=blocks)

    # buttons -------------------------------------------------------------------------------

    def _button(self, handler: Any) -> Any:
        async def run(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            user = str(body.get("user", {}).get("id", ""))
            value = str((body.get("actions") or [{}])[0].get("value", ""))
            action = await self.d.store.get_action(int(value)) if value.isdigit() else None
            if action is None:
                await respond(**_ephemeral("That action is no longer known to the bot."))
                return
            answer = await handler(action, user)
            if answer:
                await respond(**_ephemeral(answer))

        return run

    async def _offer(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """The "Roll back to <previous>" button of an enrichment: a /rollback by the clicker."""
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        service = str((body.get("actions") or [{}])[0].get("value", ""))
        await respond(**_ephemeral(await self.request("/rollback", [service], user, channel)))

    async def confirm(self, action: PendingAction, user: str) -> str | None:
        refusal = await self._authorised(user)
        if refusal is not None:
            await self._audit(
                action.channel,
                user,
                f"refused confirming action #{action.id}",
                {"action_id": action.id, "result": "refused"},
            )
            return refusal
        if action.state != ActionState.PENDING:
            return f"This action is already {action.state}."
        if user in action.approvals:
            return "You have confirmed this already; another operator must confirm it too."
        approvals = (*action.approvals, user)
        needed = await self._needed(action)
        if len(approvals) < needed:
            moved = await self.d.store.transition_action(
                action.id, [ActionState.PENDING], ActionState.PENDING, approvals=approvals
            )
            if moved is not None:
                await self._show(moved, "Waiting for a second operator.", needed=needed)
            return None
        running = await self.d.store.transition_action(
            action.id, [ActionState.PENDING], ActionState.RUNNING, approvals=approvals
        )
        if running is None:
            return "Someone else acted on this first."
        await self._run(running)
        return None

    async def cancel(self, action: PendingAction, user: str) -> str | None:
        if user != action.requested_by and await self._authorised(user) is not None:
            return "Only the requester or an operator can cancel this."
        cancelled = await self.d.store.transition_action(
            action.id, [ActionState.PENDING], ActionState.CANCELLED, result=f"cancelled by {user}"
        )
        if cancelled is None:
            return f"Too late: this action is already {action.state}."
        await self._show(cancelled)
        await self._audit(
            action.channel,
            user,
            f"cancelled {action_messages.title(action)}",
            {"action_id": action.id, "result": "cancelled"},
        )
        return None

    async def _run(self, action: PendingAction) -> None:
        async def progress(note: str) -> None:
            await self._show(action, note)

        await progress("Running…")
        try:
            ok, result = await self.d.actions.execute(action.plan, progress)
        except Exception as exc:
            log.exception("action failed", extra={"action_id": action.id})
            ok, result = False, f"failed unexpectedly: {type(exc).__name__}"
        done = await self.d.store.transition_action(
            action.id,
            [ActionState.RUNNING],
            ActionState.DONE if ok else ActionState.FAILED,
            result=result,
        )
        if done is not None:
            await self._show(done)
        await self._audit(
            action.channel,
            action.requested_by,
            f"{action_messages.title(action)}: {'done' if ok else 'failed'}: {result}",
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
