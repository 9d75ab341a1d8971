"""JSON log lines keep configured secrets, URL passwords and bearer tokens out of the output."""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.observability.logs import JsonFormatter
from bot.services.readiness import secret_values

BOT_TOKEN = "xoxb-2041-77731-Zq9RkTnYbPwL"
SIGNING_SECRET = "8f3e1c0a9b7d6e5f4a3b2c1d0e9f8a7b"
DB_PASSWORD = "Hunter2Platform"
DB_URL = f"postgresql://factsway:{DB_PASSWORD}@db.internal:5432/factsway"
AM_TOKEN = "am-Token-5571-qq"
API_TOKEN = "api-Token-9a8b7c"


class Capture:
    def __init__(self, logger: logging.Logger, stream: io.StringIO) -> None:
        self.logger = logger
        self._stream = stream

    def lines(self) -> list[str]:
        return self._stream.getvalue().splitlines()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def text(self) -> str:
        return self._stream.getvalue()


@pytest.fixture
def capture(request: pytest.FixtureRequest) -> Iterator[Capture]:
    settings = Settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        PLATFORM_DATABASE_URL=DB_URL,
        ALERTMANAGER_TOKEN=AM_TOKEN,
        INCIDENT_BOT_API_TOKEN=API_TOKEN,
    )
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(secret_values(settings)))
    logger = logging.getLogger(f"test-logs.{request.node.name}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield Capture(logger, stream)
    logger.handlers.clear()


SECRETS = (BOT_TOKEN, SIGNING_SECRET, DB_PASSWORD, AM_TOKEN, API_TOKEN, "xyz-bearer-31337")


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret
    # Not even a recognisable piece of the bot token.
    assert "Zq9RkTnYbPwL" not in text


def test_a_message_with_the_bot_token_is_logged_without_it(capture: Capture) -> None:
    capture.logger.warning(f"slack call failed with token {BOT_TOKEN}")
    capture.logger.info("retrying with %s", BOT_TOKEN)

    assert_no_secret(capture.text())
    entries = capture.entries()
    assert len(entries) == 2
    assert entries[0]["message"].startswith("slack call failed with token ")
    assert entries[0]["level"] == "warning"
    assert "[redacted]" in entries[1]["message"]


def test_a_postgres_url_is_logged_without_its_password(capture: Capture) -> None:
    capture.logger.error("cannot connect to %s", DB_URL)
    other = "postgresql://reporter:AnotherPw-77@replica.internal/factsway"
    capture.logger.error("replica at %s is down", other)

    assert_no_secret(capture.text())
    assert "AnotherPw-77" not in capture.text()
    first, second = capture.entries()
    # The configured URL is a secret as a whole; any other URL keeps all but its password.
    assert first["message"].startswith("cannot connect to ")
    assert "postgresql://reporter:" in second["message"]
    assert "@replica.internal/factsway is down" in second["message"]


def test_an_authorization_bearer_header_is_logged_without_the_token(capture: Capture) -> None:
    capture.logger.info("request headers: Authorization: Bearer xyz-bearer-31337")
    capture.logger.info("Authorization: Bearer xyz")

    text = capture.text()
    assert_no_secret(text)
    assert "xyz" not in text
    assert all("Bearer [redacted]" in e["message"] for e in capture.entries())


def test_basic_auth_credentials_in_a_message_are_not_logged(capture: Capture) -> None:
    encoded = base64.b64encode(f"alertmanager:{AM_TOKEN}".encode()).decode()

    capture.logger.info(f"webhook auth header was Authorization: Basic {encoded}")
    capture.logger.info("basic health checks passed")

    assert encoded not in capture.text()
    assert_no_secret(capture.text())
    auth, ordinary = capture.entries()
    assert "Basic [redacted]" in auth["message"]
    assert ordinary["message"] == "basic health checks passed"


def test_secrets_in_extra_fields_are_removed_at_any_depth(capture: Capture) -> None:
    capture.logger.info(
        "webhook received",
        extra={
            "headers": {"Authorization": f"Bearer {AM_TOKEN}", "User-Agent": "Alertmanager"},
            "dsn": DB_URL,
            "note": f"forwarding to slack as {BOT_TOKEN}",
            "attempts": [{"url": DB_URL}, {"signing_secret": SIGNING_SECRET}],
            "api_token": API_TOKEN,
            "count": 3,
        },
    )

    assert_no_secret(capture.text())
    [entry] = capture.entries()
    assert entry["message"] == "webhook received"
    assert entry["headers"]["User-Agent"] == "Alertmanager"
    assert entry["count"] == 3
    assert len(entry["attempts"]) == 2


def test_a_secret_inside_an_object_logged_as_extra_is_removed(capture: Capture) -> None:
    class Client:
        def __str__(self) -> str:
            return f"Client(token={BOT_TOKEN}, db={DB_URL})"

    capture.logger.info("client ready", extra={"client": Client()})

    assert_no_secret(capture.text())
    [entry] = capture.entries()
    assert entry["client"].startswith("Client(")


def test_an_exception_traceback_is_logged_without_the_secrets_in_it(capture: Capture) -> None:
    try:
        raise ConnectionError(f"could not reach {DB_URL} using {AM_TOKEN}")
    except ConnectionError:
        capture.logger.exception("store failed")

    assert_no_secret(capture.text())
    [entry] = capture.entries()
    assert "ConnectionError" in entry["exception"]
    assert entry["level"] == "error"


def test_every_log_line_is_one_valid_json_object(capture: Capture) -> None:
    capture.logger.info('multi\nline "quoted" message with unicode: café ✓')
    capture.logger.debug("with extra", extra={"payload": {"a": [1, 2]}, "when": object()})
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        capture.logger.exception("boom")

    lines = capture.lines()
    assert len(lines) == 3
    entries = [json.loads(line) for line in lines]
    assert all(isinstance(e, dict) for e in entries)
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert entries[0]["message"] == 'multi\nline "quoted" message with unicode: café ✓'
    assert entries[1]["payload"] == {"a": [1, 2]}
    assert "ZeroDivisionError" in entries[2]["exception"]


def test_a_megabyte_of_hostile_text_in_a_field_is_cut_and_logged_fast(capture: Capture) -> None:
    """At DEBUG a whole request body can reach a log line: a 100 kB field once froze the bot."""
    hostile = "a://b:" * 200_000
    started = time.perf_counter()
    capture.logger.debug("body", extra={"body": hostile})
    elapsed = time.perf_counter() - started

    [line] = capture.lines()
    assert len(line) < 40_000
    assert "characters cut" in json.loads(line)["body"]
    assert elapsed < 1.0, elapsed


def test_a_secret_spanning_the_cut_of_a_long_field_is_not_logged(capture: Capture) -> None:
    # A URL whose password the cut would separate from its @, and a configured secret across it.
    for pad in range(16 * 1024 - 40, 16 * 1024 + 5, 3):
        capture.logger.info("x" * pad + f" postgresql://app:Cut-Password-1@db/x {BOT_TOKEN}")
        capture.logger.info("y" * pad + f" {SIGNING_SECRET} z")

    text = capture.text()
    assert "Cut-Pas" not in text and "ut-Password" not in text
    assert SIGNING_SECRET[:8] not in text and SIGNING_SECRET[-8:] not in text
    assert_no_secret(text)
