"""Events API: what happens in an incident channel becomes its timeline, each event once.

Two envelopes concern the bot itself: member_joined_channel for the bot's own user (someone
invited it: the channel's waiting messages go now) and app_rate_limited, Slack's notice that
it dropped events for a minute (https://api.slack.com/events/app_rate_limited), which every
open incident's war room and timeline are told of, since their capture has a gap there.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.domain.timeline import EventKind, NewEvent
from bot.observability.metrics import Metrics
from bot.services.outbox import Outbox
from bot.store.base import Store

log = logging.getLogger(__name__)

# Message subtypes that are people talking; joins, topic changes and edits are not.
SPOKEN = {None, "thread_broadcast", "file_share", "me_message"}
PIN_REACTIONS = {"pushpin", "round_pushpin"}


def _at(ts: str | None) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts or 0), UTC)
    except ValueError:
        return datetime.now(UTC)


def register_channel_events(
    app: AsyncApp, store: Store, outbox: Outbox | None = None, metrics: Metrics | None = None
) -> None:
    @app.middleware
    async def rate_limited(
        body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        # Not an event_callback, so no listener could match it: acknowledged here.
        if body.get("type") != "app_rate_limited":
            await next()
            return None
        if metrics is not None:
            metrics.slack_events_rate_limited.inc()
        await _timeline_gap(store, outbox, body)
        return BoltResponse(status=200, body="")

    @app.event("member_joined_channel")
    async def joined(event: dict[str, Any], context: AsyncBoltContext) -> None:
        if not context.bot_user_id or event.get("user") != context.bot_user_id:
            return  # people joining are not timeline events
        channel = str(event.get("channel", ""))
        waiting = await store.retry_channel(channel)
        log.info("the bot joined a channel", extra={"channel": channel, "waiting": waiting})
        if outbox is not None and waiting:
            outbox.wakeup.set()

    @app.event("message")
    async def message(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("subtype") not in SPOKEN or event.get("bot_id"):
            return
        incident = await store.incident_by_channel(str(event.get("channel", "")))
        if incident is None:
            return
        await store.append_event_once(
            incident.id,
            NewEvent(
                EventKind.MESSAGE,
                str(event.get("user", "")),
                str(event.get("text", "")),
                _at(event.get("ts")),
                {"ts": event.get("ts"), "thread_ts": event.get("thread_ts")},
            ),
            f"slack:{body.get('event_id') or event.get('client_msg_id') or event.get('ts')}",
        )

    @app.event("pin_added")
    async def pinned(event: dict[str, Any], body: dict[str, Any]) -> None:
        item = event.get("item") or {}
        incident = await store.incident_by_channel(str(event.get("channel_id", "")))
        if incident is None or item.get("type") != "message":
            return
        msg = item.get("message") or {}
        await store.append_event_once(
            incident.id,
            NewEvent(
                EventKind.MESSAGE,
                str(event.get("user", "")),
                f"pinned: {msg.get('text', '')}",
                _at(event.get("event_ts")),
                {"ts": msg.get("ts"), "pinned": True, "author": msg.get("user")},
                key=True,
            ),
            f"slack:{body.get('event_id')}",
        )

    @app.event("reaction_added")
    async def reacted(event: dict[str, Any], body: dict[str, Any]) -> None:
        item = event.get("item") or {}
        if event.get("reaction") not in PIN_REACTIONS or item.get("type") != "message":
            return
        incident = await store.incident_by_channel(str(item.get("channel", "")))
        if incident is None:
            return
        original = await store.find_event(incident.id, "ts", str(item.get("ts", "")))
        text = (
            original.text.removeprefix("📌 ").removeprefix("pinned: ")
            if original is not None
            else "(a message before the bot joined)"
        )
        await store.append_event_once(
            incident.id,
            NewEvent(
                EventKind.MESSAGE,
                str(event.get("user", "")),
                f"📌 {text}",
                _at(event.get("event_ts")),
                {"ts": item.get("ts"), "pinned": True, "reaction": event.get("reaction")},
                key=True,
            ),
            f"slack:{body.get('event_id')}",
        )


async def _timeline_gap(store: Store, outbox: Outbox | None, body: dict[str, Any]) -> None:
    try:
        minute = int(body.get("minute_rate_limited") or 0)
    except (TypeError, ValueError):
        minute = 0
    at = datetime.fromtimestamp(minute, UTC) if minute > 0 else datetime.now(UTC)
    incidents = [i for i in await store.list_incidents(open_only=True, limit=500) if i.channel_id]
    log.warning(
        "Slack dropped events to the bot (Events API rate limit): timeline capture has a gap",
        extra={
            "minute": at.isoformat(),
            "team": body.get("team_id"),
            "open_incidents": len(incidents),
        },
    )
    text = (
        f":warning: Slack dropped events to me around {at:%H:%M} UTC ({at:%Y-%m-%d}) "
        "because of its Events API rate limit: messages, pins and :pushpin: reactions from "
        "that minute may be missing from this incident's timeline. Pin anything important "
        "again, or add it with `/incident update`."
    )
    for incident in incidents:
        noted = await store.append_event_once(
            incident.id,
            NewEvent(EventKind.NOTE, "slack", text, at, {"app_rate_limited": minute}),
            f"slack:app_rate_limited:{minute}:{incident.id}",
        )
        if noted is not None and outbox is not None and incident.channel_id:
            await outbox.post(incident.channel_id, text, incident_id=incident.id)
