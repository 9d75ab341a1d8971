"""Slack's HTTP requests: only signed, fresh ones get through; /incident help is answered."""

from __future__ import annotations

import time

from bot.config import Settings
from tests.harness.bot import BotFactory


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
