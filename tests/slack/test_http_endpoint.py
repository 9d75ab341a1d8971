"""Slack's HTTP requests: only signed, fresh ones get through; /incident help is answered."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from urllib.parse import urlencode

import pytest

from bot.config import Settings
from bot.web.keys import STORE
from tests.fakes.slack_api import FakeSlack
from tests.harness.bot import SIGNING_SECRET, BotFactory, RunningBot, stop_bot


async def test_signed_incident_help_is_answered_with_usage(
    start_bot: BotFactory, slack_settings: Settings
) -> None:
    bot = await start_bot(slack_settings)
    response = await bot.slack_command("/incident", "help")
    assert response.status == 200
    body = await response.json()
    assert body["response_type"] == "ephemeral"
    assert "/incident declare" in body["text"]
    assert "/rollback SERVICE" in body["text"]


async def test_empty_incident_command_shows_usage(
    start_bot: BotFactory, slack_settings: Settings
) -> None:
    bot = await start_bot(slack_settings)
    body = await (await bot.slack_command("/incident", "")).json()
    assert "/incident update" in body["text"]


async def test_unknown_subcommand_gets_ephemeral_usage_not_an_error(
    start_bot: BotFactory, slack_settings: Settings
) -> None:
    bot = await start_bot(slack_settings)
    response = await bot.slack_command("/incident", "explode now")
    assert response.status == 200
    body = await response.json()
    assert body["response_type"] == "ephemeral"
    assert "unknown subcommand `explode`" in body["text"]
    assert "/incident declare" in body["text"]


async def test_forged_signature_is_refused(start_bot: BotFactory, slack_settings: Settings) -> None:
    bot = await start_bot(slack_settings)
    response = await bot.slack_command("/incident", "help", secret="not-the-secret")
    assert response.status == 401


async def test_stale_request_older_than_five_minutes_is_refused(
    start_bot: BotFactory, slack_settings: Settings
) -> None:
    bot = await start_bot(slack_settings)
    response = await bot.slack_command("/incident", "help", timestamp=int(time.time()) - 301)
    assert response.status == 401
    fresh = await bot.slack_command("/incident", "help", timestamp=int(time.time()) - 240)
    assert fresh.status == 200


async def test_unsigned_request_is_refused(start_bot: BotFactory, slack_settings: Settings) -> None:
    bot = await start_bot(slack_settings)
    response = await bot.request(
        "POST",
        "/slack/events",
        data=b"command=%2Fincident&text=help",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 401


async def test_without_slack_credentials_events_are_refused_not_crashed(
    start_bot: BotFactory, make_settings: object
) -> None:
    assert callable(make_settings)
    bot = await start_bot(make_settings())
    response = await bot.slack_command("/incident", "help")
    assert response.status == 401
    assert "not configured" in (await response.json())["error"]


async def test_incident_list_answers_from_the_store(
    start_bot: BotFactory, slack_settings: Settings
) -> None:
    from bot.domain.incident import Severity
    from bot.web.keys import LIFECYCLE

    bot = await start_bot(slack_settings)
    body = await (await bot.slack_command("/incident", "list")).json()
    assert body["text"] == "No open incidents."
    await bot.app[LIFECYCLE].declare("Records API down", Severity.P1, "U1")
    body = await (await bot.slack_command("/incident", "list")).json()
    assert "#1" in body["text"] and "Records API down" in body["text"]


# --- hostile requests: malformed signing headers, replays ----------------------------------


async def raw_post(
    bot: RunningBot, path: str, headers: list[tuple[str, bytes]], body: bytes
) -> int:
    """A request written byte for byte, for header values no HTTP client would send."""
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n".encode()
        for name, value in [*headers, ("Content-Length", str(len(body)).encode())]:
            head += name.encode() + b": " + value + b"\r\n"
        writer.write(head + b"\r\n" + body)
        await writer.drain()
        async with asyncio.timeout(10):
            status_line = await reader.readline()
        return int(status_line.split()[1])
    finally:
        writer.close()


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


HELP = b"command=%2Fincident&text=help&user_id=U1&channel_id=C_ALERTS&trigger_id=1.2"


def _signature(timestamp: bytes, body: bytes) -> bytes:
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + timestamp + b":" + body, hashlib.sha256)
    return b"v0=" + digest.hexdigest().encode()


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        pytest.param(b"abc", None, id="timestamp-letters"),
        pytest.param(b"", None, id="timestamp-empty"),
        pytest.param(b"1e9", None, id="timestamp-exponent"),
        pytest.param(b"9" * 5000, None, id="timestamp-5000-digits"),
        pytest.param(b"-1", None, id="timestamp-negative"),
        pytest.param(None, "v0=é".encode(), id="signature-non-ascii-utf8"),
        pytest.param(None, b"v0=\xff\xfe", id="signature-not-utf8"),
        pytest.param(None, "v0=" + "é" * 64, id="signature-64-non-ascii"),
        pytest.param(None, b"", id="signature-empty"),
    ],
)
async def test_a_malformed_signing_header_is_401_with_no_error_logged(
    start_bot: BotFactory,
    slack_settings: Settings,
    caplog: pytest.LogCaptureFixture,
    timestamp: bytes | None,
    signature: bytes | str | None,
) -> None:
    bot = await start_bot(slack_settings)
    ts = timestamp if timestamp is not None else str(int(time.time())).encode()
    sig = signature if signature is not None else _signature(ts, HELP)
    sent = sig.encode() if isinstance(sig, str) else sig
    headers = [
        ("Content-Type", b"application/x-www-form-urlencoded"),
        ("X-Slack-Request-Timestamp", ts),
        ("X-Slack-Signature", sent),
    ]

    assert await raw_post(bot, "/slack/events", headers, HELP) == 401
    assert errors_logged(caplog) == []
    # The same request, properly signed, still gets through.
    fresh = str(int(time.time())).encode()
    signed = [
        headers[0],
        ("X-Slack-Request-Timestamp", fresh),
        ("X-Slack-Signature", _signature(fresh, HELP)),
    ]
    assert await raw_post(bot, "/slack/events", signed, HELP) == 200


async def test_a_signed_body_that_is_not_utf8_is_refused_not_crashed(
    start_bot: BotFactory, slack_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start_bot(slack_settings)
    body = b"command=%2Fincident&text=\xff\xfe"
    ts = str(int(time.time())).encode()
    headers = [
        ("Content-Type", b"application/x-www-form-urlencoded; charset=klingon"),
        ("X-Slack-Request-Timestamp", ts),
        ("X-Slack-Signature", _signature(ts, body)),
    ]

    status = await raw_post(bot, "/slack/events", headers, body)

    assert 400 <= status < 500
    assert errors_logged(caplog) == []


async def declared_channels(fake: FakeSlack) -> int:
    """How many incident channels the bot asked Slack for, once it has stopped asking."""
    count = -1
    while (now := len(fake.calls_to("conversations.create"))) != count:
        count = now
        await asyncio.sleep(0.5)
    return count


async def test_a_replayed_slash_command_runs_once(
    start_bot: BotFactory, slack_settings: Settings, fake_slack: FakeSlack
) -> None:
    bot = await start_bot(slack_settings)
    at = int(time.time())
    url = fake_slack.issue_response_url()

    async def send() -> int:
        response = await bot.slack_command(
            "/incident",
            "declare Records API down",
            timestamp=at,
            trigger_id="9.9",
            response_url=url,
        )
        return response.status

    # Captured once, sent three times: two together (as an attacker races) and one later.
    assert list(await asyncio.gather(send(), send())) == [200, 200]
    assert await send() == 200

    async with asyncio.timeout(10):
        while not await bot.app[STORE].list_incidents():
            await asyncio.sleep(0.05)
    assert await declared_channels(fake_slack) == 1
    assert len(await bot.app[STORE].list_incidents()) == 1
    # A new command (its own trigger and timestamp) is not a replay.
    again = await bot.slack_command("/incident", "declare Exports slow")
    assert again.status == 200
    async with asyncio.timeout(10):
        while len(await bot.app[STORE].list_incidents()) < 2:
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("relabelled", ["application/json", "text/plain", ""])
async def test_a_replay_under_another_content_type_is_still_a_replay(
    start_bot: BotFactory, slack_settings: Settings, fake_slack: FakeSlack, relabelled: str
) -> None:
    # Content-Type is not signed: an attacker can change it on a captured request.
    bot = await start_bot(slack_settings)
    body = urlencode(
        {
            "command": "/incident",
            "text": "declare Records API down",
            "user_id": "U1",
            "channel_id": "C_ALERTS",
            "team_id": "T1",
            "api_app_id": "A1",
            "trigger_id": "3.3",
            "response_url": fake_slack.issue_response_url(),
        }
    )
    at = int(time.time())
    first = await bot.post_signed("/slack/events", body, timestamp=at)
    replay = await bot.post_signed("/slack/events", body, timestamp=at, content_type=relabelled)

    assert first.status == 200
    assert replay.status < 500
    async with asyncio.timeout(10):
        while not await bot.app[STORE].list_incidents():
            await asyncio.sleep(0.05)
    assert await declared_channels(fake_slack) == 1
    assert len(await bot.app[STORE].list_incidents()) == 1


async def test_a_replay_after_a_restart_is_still_refused(
    start_bot: BotFactory, slack_settings: Settings, fake_slack: FakeSlack
) -> None:
    first = await start_bot(slack_settings)
    at = int(time.time())
    url = fake_slack.issue_response_url()
    sent = await first.slack_command(
        "/incident", "declare Records API down", timestamp=at, trigger_id="7.7", response_url=url
    )
    assert sent.status == 200
    async with asyncio.timeout(10):
        while not await first.app[STORE].list_incidents():
            await asyncio.sleep(0.05)
    await declared_channels(fake_slack)
    await stop_bot(first)

    second = await start_bot(slack_settings)
    replay = await second.slack_command(
        "/incident", "declare Records API down", timestamp=at, trigger_id="7.7", response_url=url
    )

    assert replay.status == 200
    await asyncio.sleep(1)
    assert len(await second.app[STORE].list_incidents()) == 1
    assert await declared_channels(fake_slack) == 1


async def test_a_replayed_form_submission_declares_once(
    start_bot: BotFactory, slack_settings: Settings, fake_slack: FakeSlack
) -> None:
    bot = await start_bot(slack_settings)
    values = {
        "title": {"value": {"type": "plain_text_input", "value": "Caselaw search down"}},
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "P2"}}},
    }
    payload = {
        "type": "view_submission",
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": "U1", "username": "alice", "name": "alice", "team_id": "T1"},
        "api_app_id": "A1",
        "token": "unused",
        "trigger_id": "5.5",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "declare_incident",
            "private_metadata": "",
            "state": {"values": values},
            "hash": "h",
        },
    }
    body = urlencode({"payload": json.dumps(payload)})
    at = int(time.time())

    for _ in range(3):
        assert (await bot.post_signed("/slack/events", body, timestamp=at)).status == 200

    async with asyncio.timeout(10):
        while not await bot.app[STORE].list_incidents():
            await asyncio.sleep(0.05)
    assert await declared_channels(fake_slack) == 1
    assert len(await bot.app[STORE].list_incidents()) == 1
