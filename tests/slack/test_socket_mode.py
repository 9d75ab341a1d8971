"""Socket Mode: the same commands arrive as envelopes over a WebSocket and are acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.config import Settings
from bot.web.keys import SLACK_STATE
from tests.fakes.slack_api import FakeSlack
from tests.harness.bot import APP_TOKEN, BOT_TOKEN, BotFactory


async def test_incident_help_over_socket_mode_is_acked_with_usage(
    start_bot: BotFactory, make_settings: Callable[..., Settings], fake_slack: FakeSlack
) -> None:
    settings = make_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=fake_slack.url
    )
    bot = await start_bot(settings)
    await fake_slack.wait_for_socket(timeout=10)
    ack = await fake_slack.send_slash_command("/incident", "help", timeout=10)
    assert ack["envelope_id"]
    assert "/incident declare" in ack["payload"]["text"]
    for _ in range(50):
        if bot.app[SLACK_STATE]["state"] == "ok":
            break
        await asyncio.sleep(0.05)
    assert bot.app[SLACK_STATE]["state"] == "ok"
    # Socket Mode has no public endpoint: HTTP posts to /slack/events are refused.
    assert (await bot.slack_command("/incident", "help")).status == 401
    assert fake_slack.calls_to("apps.connections.open")[0].token == APP_TOKEN
