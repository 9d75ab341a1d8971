"""Webhook intake: verify, parse and identify deliveries before they are stored."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_REASON = 300
# Alertmanager and PagerDuty nest a handful of levels; the store's serializer stops at a few
# hundred, and a 500 there would make the sender retry the same body for ever.
MAX_DEPTH = 64


@dataclass(frozen=True)
class Rejected:
    """A delivery the sender got wrong: the HTTP status and a one-line reason."""

    status: int
    reason: str


class NotJSON(ValueError):
    """The body is not strict JSON of valid Unicode; the message is one line."""


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """A reason fit for a log line: control characters (a label name may hold a newline)
    shown escaped, and long text (a label name may be 10,000 characters) cut short."""
    flat = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _no_constant(name: str) -> Any:
    raise NotJSON(f"{name} is not a JSON value")


def load_json(body: bytes) -> Any:
    """`json.loads` for bodies from the network: whatever the sender posts, the answer is a
    value or NotJSON, never another exception (a 500 makes the sender retry it for ever)."""
    try:
        value = json.loads(body, parse_constant=_no_constant)
        # A lone surrogate ("\ud800") decodes, but can be neither stored nor sent on as UTF-8.
        # Only an escape or bytes that are not strict UTF-8 can make one: without either, the
        # value is not serialised a second time just to look.
        if _may_hold_surrogates(body):
            json.dumps(value, ensure_ascii=False).encode()
    except NotJSON:
        raise
    except json.JSONDecodeError as exc:
        raise NotJSON(one_line(exc.msg)) from None
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise NotJSON(one_line(f"not valid Unicode: {exc.reason}")) from None
    except RecursionError:
        raise NotJSON("nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise NotJSON(one_line(str(exc))) from None
    # Every level opens a bracket: a body with few of them cannot be deep, and needs no walk.
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and _too_deep(value):
        raise NotJSON(f"nested more than {MAX_DEPTH} levels deep")
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _may_hold_surrogates(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return _SURROGATE_ESCAPE.search(body) is not None


def _too_deep(value: Any) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False
