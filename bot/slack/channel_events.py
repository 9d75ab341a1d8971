"""Events API: what happens in an incident channel becomes its timeline, each event once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.domain.timeline import EventKind, NewEvent
from bot.store.base import Store

# Message subtypes that are people talking; joins, topic changes and edits are not.
SPOKEN = {None, "thread_broadcast", "file_share", "me_message"}
PIN_REACTIONS = {"pushpin", "round_pushpin"}


def _at(ts: str | None) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts or 0), UTC)
    except ValueError:
        return datetime.now(UTC)


def register_channel_events(app: AsyncApp, store: Store) -> None:
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

    # Subscribed so the app manifest's events are acknowledged, not retried by Slack.
    for name in ("member_joined_channel", "channel_archive", "reaction_removed", "pin_removed"):
        app.event(name)(_ignore)


async def _ignore() -> None:
    return None
