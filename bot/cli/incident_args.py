"""The `incidents` subcommands' arguments: ids, severities, statuses and roles as the Slack
commands take them, refused by argparse with the subcommand's usage when they are wrong."""

from __future__ import annotations

import argparse
import re

from bot.cli import incidents
from bot.cli.subcommands import Builder, Group
from bot.domain.incident import Severity, Status
from bot.services.incidents import ROLES

ACTOR_HELP = "the person doing this, as the timeline records it (default: $USER)"
JSON_HELP = "print JSON for scripts (the JSON API's fields)"
SEVERITIES = "P0|P1|P2|P3"
STATUSES = tuple(str(s) for s in Status if s.is_open)
_DIGITS = re.compile(r"#?([0-9]{1,100})")


def incident_ref(text: str) -> int:
    """`12` or `#12`. A number too big for any id is still a number: the command says there
    is no such incident (exit 1) rather than calling it an argument error."""
    match = _DIGITS.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"an incident id is a number like 12 or #12, not {text!r}")
    return int(match.group(1))


def severity(text: str) -> Severity:
    parsed = Severity.parse(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"must be P0, P1, P2 or P3, not {text!r}")
    return parsed


def status(text: str) -> Status:
    """An open incident's status; resolving is its own command, as in Slack."""
    try:
        parsed = Status(text.strip().lower())
    except ValueError:
        parsed = None
    if parsed is None or not parsed.is_open:
        raise argparse.ArgumentTypeError(
            f"must be {', '.join(STATUSES[:-1])} or {STATUSES[-1]}, not {text!r}"
            " (incidents resolve resolves)"
        )
    return parsed


def incident_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", type=incident_ref, metavar="ID", help="the incident: 12 or #12")


def _changes(parser: argparse.ArgumentParser) -> None:
    """What every command that changes an incident takes."""
    parser.add_argument("--actor", metavar="WHO", help=ACTOR_HELP)
    parser.add_argument("--json", action="store_true", help=JSON_HELP)


def add_incidents(b: Builder, sub: Group) -> None:
    isub = b.branch(sub, "incidents", "declare, update, change and resolve incidents; show them")
    lst = b.leaf(
        isub,
        "list",
        "open incidents (--all: every one)",
        incidents.list_incidents,
    )
    lst.add_argument("--all", action="store_true", help="resolved and closed ones too")
    lst.add_argument("--json", action="store_true", help=JSON_HELP)

    show = b.leaf(isub, "show", "an incident and its timeline", incidents.show)
    incident_id(show)
    show.add_argument("--json", action="store_true", help=JSON_HELP)

    declare = b.leaf(
        isub,
        "declare",
        "declare an incident (pages by the severity policy)",
        incidents.declare,
    )
    declare.add_argument("title", nargs="+", metavar="TITLE")
    declare.add_argument(
        "--sev", type=severity, default=Severity.P2, metavar=SEVERITIES, help="default P2"
    )
    declare.add_argument(
        "--service", action="append", metavar="NAME", help="an affected service (repeat for more)"
    )
    declare.add_argument("--commander", metavar="WHO", help="who leads it (default: the actor)")
    _changes(declare)

    update = b.leaf(
        isub,
        "update",
        "post a status update (internal unless --public)",
        incidents.update,
    )
    incident_id(update)
    update.add_argument("text", nargs="+", metavar="TEXT")
    update.add_argument(
        "--status", type=status, metavar="|".join(STATUSES), help="the incident's new status"
    )
    update.add_argument("--public", action="store_true", help="also publish it on the status page")
    update.add_argument(
        "--public-title", metavar="T", help="the status page's title (first public update)"
    )
    update.add_argument(
        "--impact", metavar="I", help="degraded_performance, partial_outage or major_outage"
    )
    update.add_argument("--components", metavar="A,B", help="affected services, comma-separated")
    _changes(update)

    sev = b.leaf(
        isub,
        "sev",
        "change the severity; the paging policy applies again",
        incidents.severity,
    )
    incident_id(sev)
    sev.add_argument("severity", type=severity, metavar=SEVERITIES)
    _changes(sev)

    role = b.leaf(isub, "role", "give a person a role (commander leads)", incidents.role)
    incident_id(role)
    role.add_argument("role", type=str.lower, choices=ROLES, metavar="|".join(ROLES))
    role.add_argument("person", metavar="PERSON", help="a Slack user id (U…) or a name")
    _changes(role)

    action = b.leaf(isub, "action", "record a follow-up (action item)", incidents.action)
    incident_id(action)
    action.add_argument("text", nargs="+", metavar="TEXT")
    action.add_argument("--owner", metavar="WHO", help="who will do it")
    _changes(action)

    resolve = b.leaf(isub, "resolve", "resolve an incident", incidents.resolve)
    incident_id(resolve)
    resolve.add_argument("summary", nargs="*", metavar="SUMMARY")
    _changes(resolve)

    close = b.leaf(isub, "close", "close a resolved incident", incidents.close)
    incident_id(close)
    _changes(close)

    verify = b.leaf(isub, "verify", "check the timeline's hash chain", incidents.verify)
    incident_id(verify)
    verify.add_argument("--json", action="store_true", help=JSON_HELP)
