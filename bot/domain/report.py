"""What a diagnostic found, as data: lines of text spans that know nothing of Slack.

Playbook steps say what they saw in these terms; each place that shows it (Slack, a terminal,
a post-mortem) renders the spans itself, so text from outside (a pod event, a log line, a query)
is escaped once, by the renderer, and never read as markup.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass


class Mark(enum.StrEnum):
    """How a line reads at a glance; renderers choose the symbol."""

    OK = "ok"
    PROBLEM = "problem"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    ROLLOUT = "rollout"
    LOCK = "lock"
    PAUSED = "paused"
    INCIDENT = "incident"
    UPDATE = "update"
    CHANGE = "change"
    PERSON = "person"


@dataclass(frozen=True)
class Code:
    """A name or value shown verbatim: a pod, an image, a query."""

    text: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Faint:
    """A remark about the data rather than the data ("no query text")."""

    text: str


@dataclass(frozen=True)
class Link:
    url: str
    label: str


@dataclass(frozen=True)
class User:
    """Who did something: a chat user id, or a name from elsewhere ("alertmanager", an API
    caller). Only a well-formed user id is ever shown as a mention; anything else is text."""

    text: str


@dataclass(frozen=True)
class Channel:
    """A channel the bot knows by its id (one it created, or one it was configured with)."""

    text: str


# A plain `str` span is ordinary text, escaped like every other span.
Span = str | Code | Strong | Faint | Link | User | Channel

# Slack's id shapes: users (U…, W… for Enterprise Grid) and channels (C…, G… for old private
# ones), capital letters and digits. What does not look like one is never rendered as a
# mention or a channel link.
USER_ID = re.compile(r"[UW][A-Z0-9]{1,40}")
CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{1,40}")


def is_user_id(text: str) -> bool:
    return USER_ID.fullmatch(text) is not None


def is_channel_id(text: str) -> bool:
    return CHANNEL_ID.fullmatch(text) is not None


@dataclass(frozen=True)
class Line:
    spans: tuple[Span, ...]
    mark: Mark | None = None
    bullet: bool = False


def line(*spans: Span, mark: Mark | None = None, bullet: bool = False) -> Line:
    return Line(tuple(s for s in spans if s != ""), mark, bullet)


def span_text(span: Span) -> str:
    return span if isinstance(span, str) else span.label if isinstance(span, Link) else span.text


def map_text(lines: Iterable[Line], change: Callable[[str], str]) -> tuple[Line, ...]:
    """The same lines with `change` applied to every piece of text (to scrub secrets, say)."""

    def one(span: Span) -> Span:
        if isinstance(span, str):
            return change(span)
        if isinstance(span, Link):
            return Link(change(span.url), change(span.label))
        return type(span)(change(span.text))

    return tuple(Line(tuple(one(s) for s in ln.spans), ln.mark, ln.bullet) for ln in lines)


PLAIN_MARKS = {
    Mark.OK: "[ok]",
    Mark.PROBLEM: "[FAIL]",
    Mark.ERROR: "[ERROR]",
    Mark.WARNING: "[WARN]",
    Mark.INFO: "[info]",
    Mark.ROLLOUT: "[rollout]",
    Mark.LOCK: "[lock]",
    Mark.PAUSED: "[paused]",
    Mark.INCIDENT: "[incident]",
    Mark.UPDATE: "[update]",
    Mark.CHANGE: "[change]",
    Mark.PERSON: "[role]",
}


def _plain_span(span: Span) -> str:
    if isinstance(span, Link):
        return f"{span.label} ({span.url})"
    if isinstance(span, Channel):
        return f"#{span.text}"
    return span_text(span)


def plain_line(ln: Line) -> str:
    """For a terminal: no markup, no emoji."""
    prefix = ("- " if ln.bullet else "") + (f"{PLAIN_MARKS[ln.mark]} " if ln.mark else "")
    return prefix + "".join(_plain_span(s) for s in ln.spans)


def plain_text(lines: Iterable[Line]) -> str:
    return "\n".join(plain_line(ln) for ln in lines)


def _longest_backticks(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#|~&"})
# In a link destination written <…>, these would end it or make it no link at all.
_URL_UNSAFE = str.maketrans(
    {"<": "%3C", ">": "%3E", " ": "%20", "\\": "%5C", "\n": "%0A", "\r": "%0D"}
)
# Text that starts a line like this would become a list item or a heading.
_BLOCK_START = re.compile(r"(\d+)([.)] )|([-+] )")


def _markdown_span(span: Span) -> str:
    if isinstance(span, Code):
        # A code span holding backticks needs a fence longer than any run of them inside.
        fence = "`" * (_longest_backticks(span.text) + 1)
        return f"{fence} {span.text} {fence}" if len(fence) > 1 else f"`{span.text}`"
    if isinstance(span, Strong):
        return f"**{span.text.translate(_MARKDOWN_SPECIAL)}**"
    if isinstance(span, Faint):
        return f"_{span.text.translate(_MARKDOWN_SPECIAL)}_"
    if isinstance(span, Link):
        label = span.label.translate(_MARKDOWN_SPECIAL)
        if span.url.startswith(("https://", "http://")):
            return f"[{label}](<{span.url.translate(_URL_UNSAFE)}>)"
        return f"{label} ({span.url.translate(_MARKDOWN_SPECIAL)})"
    if isinstance(span, Channel):
        return "\\#" + span.text.translate(_MARKDOWN_SPECIAL)
    if isinstance(span, User):
        return span.text.translate(_MARKDOWN_SPECIAL)
    return span.translate(_MARKDOWN_SPECIAL)


def markdown_line(ln: Line) -> str:
    """For the post-mortem's Markdown: outside text escaped, marks as words."""
    prefix = ("- " if ln.bullet else "") + (f"{PLAIN_MARKS[ln.mark]} " if ln.mark else "")
    text = "".join(_markdown_span(s) for s in ln.spans)
    start = _BLOCK_START.match(text) if not prefix else None
    if start is not None:
        escaped = f"{start[1]}\\{start[2]}" if start[1] else f"\\{start[3]}"
        text = escaped + text[start.end() :]
    return prefix.replace("[", "\\[").replace("]", "\\]") + text


# Stored form: lines kept as JSON (in an outbox row) until a renderer shows them. -------------

_KINDS: dict[str, type[Code | Strong | Faint | User | Channel]] = {
    "code": Code,
    "strong": Strong,
    "faint": Faint,
    "user": User,
    "channel": Channel,
}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}


def _span_data(span: Span) -> str | dict[str, str]:
    if isinstance(span, str):
        return span
    if isinstance(span, Link):
        return {"link": span.url, "label": span.label}
    return {_KIND_OF[type(span)]: span.text}


def _span_from(data: object) -> Span:
    if isinstance(data, str):
        return data
    if not isinstance(data, dict):
        return str(data)
    if "link" in data:
        return Link(str(data["link"]), str(data.get("label", "")))
    for kind, cls in _KINDS.items():
        if kind in data:
            return cls(str(data[kind]))
    # Unknown: shown as text, which is never markup.
    return " ".join(str(v) for v in data.values())


def to_data(lines: Iterable[Line]) -> list[dict[str, object]]:
    return [
        {
            "spans": [_span_data(s) for s in ln.spans],
            "mark": ln.mark.value if ln.mark else None,
            "bullet": ln.bullet,
        }
        for ln in lines
    ]


def from_data(data: object) -> tuple[Line, ...]:
    """Lines from `to_data`; anything malformed comes back as plain text."""
    if not isinstance(data, list):
        return ()
    out = []
    for item in data:
        if not isinstance(item, dict):
            out.append(Line((str(item),)))
            continue
        spans = item.get("spans")
        mark = item.get("mark")
        out.append(
            Line(
                tuple(_span_from(s) for s in spans) if isinstance(spans, list) else (),
                Mark(mark) if mark in set(Mark) else None,
                bool(item.get("bullet", False)),
            )
        )
    return tuple(out)
