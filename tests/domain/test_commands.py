"""`/incident` command text: the subcommand, its words and `--options`, or a usage problem;
user mentions as Slack escapes them; an explicit `#id` naming an incident."""

from __future__ import annotations

import pytest

from bot.domain.commands import (
    INCIDENT_SUBCOMMANDS,
    INCIDENT_USAGE,
    Parsed,
    UsageProblem,
    parse_incident,
    parse_user,
    split_incident_ref,
)


def parsed(text: str) -> Parsed:
    result = parse_incident(text)
    assert isinstance(result, Parsed), result
    return result


def problem(text: str) -> str:
    result = parse_incident(text)
    assert isinstance(result, UsageProblem), result
    return result.message


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_no_text_asks_for_help(text: str) -> None:
    assert parsed(text).subcommand == "help"


def test_declare_with_a_title_and_options() -> None:
    result = parsed("declare Checkout is down --sev P1 --service checkout")
    assert result.subcommand == "declare"
    assert result.args == ["Checkout", "is", "down"]
    assert result.options == {"sev": "P1", "service": "checkout"}


def test_options_may_be_written_with_an_equals_sign_anywhere_in_the_text() -> None:
    result = parsed("declare --sev=P0 Payments failing --service=payments")
    assert result.args == ["Payments", "failing"]
    assert result.options == {"sev": "P0", "service": "payments"}


def test_the_subcommand_is_case_insensitive() -> None:
    assert parsed("  DECLARE  DB down").subcommand == "declare"
    assert parsed("Resolve fixed").subcommand == "resolve"


def test_rest_keeps_the_text_after_the_subcommand_as_typed() -> None:
    result = parsed("update  Rolled back   to 1.0.9;  error rate falling  ")
    assert result.rest == "Rolled back   to 1.0.9;  error rate falling"


def test_a_new_line_after_the_subcommand_starts_its_text() -> None:
    result = parsed("update\nDB failover done.\nWatching replication lag.")
    assert result.subcommand == "update"
    assert result.rest == "DB failover done.\nWatching replication lag."


def test_apostrophes_and_quotes_are_ordinary_characters() -> None:
    result = parsed('declare Can\'t log in "SSO" --sev P2')
    assert result.args == ["Can't", "log", "in", '"SSO"']
    assert result.options == {"sev": "P2"}


def test_a_double_dash_alone_is_a_word() -> None:
    assert parsed("update deploy -- then rollback").args == ["deploy", "--", "then", "rollback"]


def test_an_option_without_a_value_is_a_usage_problem() -> None:
    assert problem("declare DB down --sev") == "`--sev` needs a value"


def test_an_unknown_subcommand_is_named_in_the_problem() -> None:
    assert problem("delcare DB down") == "unknown subcommand `delcare`"


def test_every_subcommand_is_parsed_and_all_but_help_are_in_the_usage_text() -> None:
    for sub in INCIDENT_SUBCOMMANDS:
        assert parsed(sub).subcommand == sub
        if sub != "help":  # `help` is what prints the usage
            assert f"`/incident {sub}" in INCIDENT_USAGE, sub


@pytest.mark.parametrize(
    ("token", "user"),
    [
        ("<@U024BE7LH|alice>", "U024BE7LH"),
        ("<@U024BE7LH>", "U024BE7LH"),
        ("<@W0ENTERPRISE>", "W0ENTERPRISE"),
        ("  <@U024BE7LH|bob smith>  ", "U024BE7LH"),
        ("U024BE7LH", "U024BE7LH"),
        ("@U024BE7LH", "U024BE7LH"),
    ],
)
def test_a_user_mention_or_id_names_the_user(token: str, user: str) -> None:
    assert parse_user(token) == user


@pytest.mark.parametrize(
    "token", ["alice", "@alice", "<@u024be7lh>", "<#C024BE7LH|general>", "U1", "", "<!here>"]
)
def test_anything_else_is_not_a_user(token: str) -> None:
    assert parse_user(token) is None


def test_a_leading_hash_number_names_the_incident() -> None:
    assert split_incident_ref(["#12", "root", "cause", "found"]) == (12, ["root", "cause", "found"])
    assert split_incident_ref(["#7"]) == (7, [])


def test_without_a_hash_number_the_channels_incident_is_meant() -> None:
    assert split_incident_ref(["12", "more"]) == (None, ["12", "more"])
    assert split_incident_ref(["#general", "x"]) == (None, ["#general", "x"])
    assert split_incident_ref(["fixed", "#12"]) == (None, ["fixed", "#12"])
    assert split_incident_ref([]) == (None, [])


def test_an_id_too_long_to_be_an_incident_is_not_one() -> None:
    longest = "#" + "9" * 18
    assert split_incident_ref([longest]) == (10**18 - 1, [])
    assert split_incident_ref(["#" + "9" * 19]) == (None, ["#" + "9" * 19])


def test_public_is_a_flag_and_a_quoted_option_value_takes_its_words() -> None:
    result = parsed(
        "update Exports are slow --public --public-title “Exports are delayed”"
        ' --impact partial_outage --body "one"'
    )

    assert result.args == ["Exports", "are", "slow"]
    assert result.options == {
        "public": "yes",
        "public-title": "Exports are delayed",
        "impact": "partial_outage",
        "body": "one",
    }


def test_a_quoted_option_value_without_its_closing_quote_is_a_usage_problem() -> None:
    assert problem('update x --public-title "Exports are delayed') == (
        'a quoted value lacks its closing "'
    )
