"""Block Kit helpers that keep every message inside Slack's limits."""

from __future__ import annotations

import re
from typing import Any

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_MESSAGE_TEXT = 3000  # the notification fallback; Slack truncates long ones anyway
MAX_BLOCK_ID = 255

Block = dict[str, Any]
URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Slack mrkdwn control characters, so alert text cannot ping @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A mrkdwn link whose URL came from outside: escaped, with `|` encoded, and only for a
    URL with a scheme, so it can neither end the link early nor be a control sequence
    (`<!channel|…>` pings, `<@U1|…>` mentions); anything else is shown as text."""
    if not URL_SCHEME.match(url):
        return f"{escape(label)}: {escape(url)}"
    return f"<{escape(url).replace('|', '%7C')}|{escape(label)}>"


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
            # Slack refuses an empty text element (and with it the whole message).
            for t in [t for t in texts if t][:MAX_CONTEXT_ELEMENTS]
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
    return {
        "type": "actions",
        "block_id": clip(block_id, MAX_BLOCK_ID),
        "elements": list(elements[:25]),
    }


def _empty(block: Block) -> bool:
    if block["type"] == "context":
        return not block["elements"]
    if block["type"] == "section":
        return not block.get("fields") and not block.get("text", {}).get("text")
    return False


def bounded(blocks: list[Block]) -> list[Block]:
    """At most 50 blocks, none empty (Slack refuses both); the last kept block says how
    many were left out."""
    blocks = [b for b in blocks if not _empty(b)]
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    kept = blocks[: MAX_BLOCKS - 1]
    return [*kept, context(f"…{len(blocks) - len(kept)} more not shown")]
