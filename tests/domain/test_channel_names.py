"""Incident channel names: inc-<yyyymmdd>-<id>-<slug>, at most 80 characters Slack accepts,
with -2, -3 ... to try when Slack answers name_taken."""

from __future__ import annotations

import re
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.channel_names import MAX_LENGTH, channel_name, slugify

DAY = date(2026, 3, 5)
# Slack: lowercase letters, numbers, hyphens and underscores, at most 80 characters.
SLACK_CHANNEL = re.compile(r"[a-z0-9_-]{1,80}")


def test_a_name_carries_the_day_the_incident_number_and_the_title() -> None:
    assert channel_name(DAY, 42, "Checkout API 500s") == "inc-20260305-42-checkout-api-500s"


def test_the_day_is_zero_padded() -> None:
    assert channel_name(date(2026, 1, 2), 7, "db").startswith("inc-20260102-7-")


def test_punctuation_and_spaces_collapse_to_single_hyphens() -> None:
    name = channel_name(DAY, 3, "  DB: primary   failover!! (eu-west-1)  ")
    assert name == "inc-20260305-3-db-primary-failover-eu-west-1"


def test_underscores_and_dots_become_hyphens() -> None:
    assert channel_name(DAY, 3, "payment_api v1.2") == "inc-20260305-3-payment-api-v1-2"


def test_accents_are_dropped_not_the_letters() -> None:
    assert channel_name(DAY, 5, "Café crème DOWN") == "inc-20260305-5-cafe-creme-down"
    assert (
        slugify("".join(chr(ord(c) + 0xFEE0) for c in "Checkout")) == "checkout"
    )  # full-width letters


def test_a_title_with_nothing_to_keep_still_gets_a_name() -> None:
    for title in ("🔥🔥🔥", "数据库故障", "---", "", "   "):
        assert channel_name(DAY, 9, title) == "inc-20260305-9-incident", title


def test_a_long_title_is_cut_to_80_characters() -> None:
    title = "Checkout latency is through the roof for every customer in every region " * 3
    name = channel_name(DAY, 1234, title)
    assert len(name) == MAX_LENGTH
    assert name.startswith("inc-20260305-1234-checkout-latency-is-through-the-roof")
    assert SLACK_CHANNEL.fullmatch(name)


def test_a_cut_that_lands_on_a_hyphen_does_not_leave_it_dangling() -> None:
    prefix = "inc-20260305-42-"
    room = MAX_LENGTH - len(prefix)
    title = "a" * (room - 1) + " tail"  # the hyphen would be the last character kept
    name = channel_name(DAY, 42, title)
    assert name == prefix + "a" * (room - 1)
    assert not name.endswith("-")


def test_name_taken_alternatives_add_2_then_3() -> None:
    names = [channel_name(DAY, 42, "Checkout API 500s", attempt) for attempt in range(3)]
    assert names == [
        "inc-20260305-42-checkout-api-500s",
        "inc-20260305-42-checkout-api-500s-2",
        "inc-20260305-42-checkout-api-500s-3",
    ]


def test_alternatives_of_a_long_title_stay_within_80_and_differ() -> None:
    title = "x" * 200
    names = [channel_name(DAY, 42, title, attempt) for attempt in range(4)]
    assert len(set(names)) == 4
    assert all(len(n) <= MAX_LENGTH for n in names)
    assert [n[-2:] for n in names[1:]] == ["-2", "-3", "-4"]


@settings(max_examples=300, deadline=None, database=None)
@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    number=st.integers(min_value=1, max_value=10**18 - 1),
    title=st.text(max_size=300),
    attempt=st.integers(min_value=0, max_value=20),
)
def test_every_name_is_one_slack_accepts(day: date, number: int, title: str, attempt: int) -> None:
    name = channel_name(day, number, title, attempt)
    assert SLACK_CHANNEL.fullmatch(name), name
    assert name.startswith(f"inc-{day:%Y%m%d}-{number}-")
    slug = name.removeprefix(f"inc-{day:%Y%m%d}-{number}-")
    if attempt:
        assert slug.endswith(f"-{attempt + 1}")
        slug = slug.removesuffix(f"-{attempt + 1}")
    assert slug
    assert not slug.startswith("-")
    assert not slug.endswith("-")
    assert "--" not in slug
