"""`/incident postmortem`: the draft uploaded into the incident channel as Markdown, Word and
the metrics chart."""

from __future__ import annotations

from bot.services.outbox import Outbox
from bot.services.postmortems.drafts import Draft


async def upload(draft: Draft, outbox: Outbox, channel: str) -> None:
    """The draft's people are already named (the drafts service asks Slack's directory)."""
    incident = draft.incident.id
    await outbox.upload(
        channel,
        draft.filename("md"),
        draft.render("md").decode(),
        title="Post-mortem draft (Markdown)",
        incident_id=incident,
    )
    await outbox.upload(
        channel,
        draft.filename("docx"),
        draft.render("docx"),
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
