"""The `incident-bot` command: serve, check-config, incidents, playbooks, postmortem, store.

One job a module: `parser` (every subcommand and its usage), `entry` (`main`), `terminal` (what
is printed), `runtime` (settings, store, lifecycle), and one module per group of commands."""

from bot.cli.entry import main
from bot.cli.parser import build_parser, command_table

__all__ = ["build_parser", "command_table", "main"]
