"""A small builder over argparse: each subcommand with its own usage, its function, and
`--config` accepted after it as well as before."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

Command = Callable[[argparse.Namespace], int]
# argparse's subcommand group; generic only to the type checker.
Group: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _formatter(width: int | None) -> type[argparse.HelpFormatter]:
    if width is None:
        return argparse.HelpFormatter

    class OneLine(argparse.HelpFormatter):
        """Usage on one line, for the command table."""

        def __init__(self, prog: str) -> None:
            super().__init__(prog, width=width)

    return OneLine


class Builder:
    """Adds subcommands and remembers each one with the parser that reads it."""

    def __init__(self, width: int | None) -> None:
        self.formatter = _formatter(width)
        self.usages: list[tuple[str, argparse.ArgumentParser, str]] = []

    def leaf(
        self,
        group: Group,
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

    def branch(self, group: Group, name: str, summary: str) -> Group:
        parser = group.add_parser(
            name, help=summary, description=summary, formatter_class=self.formatter
        )
        parser.set_defaults(usage_parser=parser)
        return parser.add_subparsers(dest="action", required=True, metavar="ACTION")
