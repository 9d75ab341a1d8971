"""The Slack outbox's rows as both stores keep them: rows read back as records, and the pure
part of merging a thread's change replies. Shared, so the two stores answer alike."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.store.digest_records import CHANGE_REPLY_KEY_PREFIX
from bot.store.records import AWAITING_INVITE, ChannelAccess, OutboxRow, OutboxState, OutboxStats

UNFINISHED = (OutboxState.PENDING.value, OutboxState.IN_FLIGHT.value)
# A merged change reply stays inside Slack's 50 blocks and the 3,000 characters the bot's
# messages keep their fallback text to.
MERGED_REPLY_BLOCKS = 40
MERGED_REPLY_TEXT = 3000


def outbox_record(row: Mapping[str, Any]) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        method=row["method"],
        channel=row["channel"],
        args=json.loads(row["args"]),
        message_key=row["message_key"],
        thread_key=row["thread_key"],
        incident_id=row["incident_id"],
        state=OutboxState(row["state"]),
        attempts=row["attempts"],
        not_before=row["not_before"],
        created_at=datetime.fromisoformat(row["created_at"]),
        last_error=row["last_error"],
        result=json.loads(row["result"] or "{}"),
    )


def is_change_reply(row: OutboxRow) -> bool:
    return (
        row.method == "chat.postMessage"
        and row.thread_key is not None
        and (row.message_key or "").startswith(CHANGE_REPLY_KEY_PREFIX)
    )


def merged_reply(
    head: OutboxRow, rows: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[int]] | None:
    """The head's args holding it and the change replies behind it, and the ids of those it
    replaces; None when there is nothing to merge. `rows`: the head's message's pending
    replies from the head on, in id order."""
    if len(rows) <= 1 or rows[0]["id"] != head.id:
        return None
    texts: list[str] = []
    blocks: list[Any] = []
    taken: list[int] = []
    for row in rows:
        args = json.loads(row["args"])
        more = list(args.get("blocks") or [])
        if taken and len(blocks) + len(more) > MERGED_REPLY_BLOCKS:
            break  # the rest go in the next message
        texts.append(str(args.get("text", "")))
        blocks += more
        taken.append(row["id"])
    if len(taken) <= 1:
        return None
    text = "\n".join(t for t in texts if t)
    if len(text) > MERGED_REPLY_TEXT:
        text = text[: MERGED_REPLY_TEXT - 1] + "…"
    return {**head.args, "text": text, "blocks": blocks}, taken[1:]


def channel_access(row: Mapping[str, Any]) -> ChannelAccess:
    """From a row of channel, last_error (the newest invite marker), waiting and since."""
    return ChannelAccess(
        channel=row["channel"],
        error=str(row["last_error"]).removeprefix(AWAITING_INVITE),
        waiting=row["waiting"],
        since=datetime.fromisoformat(row["since"]),
    )


def outbox_stats(by_state: Mapping[str, int], oldest: str | None, now: float) -> OutboxStats:
    """From the row count of each state and the oldest unfinished row's created_at."""
    age = now - datetime.fromisoformat(oldest).timestamp() if oldest else 0.0
    depth = sum(by_state.get(s, 0) for s in UNFINISHED)
    return OutboxStats(depth=depth, oldest_age_seconds=max(0.0, age), by_state=by_state)
