"""Block Kit helpers that keep every message inside Slack's limits."""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_MESSAGE_TEXT = 3000  # the notification fallback; Slack truncates long ones anyway

Block = dict[str, Any]


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack mrkdwn control characters, so alert text cannot ping @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT)}}


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)}}


def fields(pairs: list[tuple[str, str]]) -> Block:
    # Slack allows 10 fields of 2000 characters each.
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": clip(f"*{name}*\n{value}", 2000)}
            for name, value in pairs[:10]
        ],
    }


def context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": clip(t, MAX_SECTION_TEXT)}
            for t in texts[:MAX_CONTEXT_ELEMENTS]
        ],
    }


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, 75)},
        "action_id": action_id,
        "value": clip(value, 2000),
    }
    if style:
        element["style"] = style
    return element


def actions(block_id: str, *elements: Block) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(elements[:25])}


def bounded(blocks: list[Block]) -> list[Block]:
    """At most 50 blocks; the last kept block says how many were left out."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    kept = blocks[: MAX_BLOCKS - 1]
    return [*kept, context(f"…{len(blocks) - len(kept)} more not shown")]
