"""Terminal output carries no Slack markup (`*bold*`, `<url|text>`, `<@U1>`, `:emoji:`) and no
emoji, whatever the timeline holds: every line passes `terminal.plain`, the one place it is
stripped. `--json` and the Markdown post-mortem are data and a document, left as stored."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli.terminal import plain
from bot.domain.timeline import EventKind, NewEvent
from tests.cli.conftest import Cli, append

SLACK_MARKUP = [
    re.compile(r"<[@#!][^>]*>|<(?:https?|mailto):[^>]*>"),  # mentions, channels, links
    re.compile(r"(?<![\w*])\*\S[^*\n]*\*(?![\w*])"),  # *bold*
    re.compile(r"(?<![\w_])_\S[^_\n]*_(?![\w_])"),  # _italic_
    re.compile(r"(?<![\w~])~\S[^~\n]*~(?![\w~])"),  # ~strike~
    re.compile(r"`"),  # code
    re.compile(r":[a-z0-9_+-]*[a-z+][a-z0-9_+-]*:"),  # :emoji:
    re.compile(r"&(?:lt|gt|amp);"),  # Slack's escapes
]


def assert_plain(text: str) -> None:
    for pattern in SLACK_MARKUP:
        assert not pattern.search(text), (pattern.pattern, text)
    emoji = [c for c in text if unicodedata.category(c) == "So" or c in "\ufe0f\u200d"]
    assert not emoji, (emoji, text)


@pytest.mark.parametrize(
    ("slack", "terminal"),
    [
        ("*Rolled back* records", "Rolled back records"),
        ("_maybe_ ~not~ `kubectl get pods`", "maybe not kubectl get pods"),
        (
            "<https://x.example/a|the run> and <https://y.example/b>",
            "the run (https://x.example/a) and https://y.example/b",
        ),
        (
            "<@U12AB|erin> in <#C9|inc-1> for <!here> and <!subteam^S1|@ops>",
            "@erin in #inc-1 for @here and @ops",
        ),
        (":warning: Paging failed", "Paging failed"),
        (":+1::skin-tone-2: ok :rotating_light:", "ok"),
        ("📌 pinned 🔥🔥 hot 👍🏽 ✅ done", "pinned hot done"),
        (
            "P2 → P1 at 14:03:05, pool_size_max is *not* a* glob",
            "P2 → P1 at 14:03:05, pool_size_max is not a* glob",
        ),
        ("a &lt;b&gt; &amp; c; <records> stays", "a <b> & c; <records> stays"),
        ("```\nstack\n```", "\nstack\n"),
    ],
)
def test_plain_reads_slack_markup_as_words(slack: str, terminal: str) -> None:
    assert plain(slack) == terminal


def test_no_command_prints_slack_markup_or_emoji(cli: Cli, database: Path) -> None:
    outputs = [
        cli("incidents", "declare", "*Exports* down :fire: 🔥", "--sev", "P1"),
        cli("incidents", "sev", "1", "P0", "--actor", "<@U1|alice>"),
        cli("incidents", "role", "1", "comms", "<@U123ABC>"),
        cli("incidents", "action", "1", "Check", "`pool`", "--owner", "U2"),
        cli("incidents", "update", "1", "*Found* it :tada:", "--status", "identified"),
    ]
    append(
        database,
        1,
        NewEvent(
            EventKind.MESSAGE,
            "U2",
            "📌 *pinned* <https://x.example|the graph> :chart_with_upwards_trend: <@U3>",
            datetime.now(UTC),
        ),
    )
    outputs += [
        cli("incidents", "show", "1"),
        cli("incidents", "list"),
        cli("incidents", "verify", "1"),
        cli("incidents", "close", "1"),  # refused: "resolve it first (`/incident resolve`)"
        cli("incidents", "resolve", "1", "*fixed* :white_check_mark:"),
        cli("incidents", "close", "1"),
        cli("incidents", "show", "1"),
        cli("incidents", "show", "9"),
        cli("incidents", "sev", "1", "P9"),
        cli("playbooks", "list"),
        cli("playbooks", "validate"),
        cli("check-config"),
    ]

    for ran in outputs:
        assert_plain(ran.out)
        assert_plain(ran.err)
    shown = outputs[5].out
    assert "Exports down" in shown and "pinned the graph (https://x.example) @U3" in shown
