"""`incidents sev|role|action|update --status|close`: what the person sees, the exit codes, and
what the timeline records (the lifecycle's own events, the person running it as the actor)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Cli, Ran, incident_row, timeline


def test_sev_changes_the_severity_says_so_and_applies_the_paging_policy_again(
    cli: Cli, declared: Ran, database: Path
) -> None:
    ran = cli("incidents", "sev", "1", "P0", "--actor", "alice")

    assert ran.code == 0, ran.err
    first, said, paging = ran.out.splitlines()
    assert first.split()[:3] == ["#1", "P0", "investigating"]
    assert said == "[change] Severity P2 → P0 by alice."
    assert paging.startswith("Should page (P0 pages immediately) but PagerDuty is not configured")
    kind, actor, text, data = timeline(database)[-2]
    assert (kind, actor, text, json.loads(data)) == (
        "severity_changed",
        "alice",
        "severity P2 -> P0",
        {"from": "P2", "to": "P0"},
    )
    assert timeline(database)[-1][:2] == ("page", "alice")
    assert incident_row(database)["severity"] == "P0"


def test_sev_to_the_severity_it_has_exits_1_and_records_nothing(
    cli: Cli, declared: Ran, database: Path
) -> None:
    before = timeline(database)

    ran = cli("incidents", "sev", "#1", "2")

    assert (ran.code, ran.out, ran.err) == (1, "", "incident-bot: #1 is already P2.\n")
    assert timeline(database) == before


def test_role_records_the_person_and_a_new_commander_leads(
    cli: Cli, declared: Ran, database: Path
) -> None:
    comms = cli("incidents", "role", "1", "comms", "<@U123ABC|erin>")
    commander = cli("incidents", "role", "1", "Commander", "@bob")

    assert comms.code == 0 and commander.code == 0, commander.err
    assert comms.out.splitlines()[1] == "[role] U123ABC is now comms (set by dana)."
    assert commander.out.splitlines()[1] == "[role] bob is now commander (set by dana)."
    row = incident_row(database)
    assert row["commander"] == "bob"
    assert json.loads(row["roles"]) == {"commander": "bob", "comms": "U123ABC"}
    assert [r[:3] for r in timeline(database)[-2:]] == [
        ("role_changed", "dana", "comms: U123ABC"),
        ("role_changed", "dana", "commander: bob"),
    ]


def test_action_records_a_follow_up_with_its_owner(cli: Cli, declared: Ran, database: Path) -> None:
    ran = cli("incidents", "action", "1", "Alert", "on", "pool", "saturation", "--owner", "@carol")

    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[1] == (
        "[ok] Follow-up recorded: Alert on pool saturation (owner carol)"
    )
    kind, actor, text, data = timeline(database)[-1]
    assert (kind, actor, text, json.loads(data)) == (
        "follow_up",
        "dana",
        "Alert on pool saturation",
        {"owner": "carol"},
    )


def test_update_with_a_status_moves_the_incident_and_records_it(
    cli: Cli, declared: Ran, database: Path
) -> None:
    ran = cli("incidents", "update", "1", "Pool", "exhausted", "--status", "Identified")

    assert ran.code == 0, ran.err
    assert ran.out.split()[:3] == ["#1", "P2", "identified"]
    kind, actor, text, data = timeline(database)[-1]
    assert (kind, actor, text, json.loads(data)) == (
        "status_update",
        "dana",
        "Pool exhausted",
        {"status": "identified"},
    )


def test_close_needs_a_resolved_incident_then_records_it(
    cli: Cli, declared: Ran, database: Path
) -> None:
    early = cli("incidents", "close", "1")
    assert early.code == 1
    # The service's advice names the command that does it here, not the slash command.
    assert early.err == (
        "incident-bot: #1 is investigating: resolve it first (incident-bot incidents resolve).\n"
    )

    assert cli("incidents", "resolve", "1", "pool", "resized").code == 0
    closed = cli("incidents", "close", "1", "--actor", "alice")

    assert closed.code == 0, closed.err
    assert closed.out.split()[:3] == ["#1", "P2", "closed"]
    assert timeline(database)[-1][:3] == ("closed", "alice", "closed")
    assert incident_row(database)["status"] == "closed"
    again = cli("incidents", "resolve", "1", "x")
    assert (again.code, again.err) == (1, "incident-bot: incident #1 is already closed\n")


def test_a_change_to_an_unknown_incident_exits_1_saying_which(cli: Cli, database: Path) -> None:
    for args in (
        ("sev", "7", "P1"),
        ("role", "7", "comms", "bob"),
        ("action", "7", "x"),
        ("close", "7"),
        ("show", "#7"),
        ("update", "7", "x", "--status", "monitoring"),
    ):
        ran = cli("incidents", *args)
        assert (ran.code, ran.out, ran.err) == (1, "", "incident-bot: no incident #7\n"), args
