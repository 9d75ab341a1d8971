"""Slash commands: parse, answer inside Slack's 3 s, do the slow work after the ack."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.commands import INCIDENT_USAGE, UsageProblem, parse_incident
from bot.domain.problem import Problem
from bot.domain.report import Code, Mark, Strong, line
from bot.integrations.pagerduty import PagerDutyAPI, PagerDutyError
from bot.slack import declare_modal
from bot.slack.blocks import escape
from bot.slack.incident_commands import CommandDeps, Invocation, answer, declared
from bot.slack.report import mrkdwn
from bot.store.base import StoreUnavailable

log = logging.getLogger(__name__)
# Answered at once; anything slower is done after the ack and sent through response_url.
QUICK = {"help", "list"}
# Its `<title>` placeholders are words, not Slack's angle-bracket markup.
USAGE = escape(INCIDENT_USAGE)


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


def register_commands(
    app: AsyncApp, deps: CommandDeps, pagerduty: PagerDutyAPI | None = None
) -> None:
    @app.command("/incident")
    async def incident(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        parsed = parse_incident(str(command.get("text", "")))
        if isinstance(parsed, UsageProblem):
            await ack(**_ephemeral(f":warning: {escape(parsed.message)}\n\n{USAGE}"))
            return
        inv = Invocation(
            parsed, str(command.get("user_id", "")), str(command.get("channel_id", "")), deps
        )
        if parsed.subcommand == "declare" and not parsed.args:
            await ack()
            await _open_modal(client, command, deps)
            return
        if parsed.subcommand in QUICK:
            await ack(**_ephemeral(await answer(inv)))
            return
        await ack(
            **_ephemeral(f":hourglass_flowing_sand: Working on `/incident {parsed.subcommand}`…")
        )
        try:
            text = await answer(inv)
        except StoreUnavailable:
            text = ":warning: The incident store is unavailable right now; try again shortly."
        except Exception:
            log.exception("command failed", extra={"subcommand": parsed.subcommand})
            text = f":warning: `/incident {parsed.subcommand}` failed; the error is logged."
        await respond(**_ephemeral(text), replace_original=True)

    @app.view(declare_modal.CALLBACK_ID)
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        title, severity, services, description = declare_modal.read(
            view.get("state", {}).get("values", {})
        )
        if not title:
            await ack(response_action="errors", errors={"title": "Give the incident a title."})
            return
        await ack()
        user = str(body.get("user", {}).get("id", ""))
        outcome = await deps.lifecycle.declare(
            title, severity, user, services=services, description=description
        )
        if isinstance(outcome, Problem):
            await deps.lifecycle.notify_user(
                user, [line("Could not declare: ", outcome.message, mark=Mark.WARNING)]
            )
            return
        problems = await deps.lifecycle.open(outcome)
        incident = await deps.store.get_incident(outcome.id) or outcome
        await deps.lifecycle.notify_user(user, declared(incident, problems))

    @app.command("/oncall")
    async def oncall(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack(**_ephemeral(":hourglass_flowing_sand: Asking PagerDuty…"))
        text = await _oncall(deps, pagerduty, str(command.get("text", "")).strip())
        await respond(**_ephemeral(text), replace_original=True)


async def _open_modal(client: AsyncWebClient, command: dict[str, Any], deps: CommandDeps) -> None:
    try:
        await client.views_open(
            trigger_id=command.get("trigger_id"),
            view=declare_modal.view(deps.config, str(command.get("channel_id", ""))),
        )
    except SlackApiError as exc:
        log.warning("could not open the declare form", extra={"error": str(exc)})


async def _oncall(deps: CommandDeps, pagerduty: PagerDutyAPI | None, service: str) -> str:
    if pagerduty is None:
        return "`/oncall` needs PAGERDUTY_API_TOKEN to read PagerDuty's schedules."
    policies = list(deps.config.escalation_policies)
    if service:
        svc = deps.config.service(service)
        if svc is None:
            known = ", ".join(s.name for s in deps.config.services)
            return mrkdwn([line("Unknown service ", Code(service), f"; known services: {known}")])
        policies = [svc.escalation_policy] if svc.escalation_policy else policies
    if not policies:
        return "No PagerDuty escalation policies are named in the config (`escalation_policies`)."
    try:
        oncalls = await pagerduty.oncalls(policies)
    except PagerDutyError as exc:
        return mrkdwn([line(str(exc), mark=Mark.WARNING)])
    if not oncalls:
        return "PagerDuty says nobody is on call for those escalation policies right now."
    lines = [
        line(
            f"Level {o.level} · ",
            o.name,
            f" ({o.escalation_policy})" if o.escalation_policy else "",
            bullet=True,
        )
        for o in oncalls
    ]
    return mrkdwn([line(Strong("On call now")), *lines])
