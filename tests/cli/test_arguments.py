"""What a person typing the command gets wrong: the subcommand's own usage and one line saying
why, exit 2, never a traceback; and `command_table()`, what the README's table is checked by."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import command_table
from bot.domain.commands import INCIDENT_SUBCOMMANDS
from tests.cli.conftest import Cli, Ran

SCRIPT = Path(sys.executable).parent / "incident-bot"


def assert_usage(ran: Ran, command: str) -> str:
    assert ran.code == 2, (ran.out, ran.err)
    assert ran.out == ""
    assert ran.err.startswith(f"usage: incident-bot {command} "), ran.err
    assert ran.reason.startswith(f"incident-bot {command}: error: "), ran.err
    return ran.reason.removeprefix(f"incident-bot {command}: error: ")


@pytest.mark.parametrize(
    ("args", "command", "says"),
    [
        (("incidents", "sev", "1"), "incidents sev", "required: P0|P1|P2|P3"),
        (("incidents", "sev", "1", "P9"), "incidents sev", "must be P0, P1, P2 or P3, not 'P9'"),
        (("incidents", "sev", "one", "P1"), "incidents sev", "a number like 12 or #12"),
        (("incidents", "role", "1", "boss", "bob"), "incidents role", "invalid choice: 'boss'"),
        (("incidents", "role", "1", "comms"), "incidents role", "required: PERSON"),
        (("incidents", "role", "1", "comms", "@"), "incidents role", "'@' names nobody"),
        (("incidents", "action", "1"), "incidents action", "required: TEXT"),
        (("incidents", "action", "1", "x", "--owner", "@"), "incidents action", "names nobody"),
        (("incidents", "update", "1", "x", "--status", "resolved"), "incidents update", "resolve"),
        (
            ("incidents", "update", "1", "x", "--impact", "major_outage"),
            "incidents update",
            "go with --public",
        ),
        (("incidents", "show"), "incidents show", "required: ID"),
        (("incidents", "close", "1", "now"), "incidents close", "unrecognized arguments: now"),
        (("incidents", "list", "open"), "incidents list", "unrecognized arguments: open"),
        (("incidents", "declare", "--sev", "P1"), "incidents declare", "required: TITLE"),
        (("incidents", "verify", "1", "--fix"), "incidents verify", "unrecognized arguments"),
        (("incidents", "frobnicate"), "incidents", "invalid choice: 'frobnicate'"),
        (("playbooks", "list", "service-down"), "playbooks list", "unrecognized arguments"),
        (("playbooks", "validate", "x"), "playbooks validate", "unrecognized arguments: x"),
        (("playbooks", "run"), "playbooks run", "required: NAME"),
        (("postmortem", "1", "--format", "pdf"), "postmortem", "invalid choice: 'pdf'"),
        (("postmortem", "1", "--format", "docx"), "postmortem", "a docx file needs a name"),
    ],
)
def test_an_argument_error_shows_the_subcommands_usage_and_one_line_why(
    cli: Cli, args: tuple[str, ...], command: str, says: str
) -> None:
    assert says in assert_usage(cli(*args), command)


def test_playbooks_list_lists_and_refuses_anything_after_it(cli: Cli) -> None:
    listed = cli("playbooks", "list")

    assert listed.code == 0, listed.err
    assert any(ln.startswith("service-down: ") for ln in listed.out.splitlines())
    assert "unrecognized arguments: extra" in assert_usage(
        cli("playbooks", "list", "extra"), "playbooks list"
    )


def test_config_may_follow_the_subcommand(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    ran = cli("incidents", "list", "--config", str(missing))

    assert ran.code == 2 and str(missing) in ran.err and "usage" not in ran.err


def test_version_through_the_installed_script() -> None:
    from bot.cli.parser import version

    ran = subprocess.run(
        [str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60, check=False
    )

    assert (ran.returncode, ran.stdout, ran.stderr) == (0, f"incident-bot {version()}\n", "")
    assert version()[0].isdigit()


def test_the_command_table_lists_every_subcommand_with_a_usage_that_parses(cli: Cli) -> None:
    table = {u.name: u for u in command_table()}

    assert list(table) == [
        "serve",
        "check-config",
        "incidents list",
        "incidents show",
        "incidents declare",
        "incidents update",
        "incidents sev",
        "incidents role",
        "incidents action",
        "incidents resolve",
        "incidents close",
        "incidents verify",
        "playbooks validate",
        "playbooks list",
        "playbooks run",
        "postmortem",
        "store copy",
    ]
    assert table["incidents sev"].usage == "incidents sev [--actor WHO] [--json] ID P0|P1|P2|P3"
    for usage in table.values():
        assert usage.usage.startswith(usage.name) and "\n" not in usage.usage
        assert "[-h]" not in usage.usage and usage.summary
        # Each usage is what `--help` of that subcommand prints, so the table cannot drift.
        helped = cli(*usage.name.split(), "--help")
        assert helped.code == 0
        assert " ".join(helped.out.split("\n\n")[0].split()) == (
            f"usage: incident-bot {usage.usage.replace(usage.name, usage.name + ' [-h]', 1)}"
        )


def test_every_slack_change_to_an_incident_has_a_cli_command() -> None:
    cli_names = {u.name.removeprefix("incidents ") for u in command_table()}
    # `status` is `show` here; `run` and `postmortem` have their own top-level commands;
    # `maintenance` and `help` are the status page's and Slack's own.
    slack_only = {"status", "run", "postmortem", "maintenance", "help"}

    assert set(INCIDENT_SUBCOMMANDS) - slack_only <= cli_names
    assert {"show", "playbooks run", "postmortem"} <= cli_names
