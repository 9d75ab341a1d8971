"""`/incident postmortem`: the draft uploaded into the incident channel as Markdown, Word and
the metrics chart, with people shown by name."""

from __future__ import annotations

from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.services.outbox import Outbox
from bot.services.postmortems.drafts import Draft

MAX_LOOKUPS = 50


async def display_names(client: AsyncWebClient | None, users: Iterable[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    if client is None:
        return names
    for user in list(dict.fromkeys(u for u in users if u[:1] in ("U", "W")))[:MAX_LOOKUPS]:
        try:
            found = (await client.users_info(user=user)).get("user") or {}
        except SlackApiError:
            continue
        profile = found.get("profile") or {}
        names[user] = str(
            profile.get("real_name") or found.get("real_name") or found.get("name") or user
        )
    return names


async def upload(draft: Draft, outbox: Outbox, client: AsyncWebClient | None, channel: str) -> None:
    people = [
        draft.model.commander,
        *(e.actor for e in draft.model.timeline),
        *(f.owner or "" for f in draft.model.follow_ups),
        *(r.actor for r in draft.model.evidence.runs),
        *(a.actor for a in draft.model.evidence.actions),
        *(c for a in draft.model.evidence.actions for c in a.confirmed_by),
    ]
    names = await display_names(client, people)
    incident = draft.incident.id
    await outbox.upload(
        channel,
        draft.filename("md"),
        draft.render("md", names).decode(),
        title="Post-mortem draft (Markdown)",
        incident_id=incident,
    )
    await outbox.upload(
        channel,
        draft.filename("docx"),
        draft.render("docx", names),
        title="Post-mortem draft (Word)",
        incident_id=incident,
    )
    if draft.chart is not None:
        await outbox.upload(
            channel,
            draft.filename("png"),  # the name the Markdown refers to
            draft.chart,
            title="Error rate and p95 latency during the incident",
            incident_id=incident,
        )
