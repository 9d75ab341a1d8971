"""The `incident-bot` command line, built in one place: every subcommand, its arguments and its
usage. `command_table()` lists them so the README's command table can be checked against it."""

from __future__ import annotations

import argparse
import importlib.metadata
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.cli import incidents, playbooks, postmortem, server, store_copy
from bot.domain.incident import Severity, Status
from bot.services.incidents import ROLES

ACTOR_HELP = "the person doing this, as the timeline records it (default: $USER)"
JSON_HELP = "print JSON for scripts (the JSON API's fields)"
SEVERITIES = "P0|P1|P2|P3"
STATUSES = tuple(str(s) for s in Status if s.is_open)
_DIGITS = re.compile(r"#?([0-9]{1,100})")
Command = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Usage:
    """One subcommand: its words (`incidents sev`), its usage line and what it is for."""

    name: str
    usage: str
    summary: str


def version() -> str:
    try:
        return importlib.metadata.version("incident-bot")
    except importlib.metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "unknown"


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


def _formatter(width: int | None) -> type[argparse.HelpFormatter]:
    if width is None:
        return argparse.HelpFormatter

    class OneLine(argparse.HelpFormatter):
        """Usage on one line, for the command table."""

        def __init__(self, prog: str) -> None:
            super().__init__(prog, width=width)

    return OneLine


class _Builder:
    """Adds subcommands and remembers each one with the parser that reads it."""

    def __init__(self, width: int | None) -> None:
        self.formatter = _formatter(width)
        self.usages: list[tuple[str, argparse.ArgumentParser, str]] = []

    def leaf(
        self,
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        summary: str,
        run: Command,
        *,
        config: bool = False,
    ) -> argparse.ArgumentParser:
        parser = group.add_parser(
            name, help=summary, description=summary, formatter_class=self.formatter
        )
        # --config after the subcommand too; shown in the usage only where the contract has it.
        parser.add_argument(
            "--config",
            default=argparse.SUPPRESS,
            metavar="FILE",
            help="platform config YAML (default: INCIDENT_BOT_CONFIG)"
            if config
            else argparse.SUPPRESS,
        )
        parser.set_defaults(func=run, usage_parser=parser)
        self.usages.append((parser.prog.removeprefix("incident-bot "), parser, summary))
        return parser

    def branch(
        self, group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str
    ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        parser = group.add_parser(
            name, help=summary, description=summary, formatter_class=self.formatter
        )
        parser.set_defaults(usage_parser=parser)
        return parser.add_subparsers(dest="action", required=True, metavar="ACTION")


def _incident_id(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", type=incident_ref, metavar="ID", help="the incident: 12 or #12")


def _changes(parser: argparse.ArgumentParser) -> None:
    """What every command that changes an incident takes."""
    parser.add_argument("--actor", metavar="WHO", help=ACTOR_HELP)
    parser.add_argument("--json", action="store_true", help=JSON_HELP)


def _incidents(b: _Builder, sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    _incident_id(show)
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
    _incident_id(update)
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
    _incident_id(sev)
    sev.add_argument("severity", type=severity, metavar=SEVERITIES)
    _changes(sev)

    role = b.leaf(isub, "role", "give a person a role (commander leads)", incidents.role)
    _incident_id(role)
    role.add_argument("role", type=str.lower, choices=ROLES, metavar="|".join(ROLES))
    role.add_argument("person", metavar="PERSON", help="a Slack user id (U…) or a name")
    _changes(role)

    action = b.leaf(isub, "action", "record a follow-up (action item)", incidents.action)
    _incident_id(action)
    action.add_argument("text", nargs="+", metavar="TEXT")
    action.add_argument("--owner", metavar="WHO", help="who will do it")
    _changes(action)

    resolve = b.leaf(isub, "resolve", "resolve an incident", incidents.resolve)
    _incident_id(resolve)
    resolve.add_argument("summary", nargs="*", metavar="SUMMARY")
    _changes(resolve)

    close = b.leaf(isub, "close", "close a resolved incident", incidents.close)
    _incident_id(close)
    _changes(close)

    verify = b.leaf(isub, "verify", "check the timeline's hash chain", incidents.verify)
    _incident_id(verify)
    verify.add_argument("--json", action="store_true", help=JSON_HELP)


def _build(width: int | None = None) -> tuple[argparse.ArgumentParser, _Builder]:
    b = _Builder(width)
    parser = argparse.ArgumentParser(
        prog="incident-bot",
        description="Chat-ops incident response: the server, and incidents, playbooks and "
        "post-mortems from a terminal.",
        formatter_class=b.formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument(
        "--config", metavar="FILE", help="platform config YAML (default: INCIDENT_BOT_CONFIG)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = b.leaf(sub, "serve", "run the bot's HTTP server", server.serve, config=True)
    serve.add_argument("--host", default="127.0.0.1", metavar="H")
    serve.add_argument("--port", type=int, default=8080, metavar="P")
    b.leaf(
        sub,
        "check-config",
        "validate config; show each integration's state",
        server.check_config,
        config=True,
    )

    _incidents(b, sub)

    books = b.branch(sub, "playbooks", "validate, list or run playbooks")
    b.leaf(
        books,
        "validate",
        "load every playbook; print file:line errors",
        playbooks.validate,
    )
    b.leaf(
        books,
        "list",
        "each playbook: description [step kinds]",
        playbooks.list_playbooks,
    )
    run = b.leaf(books, "run", "run one here", playbooks.run)
    run.add_argument("name", metavar="NAME")
    run.add_argument("--service", metavar="S", help="the service to run it for")
    run.add_argument("--quick", action="store_true", help="only the quick steps")

    pm = b.leaf(
        sub,
        "postmortem",
        "write an incident's post-mortem draft (md to stdout)",
        postmortem.postmortem,
    )
    _incident_id(pm)
    pm.add_argument(
        "--format", choices=["md", "docx", "png", "zip"], default="md", metavar="md|docx|png|zip"
    )
    pm.add_argument("-o", "--output", metavar="FILE")

    store = b.branch(sub, "store", "move the store to PostgreSQL")
    copy = b.leaf(store, "copy", "a SQLite store into an empty PostgreSQL one", store_copy.copy)
    copy.add_argument(
        "--from", dest="source", required=True, metavar="PATH", help="the SQLite file"
    )
    copy.add_argument(
        "--to",
        metavar="URL",
        help="postgresql://USER:PASS@HOST:PORT/DB (default: INCIDENT_BOT_DATABASE, which keeps"
        " the password out of the process list)",
    )
    return parser, b


def build_parser() -> argparse.ArgumentParser:
    return _build()[0]


def command_table() -> list[Usage]:
    """Every subcommand with its usage on one line (`incidents sev [--actor WHO] [--json] ID
    P0|P1|P2|P3`), in the parser's order: what the README's command table must say."""
    _, b = _build(width=10_000)
    table = []
    for words, parser, summary in b.usages:
        usage = " ".join(parser.format_usage().split()).removeprefix("usage: incident-bot ")
        table.append(Usage(words, usage.replace(" [-h]", ""), summary))
    return table


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Arguments a subcommand does not take are refused with that subcommand's usage (argparse
    would show the top-level one), exit 2."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        args.usage_parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args
