"""Acknowledge / Resolve buttons that act on PagerDuty as the person who clicked."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.integrations.pagerduty import PagerDutyAPI, PagerDutyError, Status
from bot.slack.blocks import escape

log = logging.getLogger(__name__)


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


async def email_of(client: AsyncWebClient, user: str) -> str | None:
    """PagerDuty acts as a user named by email, so the clicker's Slack email is looked up."""
    try:
        response = await client.users_info(user=user)
    except SlackApiError:
        return None
    email = ((response.get("user") or {}).get("profile") or {}).get("email")
    return str(email) if email else None


async def act_on_pagerduty(
    pagerduty: PagerDutyAPI | None,
    client: AsyncWebClient,
    user: str,
    incident_id: str,
    status: Status,
) -> str:
    """Returns what to tell the clicker."""
    if pagerduty is None:
        return "Acting on PagerDuty from Slack needs PAGERDUTY_API_TOKEN to be set."
    email = await email_of(client, user)
    if email is None:
        return (
            "Your Slack profile has no email the bot can read, so PagerDuty cannot tell"
            " who you are (the app needs the users:read.email scope)."
        )
    try:
        await pagerduty.set_status(incident_id, status, email)
    except PagerDutyError as exc:
        log.warning(
            "pagerduty refused a button",
            extra={
                "incident": incident_id,
                "reason": exc.reason,
                "status": exc.status,
                "code": exc.code,
                "error": str(exc),
            },
        )
        return refusal_text(exc, incident_id, status, email)
    return f"Done: PagerDuty incident {status} as {email}."


def refusal_text(exc: PagerDutyError, incident_id: str, status: Status, email: str) -> str:
    """What PagerDuty answered, in words for the person who clicked, with what to do next."""
    verb = "acknowledge" if status == "acknowledged" else "resolve"
    incident = f"PagerDuty incident {escape(incident_id)}"
    said = escape("; ".join(exc.details) or str(exc))
    match exc.reason:
        case "already_resolved":
            return f":white_check_mark: {incident} is already resolved: nothing to {verb}."
        case "unknown_requester":
            return (
                f":warning: PagerDuty has no user with your Slack email ({escape(email)}), so"
                f" it would not let you {verb} {incident}. Ask a PagerDuty admin to add that"
                " email to your PagerDuty profile, or do it in PagerDuty."
            )
        case "unauthorized":
            return (
                ":warning: PagerDuty refused the bot's API token (PAGERDUTY_API_TOKEN is wrong"
                f" or revoked), so {incident} was not changed. Tell whoever runs the bot;"
                f" {verb} it in PagerDuty meanwhile."
            )
        case "forbidden":
            return (
                f":warning: PagerDuty does not let the bot's API token {verb} incidents (a"
                f" read-only key?), so {incident} was not changed: {said}"
            )
        case "not_found":
            return (
                f":warning: PagerDuty has no incident {escape(incident_id)} (deleted, merged"
                " into another, or in another account)."
            )
        case "rate_limited":
            wait = f"in {exc.retry_after} s" if exc.retry_after is not None else "in a minute"
            return (
                f":hourglass_flowing_sand: PagerDuty is rate limiting the bot right now, so"
                f" {incident} was not changed. Try again {wait}."
            )
        case "invalid":
            return f":warning: PagerDuty refused to {verb} {incident}: {said}"
        case _:
            return (
                f":warning: PagerDuty could not be reached or had an error, so {incident} may"
                f" not be {status}. Try again in a moment, or {verb} it in PagerDuty."
            )


def register_pagerduty_actions(app: AsyncApp, pagerduty: PagerDutyAPI | None) -> None:
    def handler(status: Status) -> Any:
        async def run(
            ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
        ) -> None:
            await ack()
            user = str(body.get("user", {}).get("id", ""))
            incident_id = str((body.get("actions") or [{}])[0].get("value", ""))
            text = await act_on_pagerduty(pagerduty, client, user, incident_id, status)
            await respond(**_ephemeral(text))

        return run

    app.action("pd_ack")(handler("acknowledged"))
    app.action("pd_resolve")(handler("resolved"))
