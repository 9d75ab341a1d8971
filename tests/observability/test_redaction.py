"""The secret scrubber: what it removes, and that hostile text cannot make it slow."""

from __future__ import annotations

import time

import pytest

from bot.observability.redaction import REDACTED, scrub_text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://app:s3/cr3t@db:5432/facts", "s3/cr3t"),
        ("redis://:hunter22@cache:6379", "hunter22"),
        ("GET https://deploy:tok-99@ci.example/hook", "tok-99"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("token=xoxb-1-2-abc", "xoxb-1-2-abc"),
    ],
)
def test_credentials_in_text_are_removed(text: str, secret: str) -> None:
    scrubbed = scrub_text(text)
    assert secret not in scrubbed and REDACTED in scrubbed


@pytest.mark.parametrize(
    "hostile",
    [
        "a" * 100_000,  # one long word: every position could start a URL scheme
        "http://" + "a" * 100_000,  # a scheme with no credentials after it
        "http://u:" + "p" * 100_000,  # a user with a password that never ends in @
        "x://" * 25_000,
    ],
)
def test_100_kb_of_hostile_text_is_scrubbed_in_linear_time(hostile: str) -> None:
    """It runs on every log line and pod log: a quadratic pattern froze the bot for 76 s."""
    started = time.perf_counter()
    scrub_text(hostile)
    # Generous for a slow CI machine; the quadratic pattern took about 40 s here.
    assert time.perf_counter() - started < 2.0
