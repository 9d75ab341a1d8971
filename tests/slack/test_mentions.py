"""Text from outside (an alert, an API caller, a slash command) reaches Slack as words: it pings
nobody, mentions nobody and links nowhere; only the bot's own mentions and links work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.config import PlatformConfig, Settings
from bot.web.keys import STORE
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.slack_api import FakeSlack
from tests.harness.alerts import TOKEN, deliver, settled
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot
from tests.harness.slack_markup import LINK_HOSTS, meant, sent, unmeant

API_TOKEN = "api-token-mentions"
PHISH = "Disk full on <!channel> <https://evil.example|Reset your password here>"


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


@pytest.fixture
async def bot(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    platform_config: PlatformConfig,
) -> RunningBot:
    settings = make_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.url,
        SLACK_ALERTS_CHANNEL="C_ALERTS",
        SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
        ALERTMANAGER_TOKEN=TOKEN,
        INCIDENT_BOT_API_TOKEN=API_TOKEN,
        INCIDENT_BOT_OPERATORS="U1",  # so a platform action reaches its plan
    )
    return await start_bot(settings, platform_config)


async def api(bot: RunningBot, path: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with await bot.request("POST", path, json=body, headers=headers) as resp:
        assert resp.status in (200, 201), await resp.text()
        answer: dict[str, Any] = await resp.json()
        return answer


async def command(bot: RunningBot, fake: FakeSlack, text: str, channel: str) -> str:
    before = len(fake.responses)
    response = await bot.slack_command(
        "/incident", text, channel_id=channel, response_url=fake.issue_response_url()
    )
    ack = await response.json() if response.content_length else {}
    if not str(ack.get("text", "")).startswith(":hourglass"):
        return str(ack.get("text", ""))
    await until(lambda: _grew(fake.responses, before))
    return str(fake.responses[-1]["text"])


async def _grew(items: list[Any], before: int) -> bool:
    return len(items) > before


def war_room(fake: FakeSlack) -> dict[str, Any]:
    return next(c for c in fake.channels.values() if c["name"].startswith("inc-"))


async def test_an_api_declaration_pings_nobody_and_links_nowhere(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    incident = await api(bot, "/api/incidents", {"title": PHISH, "declared_by": "<!channel>"})
    await until(lambda: _grew(fake_slack.messages["C_INCIDENTS"], 0))
    await until(lambda: _grew(fake_slack.messages[war_room(fake_slack)["id"]], 0))
    path = f"/api/incidents/{incident['id']}"
    await api(bot, f"{path}/updates", {"text": "<!here> see <https://evil.example|this>"})
    await api(bot, f"{path}/resolve", {"summary": "<@U123> fixed it", "actor": "<!everyone>"})
    await settled(bot)

    assert unmeant(sent(fake_slack), meant(fake_slack, LINK_HOSTS)) == []
    # The words are all there, shown as they were written.
    [announcement] = [m for m in fake_slack.messages["C_INCIDENTS"] if m.thread_ts is None]
    assert "&lt;!channel&gt;" in announcement.text
    assert "Reset your password here" in announcement.text
    assert war_room(fake_slack)["topic"].endswith("&lt;!channel&gt;")


async def test_an_alert_that_declares_an_incident_pings_nobody(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    await deliver(
        bot,
        notification(
            "disk", [alert("a1", severity="critical", alertname="DiskFull", summary=PHISH)]
        ),
    )
    await until(lambda: _grew(fake_slack.messages["C_INCIDENTS"], 0))
    await until(lambda: _grew(fake_slack.messages[war_room(fake_slack)["id"]], 0))
    await settled(bot)

    assert unmeant(sent(fake_slack), meant(fake_slack, LINK_HOSTS)) == []
    assert "Reset your password here" in fake_slack.messages["C_INCIDENTS"][0].text


async def test_slash_command_answers_and_broadcasts_echo_text_without_pinging(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    answer = await command(bot, fake_slack, "declare <!channel> & <#C123> are down", "C_ALERTS")
    await settled(bot)
    room = war_room(fake_slack)["id"]
    assert f"<#{room}>" in answer  # the bot's own channel link still works
    for text in (
        "update <!here> <https://evil.example|login> --status identified",
        "action page <!subteam^S1> <@U1>",
        "role scribe <@U1>",
        "status",
        "list",
        "sev P3",
        "run <!channel>",
        "explode <!channel>",
        "resolve <@W999> restarted `it` & *more*",
    ):
        await command(bot, fake_slack, text, room)
    await settled(bot)

    assert unmeant(sent(fake_slack), meant(fake_slack, LINK_HOSTS)) == []
    # The people the bot meant to mention still are.
    assert any("<@U1>" in m.text for m in fake_slack.messages[room])


async def test_platform_action_answers_repeat_what_was_typed_without_pinging(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """An unknown service is named back in the refusal; typed as a broadcast, it is words."""
    for name, text in (
        ("/rollback", "<!channel>"),
        ("/rollback", "<https://evil.example|records> history"),
        ("/scale", "<@U0ADMIN> 3"),
        ("/restart", "<!subteam^S1>"),
    ):
        response = await bot.slack_command(
            name, text, channel_id="C_ALERTS", response_url=fake_slack.issue_response_url()
        )
        assert response.status == 200
    await until(lambda: _grew(fake_slack.responses, 3))  # all four answered
    await settled(bot)

    assert unmeant(sent(fake_slack), meant(fake_slack, LINK_HOSTS)) == []
    answers = [str(r["text"]) for r in fake_slack.responses]
    assert any("&lt;!channel&gt;" in a for a in answers), answers


async def test_the_timeline_keeps_what_slack_was_not_sent_in_words(
    start_bot: BotFactory, make_settings: Callable[..., Settings]
) -> None:
    """Offline, the undelivered announcement is read outside Slack: no `&lt;` for a person
    to decode."""
    bot = await start_bot(
        make_settings(INCIDENT_BOT_API_TOKEN=API_TOKEN, SLACK_INCIDENTS_CHANNEL="C_INCIDENTS")
    )
    incident = await api(bot, "/api/incidents", {"title": "Export <broken> & slow"})
    store = bot.app[STORE]

    async def undelivered() -> bool:
        return any(e.kind == "slack_undelivered" for e in await store.timeline(incident["id"]))

    await until(undelivered)
    [event] = [e for e in await store.timeline(incident["id"]) if e.kind == "slack_undelivered"]
    assert "Export <broken> & slow" in event.text


async def test_alert_buttons_repeat_the_alert_name_without_pinging(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    await deliver(bot, notification("g1", [alert("a1", alertname="<!channel>", summary=PHISH)]))
    await settled(bot)
    [parent] = [m for m in fake_slack.messages["C_ALERTS"] if m.thread_ts is None]
    group = next(
        str(b["elements"][0]["value"]) for b in parent.blocks or [] if b["type"] == "actions"
    )
    for replies, action in enumerate(("alert_ack", "alert_declare"), start=1):
        response = await bot.slack_action(
            action, group, message_ts=parent.ts, response_url=fake_slack.issue_response_url()
        )
        assert response.status == 200

        async def replied(n: int = replies) -> bool:
            return sum(m.thread_ts == parent.ts for m in fake_slack.messages["C_ALERTS"]) >= n

        await until(replied)
    await until(lambda: _grew(fake_slack.messages["C_INCIDENTS"], 0))
    await settled(bot)

    assert unmeant(sent(fake_slack), meant(fake_slack, LINK_HOSTS)) == []
