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


def test_a_cut_never_leaves_a_piece_of_a_secret_behind() -> None:
    password, key_id, known = "Zq9-never-seen", "AKIA" + "Q7" * 8, "known-Secret-77"
    text = f"pad https://deploy:{password}@ci.example/x {key_id} {known} " * 3
    for limit in range(1, len(text) + 1):
        cut = scrub_text(text, [known], limit=limit)
        for secret in (password, key_id, known):
            # No piece of four characters or more survives, wherever the cut falls.
            pieces = {secret[i : i + 4] for i in range(len(secret) - 3)}
            assert not any(piece in cut for piece in pieces), (limit, cut)
        assert len(cut) <= limit + 40


def test_scrubbing_in_slices_finds_exactly_what_scrubbing_at_once_finds() -> None:
    """Long text is searched a slice at a time, so a thread scrubbing it lets the event loop
    run; a secret on a slice's edge is found all the same."""
    secret_lines = [
        "GET https://deploy:tok-99@ci.example/hook",
        "token = xoxb-1-2-abc",
        "Authorization: Basic dXNlcjpwYXNz",
        "password\n  =  hunter2",
        "Bearer\nabc.def.ghi",
    ]
    for offset in range(8192 - 60, 8192 + 60, 7):
        text = "." * offset + "\n".join(secret_lines) + " tail" * 3000
        scrubbed = scrub_text(text)
        assert all(s not in scrubbed for s in ("tok-99", "xoxb-1-2-abc", "dXNlcjpwYXNz"))
        assert "hunter2" not in scrubbed and "abc.def.ghi" not in scrubbed
        assert scrubbed.count(REDACTED) == 5
