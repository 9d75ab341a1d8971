"""The command tables of README.md and docs/ against the parsers, so the documentation cannot
drift from the code.

A command table is any Markdown table whose header's first cell is `Command` (any case). Each
row's first cell starts with a code span holding the command as typed, with its arguments:

    | Command | What it does |
    |---|---|
    | `/incident sev P0\\|P1\\|P2\\|P3` | changes the severity … |
    | `/rollback SERVICE [--to-revision N]` | … |
    | `incident-bot incidents sev [--actor WHO] [--json] ID P0\\|P1\\|P2\\|P3` | … |

A row whose command starts with `/` documents a Slack command: the slash command, and for
`/incident` the subcommand after it (a row with `/incident` alone is its help). A row starting
with `incident-bot ` documents a CLI command: the leading lower-case words after it
(`incidents sev`; none for the top level's own options, `incident-bot --version`). Any
other first cell is an error, so a table cannot be skipped unread.

Checked, for each file holding command tables of a kind: every command documented exists, and
every existing one is documented there. Slack: the `/incident` subcommands are those the parser
takes (`bot.domain.commands.INCIDENT_SUBCOMMANDS`); the slash commands are those the Slack
adapter registers with Bolt (`app.command("/…")` in bot/slack/, and the platform actions of
`bot.slack.action_commands.USAGE`, registered in a loop). CLI: the subcommands of the argparse
parser `bot.cli` builds (`command_table()`), and every `--option` a row shows is one that
subcommand's parser takes. docs/ must hold both kinds of table; README.md is checked for the
kinds it holds."""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import build_parser, command_table
from bot.domain.commands import INCIDENT_SUBCOMMANDS
from bot.slack.action_commands import USAGE as ACTION_COMMANDS

REPO = Path(__file__).resolve().parent.parent
SLACK_ADAPTER = REPO / "bot" / "slack"
CLI_PREFIX = "incident-bot "
HEADERS = {"command"}
FIRST_CODE = re.compile(r"^\s*`([^`]+)`")
OPTION = re.compile(r"(?<![\w-])(--?[a-z][a-z-]*)")


@dataclass(frozen=True)
class Row:
    file: Path
    line: int
    command: str  # the first code span of the first cell, `\|` read as `|`

    def __str__(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}: {self.command}"


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _cells(line: str) -> list[str]:
    # A `|` escaped as `\|` (inside code spans too, as GitHub reads tables) is not a border.
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def command_rows(path: Path) -> Iterator[Row]:
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        below = lines[i + 1] if i + 1 < len(lines) else ""
        is_header = line.lstrip().startswith("|") and re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", below)
        if not (is_header and _cells(line)[0].lower() in HEADERS):
            i += 1
            continue
        i += 2
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            first = _cells(lines[i])[0]
            match = FIRST_CODE.match(first)
            assert match, f"{path.relative_to(REPO)}:{i + 1}: no `command` in {first!r}"
            yield Row(path, i + 1, match.group(1).strip())
            i += 1


def registered_slash_commands() -> set[str]:
    """What the Slack adapter registers: `app.command("/x")` calls with a literal name, and
    the platform actions it registers from `action_commands.USAGE`."""
    found = set(ACTION_COMMANDS)
    for source in SLACK_ADAPTER.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "command"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value.startswith("/")
            ):
                found.add(node.args[0].value)
    return found


def slack_name(row: Row) -> tuple[str, str | None]:
    words = row.command.split()
    sub = words[1] if words[0] == "/incident" and len(words) > 1 else None
    return words[0], sub


def cli_name(row: Row) -> str:
    words = []
    for word in row.command.removeprefix(CLI_PREFIX).split():
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        words.append(word)
    return " ".join(words)


def kind(row: Row) -> str:
    if row.command.startswith("/"):
        return "slack"
    if row.command.startswith(CLI_PREFIX):
        return "cli"
    raise AssertionError(f"{row}: neither a Slack command (/…) nor {CLI_PREFIX.strip()} …")


def rows_by_kind(path: Path) -> dict[str, list[Row]]:
    found: dict[str, list[Row]] = {}
    for row in command_rows(path):
        found.setdefault(kind(row), []).append(row)
    return found


def subparsers() -> dict[str, argparse.ArgumentParser]:
    """Each subcommand's own parser, by its words (`incidents sev`); "" is the top level."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, (*words, name))
        found[" ".join(words)] = parser

    walk(build_parser(), ())
    return found


def test_docs_hold_both_command_tables() -> None:
    kinds = {k for path in documents() if path.parent != REPO for k in rows_by_kind(path)}

    assert kinds == {"slack", "cli"}


def test_the_table_reader_reads_rows_and_escaped_bars(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "| Command | What |\n|---|---|\n"
        "| `/incident sev P0\\|P1` | severity |\n"
        "| `incident-bot store copy --from PATH` | copy |\n\n"
        "| Variable | Meaning |\n|---|---|\n| `X` | not a command table |\n",
        encoding="utf-8",
    )
    rows = list(command_rows(page))

    assert [r.command for r in rows] == [
        "/incident sev P0|P1",
        "incident-bot store copy --from PATH",
    ]
    assert slack_name(rows[0]) == ("/incident", "sev") and cli_name(rows[1]) == "store copy"


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_slack_command_tables_match_the_parser(path: Path) -> None:
    rows = rows_by_kind(path).get("slack", [])
    if not rows:
        return
    commands = {slack_name(r)[0] for r in rows}
    subcommands = {sub for r in rows if (sub := slack_name(r)[1]) is not None}

    unknown = [str(r) for r in rows if slack_name(r)[0] not in registered_slash_commands()]
    unknown += [str(r) for r in rows if slack_name(r)[1] not in (None, *INCIDENT_SUBCOMMANDS)]
    assert not unknown, "documented, but no such command"
    assert registered_slash_commands() - commands == set(), "registered, not documented"
    assert set(INCIDENT_SUBCOMMANDS) - subcommands == set(), "parsed, not documented"


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_cli_command_tables_match_the_parser(path: Path) -> None:
    rows = rows_by_kind(path).get("cli", [])
    if not rows:
        return
    parsers = subparsers()
    existing = {u.name for u in command_table()}

    # `incident-bot --version` (no subcommand) may have a row of its own.
    unknown = [str(r) for r in rows if cli_name(r) not in {*existing, ""}]
    assert not unknown, "documented, but no such subcommand"
    assert existing - {cli_name(r) for r in rows} == set(), "in the parser, not documented"
    for row in rows:
        takes = set(parsers[cli_name(row)]._option_string_actions)
        shown = set(OPTION.findall(row.command.removeprefix(CLI_PREFIX)))
        assert shown <= takes, f"{row}: {sorted(shown - takes)} not taken"
