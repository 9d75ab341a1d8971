"""Slash-command text parsing: words in, a typed request or a usage problem out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

INCIDENT_SUBCOMMANDS = (
    "declare",
    "update",
    "status",
    "sev",
    "role",
    "action",
    "run",
    "resolve",
    "close",
    "postmortem",
    "list",
    "maintenance",
    "help",
)
# Options that take no value: present or not.
FLAGS = frozenset({"public"})
# A value opened by one of these runs to the word its closing quote ends (Slack's clients
# turn straight quotes into curly ones).
OPEN_QUOTES = {'"': '"', "\u201c": "\u201d"}

INCIDENT_USAGE = """\
*`/incident`: run an incident from Slack*
• `/incident declare <title> [--sev P0|P1|P2|P3] [--service NAME]`: open an incident channel \
(no text opens a form)
• `/incident update <text> [--status S] [--public]`: status update to the channel and the \
announcement; `--public` also puts it on the status page (the first time with \
`--public-title "…" --impact partial_outage [--components a,b]`)
• `/incident maintenance "<public title>" --start <ISO time> --end <ISO time> --components a,b`: \
schedule maintenance on the status page
• `/incident status`: where this channel's incident stands
• `/incident sev P0|P1|P2|P3`: change severity; the paging policy applies again
• `/incident role <role> @user`: assign commander, comms, scribe…
• `/incident action <text> [@owner]`: record a follow-up
• `/incident run <playbook> [service]`: run a debug playbook here
• `/incident resolve [summary]`: resolve; `/incident close` archives after the post-mortem
• `/incident postmortem`: draft the post-mortem from the timeline
• `/incident list`: open incidents
Platform actions (operators only, with confirmation): `/rollback SERVICE [--to-revision N]`, \
`/scale SERVICE REPLICAS`, `/restart SERVICE`. On call now: `/oncall [service]`."""


@dataclass(frozen=True)
class Parsed:
    subcommand: str
    args: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    rest: str = ""


@dataclass(frozen=True)
class UsageProblem:
    message: str


def parse_incident(text: str) -> Parsed | UsageProblem:
    """`declare Title words --sev P1` -> Parsed("declare", ["Title", "words"], {"sev": "P1"})."""
    stripped = text.strip()
    if not stripped:
        return Parsed("help")
    # Any whitespace ends the subcommand: `/incident update` then a new line is an update.
    head, *tail = stripped.split(maxsplit=1)
    rest = tail[0] if tail else ""
    sub = head.lower()
    if sub not in INCIDENT_SUBCOMMANDS:
        return UsageProblem(f"unknown subcommand `{head}`")
    # Plain whitespace, not shell quoting: "can't" in a title is not a syntax error.
    words = rest.split()
    args: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word[2:].partition("=")
            if name in FLAGS and not eq:
                options[name] = "yes"
                i += 1
                continue
            if not eq:
                if i + 1 >= len(words):
                    return UsageProblem(f"`--{name}` needs a value")
                value = words[i + 1]
                i += 1
            quoted = _quoted(value, words, i)
            if isinstance(quoted, UsageProblem):
                return quoted
            value, i = quoted
            options[name] = value
        else:
            args.append(word)
        i += 1
    return Parsed(sub, args, options, rest.strip())


def _quoted(value: str, words: list[str], i: int) -> tuple[str, int] | UsageProblem:
    """An option's value and the index of its last word: `--public-title "Exports are slow"`
    takes the words up to the closing quote, without the quotes."""
    close = OPEN_QUOTES.get(value[:1])
    if close is None:
        return value, i
    taken = [value[1:]]
    while not (taken[-1].endswith(close) and (len(taken) > 1 or len(taken[0]) > 0)):
        if i + 1 >= len(words):
            return UsageProblem(f"a quoted value lacks its closing {close}")
        i += 1
        taken.append(words[i])
    return " ".join(taken)[: -len(close)].strip(), i


MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
# At most 18 digits: anything longer is no incident id (SQLite integers stop at 2**63 - 1).
INCIDENT_REF = re.compile(r"^#?(\d{1,18})$")


def parse_user(token: str) -> str | None:
    """A Slack user mention as slash commands escape it (`<@U123|alice>`), or a bare ID."""
    match = MENTION.match(token.strip())
    if match:
        return match.group(1)
    bare = token.strip().lstrip("@")
    return bare if re.fullmatch(r"[UW][A-Z0-9]{2,}", bare) else None


def split_incident_ref(args: list[str]) -> tuple[int | None, list[str]]:
    """`#12 rest…` names incident 12 explicitly; otherwise the channel's incident is meant."""
    if args and args[0].startswith("#"):
        match = INCIDENT_REF.match(args[0])
        if match:
            return int(match.group(1)), args[1:]
    return None, args
