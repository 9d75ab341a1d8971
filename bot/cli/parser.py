"""The `incident-bot` command line, built in one place: every subcommand, its arguments and its
usage. `command_table()` lists them so the README's command table can be checked against it."""

from __future__ import annotations

import argparse
import importlib.metadata
from collections.abc import Sequence
from dataclasses import dataclass

from bot.cli import playbooks, postmortem, server, store_copy
from bot.cli.incident_args import add_incidents, incident_id
from bot.cli.subcommands import Builder


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


def _build(width: int | None = None) -> tuple[argparse.ArgumentParser, Builder]:
    b = Builder(width)
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

    add_incidents(b, sub)

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
    incident_id(pm)
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
