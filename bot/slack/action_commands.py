"""/rollback, /scale, /restart and their Confirm/Cancel buttons: Slack's side of the dangerous
actions. Who may act and how many must confirm is decided by `DangerousActions`; this module
reads the command, shows the confirmation message and answers the clicker."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.actions import ActionPlan, ActionState, PendingAction
from bot.domain.problem import Problem
from bot.services.actions.approvals import DangerousActions
from bot.services.actions.plans import parse_replicas
from bot.services.outbox import Outbox
from bot.slack import action_messages
from bot.slack.blocks import escape
from bot.slack.playbook_runs import read_offer
from bot.store.base import Store, StoreUnavailable

log = logging.getLogger(__name__)
USAGE = {
    "/rollback": "`/rollback SERVICE [--to-revision N]`, `/rollback SERVICE history`,"
    " `/rollback desktop VERSION`",
    "/scale": "`/scale SERVICE REPLICAS`",
    "/restart": "`/restart SERVICE`",
}


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def shown(problem: Problem) -> str:
    """A problem's words, which can repeat what the user typed (an unknown service), escaped."""
    text = escape(problem.message)
    return f":no_entry: {text}" if problem.refused else text


class SlackActionBoard:
    """The confirmation message in the channel the action was asked in, kept current."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def show(self, action: PendingAction, note: str = "", *, needed: int = 1) -> None:
        key = f"action:{action.id}"
        text = action_messages.text(action, note)
        blocks = action_messages.blocks(action, note, needed)
        if action.state == ActionState.PENDING and not action.approvals and not note:
            await self._outbox.post(
                action.channel, text, blocks=blocks, message_key=key, incident_id=action.incident_id
            )
        else:
            await self._outbox.update(action.channel, key, text, blocks=blocks)


class SlackUserGroups:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def groups_of(self, user: str) -> list[str]:
        try:
            found = await self._client.usergroups_list(include_users=True)
        except SlackApiError as exc:
            log.warning("usergroup lookup failed", extra={"error": str(exc)})
            return []
        return [
            str(g.get("handle"))
            for g in found.get("usergroups") or []
            if user in (g.get("users") or [])
        ]


class ActionCommands:
    def __init__(self, store: Store, dangerous: DangerousActions) -> None:
        self._store = store
        self._dangerous = dangerous

    def register(self, app: AsyncApp) -> None:
        for name in USAGE:
            app.command(name)(self._command(name))
        app.action("action_confirm")(self._button(self._dangerous.confirm))
        app.action("action_cancel")(self._button(self._dangerous.cancel))
        app.action("rollback_offer")(self._offer)

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

    async def request(
        self,
        name: str,
        words: list[str],
        user: str,
        channel: str,
        *,
        incident_id: int | None = None,
    ) -> str:
        """Plans the command and posts its confirmation; returns what to tell the requester.
        The action is the channel's incident's unless `incident_id` names another."""
        actions = self._dangerous.actions
        if name == "/rollback" and len(words) == 2 and words[1] == "history":
            history = await actions.history(words[0])
            return (
                shown(history)
                if isinstance(history, Problem)
                else (
                    f"*Rollout history of {escape(words[0])}* (* = current)"
                    f"\n```{escape(history)}```"
                )
            )
        plan = await self._plan(name, words)
        if isinstance(plan, str):
            return plan
        outcome = await self._dangerous.request(
            plan, user, channel, [name, *words], incident_id=incident_id
        )
        if isinstance(outcome, Problem):
            return shown(outcome) if outcome.refused else f":warning: {shown(outcome)}"
        posted = "Posted for confirmation in this channel: an operator must click Confirm."
        detail = outcome.plan.detail
        if detail.get("autoscaler"):
            low, high = detail["new_bounds"]
            posted += (
                f" {escape(str(detail['deployment']))} is scaled by HorizontalPodAutoscaler"
                f" {escape(str(detail['autoscaler']))}, so Confirm sets its bounds to"
                f" {low} to {high} rather than the replica count, which it would undo."
            )
        return posted

    async def _plan(self, name: str, words: list[str]) -> ActionPlan | Problem | str:
        actions = self._dangerous.actions
        usage = f"Usage: {USAGE[name]}"
        if name == "/rollback":
            if len(words) == 2 and words[0] == "desktop":
                return await actions.plan_desktop(words[1])
            if len(words) == 1:
                return await actions.plan_rollback(words[0])
            if len(words) == 3 and words[1] == "--to-revision" and words[2].isdigit():
                return await actions.plan_rollback(words[0], int(words[2]))
            if len(words) == 2 and words[1].startswith("--to-revision="):
                value = words[1].split("=", 1)[1]
                if value.isdigit():
                    return await actions.plan_rollback(words[0], int(value))
            return usage
        if name == "/scale":
            replicas = parse_replicas(words[1]) if len(words) == 2 else None
            if replicas is None:
                return usage
            return await actions.plan_scale(words[0], replicas)
        if len(words) != 1:
            return usage
        return await actions.plan_restart(words[0])

    def _button(self, handler: Any) -> Any:
        async def run(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            user = str(body.get("user", {}).get("id", ""))
            value = str((body.get("actions") or [{}])[0].get("value", ""))
            action = await self._store.get_action(int(value)) if value.isdigit() else None
            if action is None:
                await respond(**_ephemeral("That action is no longer known to the bot."))
                return
            problem = await handler(action, user)
            if problem is not None:
                await respond(**_ephemeral(shown(problem)))

        return run

    async def _offer(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """The "Roll back to revision N" button of an alert thread: a /rollback to that
        revision by the clicker, for the incident the thread's alert group is part of (the
        alerts channel is no incident's channel, and the P0 two-person rule follows this)."""
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        service, revision, group_id = read_offer(
            str((body.get("actions") or [{}])[0].get("value", ""))
        )
        group = await self._store.alert_group(group_id) if group_id else None
        words = [service] if revision is None else [service, "--to-revision", str(revision)]
        answer = await self.request(
            "/rollback", words, user, channel, incident_id=group.incident_id if group else None
        )
        await respond(**_ephemeral(answer))
