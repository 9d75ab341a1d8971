"""Slash commands: parse, answer inside Slack's 3 s, do the slow work after the ack."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.domain.commands import INCIDENT_USAGE, UsageProblem, parse_incident
from bot.domain.incident import Severity
from bot.domain.problem import Problem
from bot.domain.report import Code, Mark, Strong, line
from bot.integrations.pagerduty import PagerDutyAPI, PagerDutyError
from bot.services.jobs import Work
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
UNAVAILABLE = ":warning: The incident store is unavailable right now; try again shortly."
# The job kind of an /incident command's work after the ack, and the command's fields it keeps.
SLASH_COMMAND = "slash_command"
# The declare form's submission, kept as a job the same way.
DECLARE_FORM = "declare_form"
UNAVAILABLE_SHORT = "The incident store is unavailable right now; submit again shortly."
JOB_FIELDS = ("command", "text", "user_id", "channel_id", "response_url", "trigger_id")


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
        working = _ephemeral(
            f":hourglass_flowing_sand: Working on `/incident {parsed.subcommand}`…"
        )
        if deps.jobs is None:
            await ack(**working)
            text = await _answer_text(inv)
            await respond(**_ephemeral(text), replace_original=True)
            return
        # Stored before the ack: a command Slack was told is being worked on survives this
        # replica dying, and any replica's recovery finishes it.
        payload = {name: str(command.get(name) or "") for name in JOB_FIELDS}
        key = payload["trigger_id"] or f"untriggered:{uuid.uuid4().hex}"
        try:
            job = await deps.jobs.start(SLASH_COMMAND, key, payload)
        except StoreUnavailable:
            await ack(**_ephemeral(UNAVAILABLE))
            return
        await ack(**working)
        if job is not None:  # None: delivered again; the first delivery's job answers
            await deps.jobs.carry(job, lambda stored: run_slash_command(deps, stored))

    @app.view(declare_modal.CALLBACK_ID)
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        title, severity, services, description = declare_modal.read(
            view.get("state", {}).get("values", {})
        )
        if not title:
            await ack(response_action="errors", errors={"title": "Give the incident a title."})
            return
        # Each submission carries a trigger_id of its own; the view's id is the fallback.
        request = "view:" + str(body.get("trigger_id") or view.get("id") or uuid.uuid4().hex)
        payload: dict[str, Any] = {
            "title": title,
            "severity": severity.value,
            "services": list(services),
            "description": description,
            "user": str(body.get("user", {}).get("id", "")),
            "request": request,
        }
        if deps.jobs is None:
            await ack()
            await run_declare_form(deps, payload)
            return
        # As a slash command's: stored before the ack, so the form a responder submitted is
        # declared even if this replica dies right after closing it.
        try:
            job = await deps.jobs.start(DECLARE_FORM, request, payload)
        except StoreUnavailable:
            await ack(response_action="errors", errors={"title": UNAVAILABLE_SHORT})
            return
        await ack()
        if job is not None:
            await deps.jobs.carry(job, lambda stored: run_declare_form(deps, stored))

    @app.command("/oncall")
    async def oncall(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack(**_ephemeral(":hourglass_flowing_sand: Asking PagerDuty…"))
        text = await _oncall(deps, pagerduty, str(command.get("text", "")).strip())
        await respond(**_ephemeral(text), replace_original=True)


def job_kinds(deps: CommandDeps) -> dict[str, Work]:
    """The job kinds the Slack side stores, and what runs each one again when the replica
    that acked it died before finishing."""
    return {
        SLASH_COMMAND: lambda payload: run_slash_command(deps, payload),
        DECLARE_FORM: lambda payload: run_declare_form(deps, payload),
    }


async def run_declare_form(deps: CommandDeps, payload: Mapping[str, Any]) -> None:
    """The declare form's work after Slack closed it: declared under the submission's key (a
    rerun finds the incident and channel a dead replica already made), then the submitter
    told, in a DM as the form has no response_url."""
    user = str(payload.get("user", ""))
    severity = Severity.parse(str(payload.get("severity", ""))) or Severity.P2
    outcome = await deps.lifecycle.declare(
        str(payload.get("title", "")),
        severity,
        user,
        services=tuple(str(s) for s in payload.get("services") or ()),
        description=str(payload.get("description", "")),
        request_key=str(payload.get("request") or "") or None,
    )
    if isinstance(outcome, Problem):
        await deps.lifecycle.notify_user(
            user, [line("Could not declare: ", outcome.message, mark=Mark.WARNING)]
        )
        return
    problems = await deps.lifecycle.open(outcome)
    incident = await deps.store.get_incident(outcome.id) or outcome
    await deps.lifecycle.notify_user(user, declared(incident, problems))


async def run_slash_command(deps: CommandDeps, payload: Mapping[str, Any]) -> None:
    """An /incident command's work after the ack, from its stored fields: the answer, then
    the caller's ephemeral message replaced through response_url (valid 30 minutes), as
    Bolt's `respond` does. A failure is answered, then raised for the job to record."""
    parsed = parse_incident(str(payload.get("text", "")))
    if isinstance(parsed, UsageProblem):  # stored only once it parsed; kept for safety
        await _respond(str(payload.get("response_url", "")), escape(parsed.message))
        return
    inv = Invocation(
        parsed,
        str(payload.get("user_id", "")),
        str(payload.get("channel_id", "")),
        deps,
        str(payload.get("trigger_id") or "") or None,
    )
    failure: Exception | None = None
    try:
        text = await answer(inv)
    except StoreUnavailable as exc:
        text, failure = UNAVAILABLE, exc
    except Exception as exc:
        text, failure = (
            f":warning: `/incident {inv.parsed.subcommand}` failed; the error is logged.",
            exc,
        )
    await _respond(str(payload.get("response_url", "")), text)
    if failure is not None:
        raise failure


async def _respond(response_url: str, text: str) -> None:
    if not response_url:
        return
    try:
        resp = await AsyncWebhookClient(response_url).send_dict(
            {**_ephemeral(text), "replace_original": True}
        )
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("could not answer through response_url", extra={"error": str(exc)})
        return
    if resp.status_code != 200:
        # Expired (30 minutes) or used up (5 times): nothing more can reach the caller.
        log.warning(
            "response_url refused the answer",
            extra={"status": resp.status_code, "body": str(resp.body)[:200]},
        )


async def _answer_text(inv: Invocation) -> str:
    try:
        return await answer(inv)
    except StoreUnavailable:
        return UNAVAILABLE
    except Exception:
        log.exception("command failed", extra={"subcommand": inv.parsed.subcommand})
        return f":warning: `/incident {inv.parsed.subcommand}` failed; the error is logged."


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
