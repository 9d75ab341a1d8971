"""`incidents show` in plain text, and `--json` where a script wants the incident (or its id)
back: the JSON API's own fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.timeline import EventKind, NewEvent
from tests.cli.conftest import Cli, Ran, append


def test_show_prints_the_incident_and_its_timeline_in_order(
    cli: Cli, declared: Ran, database: Path
) -> None:
    cli("incidents", "role", "1", "comms", "bob")
    cli("incidents", "action", "1", "Add", "an", "alert", "--owner", "carol")
    cli("incidents", "update", "1", "Rolled", "back", "--status", "monitoring", "--actor", "U42")

    ran = cli("incidents", "show", "1")

    assert ran.code == 0, ran.err
    header, timeline = ran.out.split("\n\n")
    head, *facts = header.splitlines()
    assert head.split() == ["#1", "P2", "monitoring", "Records", "API", "down"]
    assert facts[0].startswith("  declared    ") and facts[0].endswith(" UTC by dana")
    assert facts[1:5] == [
        "  commander   dana",
        "  roles       comms bob",
        "  services    records",
        "  channel     none",
    ]
    assert facts[5].startswith("  open for    ")
    lines = timeline.strip().splitlines()
    assert lines[0] == "Timeline (5 events, UTC):"
    kinds = [ln.split()[2] for ln in lines[1:]]
    assert kinds == ["declared", "page", "role_changed", "follow_up", "status_update"]
    assert lines[-1].endswith("status_update     U42: Rolled back [monitoring]")
    assert "follow_up         dana: Add an alert (owner carol)" in timeline


def test_show_reads_a_captured_slack_message_as_plain_words(
    cli: Cli, declared: Ran, database: Path
) -> None:
    append(
        database,
        1,
        NewEvent(
            EventKind.MESSAGE,
            "U2",
            "*Rolled back* <https://ci.example.com/run/9|the deploy> :white_check_mark: "
            "thanks <@U3|erin>\n:pushpin: pinned &lt;later&gt;",
            datetime.now(UTC),
        ),
    )

    ran = cli("incidents", "show", "1")

    assert ran.code == 0, ran.err
    assert (
        "message           U2: Rolled back the deploy (https://ci.example.com/run/9) thanks @erin"
        in ran.out
    )
    # A message's second line stays under its first, without the emoji.
    assert "pinned <later>" in [ln.strip() for ln in ran.out.splitlines()]


def test_declare_json_gives_the_id_and_what_was_recorded(cli: Cli, database: Path) -> None:
    ran = cli("incidents", "declare", "Export", "slow", "--sev", "P3", "--json")

    assert ran.code == 0, ran.err
    body = json.loads(ran.out)
    assert body["id"] == 1 and body["severity"] == "P3" and body["commander"] == "dana"
    assert [e["kind"] for e in body["recorded"]] == ["declared", "page"]


def test_every_change_answers_json_with_the_incident_and_its_new_events(
    cli: Cli, declared: Ran
) -> None:
    for args, kinds in (
        (("sev", "1", "P1"), ["severity_changed", "page"]),
        (("role", "1", "ops", "bob"), ["role_changed"]),
        (("action", "1", "Write", "it", "up"), ["follow_up"]),
        (("update", "1", "Better", "--status", "monitoring"), ["status_update"]),
        (("resolve", "1", "done"), ["resolved"]),
        (("close", "1"), ["closed"]),
    ):
        ran = cli("incidents", *args, "--json")
        assert ran.code == 0, (args, ran.err)
        body = json.loads(ran.out)
        assert body["id"] == 1, args
        assert [e["kind"] for e in body["recorded"]] == kinds, args
    assert body["status"] == "closed" and body["roles"]["ops"] == "bob"


def test_list_show_and_verify_json(cli: Cli, declared: Ran) -> None:
    cli("incidents", "declare", "Second", "one", "--sev", "P1")
    cli("incidents", "resolve", "2")

    open_only = json.loads(cli("incidents", "list", "--json").out)
    every = json.loads(cli("incidents", "list", "--all", "--json").out)
    shown = json.loads(cli("incidents", "show", "1", "--json").out)
    verified = json.loads(cli("incidents", "verify", "1", "--json").out)

    assert [i["id"] for i in open_only["incidents"]] == [1]
    assert sorted(i["id"] for i in every["incidents"]) == [1, 2]
    assert shown["title"] == "Records API down"
    assert [e["seq"] for e in shown["timeline"]] == [1, 2]
    assert shown["timeline"][1]["prev_hash"] == shown["timeline"][0]["hash"]
    assert verified == {"incident_id": 1, "events": 2, "intact": True, "problems": []}
