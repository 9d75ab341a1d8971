"""Acknowledge / Resolve buttons that act on PagerDuty as the person who clicked."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.integrations.pagerduty import PagerDutyAPI, PagerDutyError, Status

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
        log.warning("pagerduty call failed", extra={"incident": incident_id, "error": str(exc)})
        return f":warning: {exc}"
    return f"Done: PagerDuty incident {status} as {email}."


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
