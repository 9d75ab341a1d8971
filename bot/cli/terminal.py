"""What the `incident-bot` command prints: plain text without Slack's markup or emoji (stripped
here, the one place every line passes), JSON for scripts, and the errors a person can cause."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, TextIO

EXIT_FAILED = 1  # the command could not do what was asked (no such incident, already resolved)
EXIT_USAGE = 2  # the asking was wrong (arguments, environment, config)


class CliError(Exception):
    """The environment or the config is wrong: one line, exit 2, no traceback."""


class UsageError(Exception):
    """The arguments are wrong in a way argparse could not see: shown with the subcommand's
    usage, exit 2."""


class Failed(Exception):
    """The command was understood but could not be done: one line, exit 1."""


# Slack's angle-bracket forms: <@U123|name>, <#C123|name>, <!here>, <!subteam^S1|@ops>,
# <https://x|label>, <mailto:a@b>. Only these: "<records>" in a person's text stays as it is.
_ANGLE = re.compile(r"<([@#!]|https?://|mailto:)([^<>|]*)(?:\|([^<>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_FENCE = re.compile(r"```")
_CODE = re.compile(r"`([^`\n]*)`")
# :emoji_name: (a letter in it, so "14:03:05" is a time), :+1:, and a skin tone after either.
_EMOJI_CODE = re.compile(
    r"(?<![\w:]):(?:[+-]1|[a-z0-9_'+-]*[a-z][a-z0-9_'+-]*):(?::skin-tone-\d:)?(?![\w])[ \t]?"
)
# Pictographs, dingbats, flags, keycaps, variation selector 16 and the joiner that builds
# sequences. Arrows (U+2190-21FF) stay: "P2 → P1" is words.
_EMOJI = re.compile(
    "(?:[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\U000e0020-\U000e007f"
    "\ufe0f\u200d\u20e3])+[ \t]?"
)
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
# What the incident services tell a person to type in Slack, as the same thing here.
_SLASH = re.compile(r"/incident (update|sev|role|action|resolve|close|list)\b")


def _angle(match: re.Match[str]) -> str:
    kind, target, label = match.group(1), match.group(2), match.group(3)
    if kind == "@":
        return f"@{label or target}"
    if kind == "#":
        return f"#{label or target}"
    if kind == "!":
        name = label or target.split("^")[0]
        return name if name.startswith("@") else f"@{name}"
    url = kind + target
    return f"{label} ({url})" if label and label != url else url


def plain(text: str) -> str:
    """Text for a terminal: Slack's mrkdwn read as words, emoji left out."""
    text = _ANGLE.sub(_angle, text)
    text = _FENCE.sub("", text)
    text = _CODE.sub(r"\1", text)
    for pattern in (_BOLD, _ITALIC, _STRIKE):
        text = pattern.sub(r"\1", text)
    text = _EMOJI_CODE.sub("", text)
    text = _EMOJI.sub("", text)
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return "\n".join(ln.rstrip() for ln in text.split("\n"))


def say(text: str = "", *, to: TextIO | None = None) -> None:
    """Every line a person reads goes through here."""
    print(plain(text), file=to or sys.stdout)


def emit_json(value: Any) -> None:
    """For scripts: the stored values as they are (as the JSON API gives them)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def error(message: str) -> None:
    """One line on stderr; a service's advice to type `/incident resolve` names the command
    that does it here."""
    one = _SLASH.sub(r"incident-bot incidents \1", " ".join(message.split()))
    say(f"incident-bot: {one}", to=sys.stderr)
