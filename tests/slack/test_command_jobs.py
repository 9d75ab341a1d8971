"""The work after a slash command's ack is a durable job: a bot stopped right after acking
`/incident declare` (its work held up by Slack) leaves it to the next bot on the same
database, which finishes it once: one incident, one channel, one answer to the caller."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.config import PlatformConfig, Settings
from bot.domain.clock import ManualClock
from bot.domain.timeline import EventKind
from bot.store.job_records import JobState
from bot.web.keys import STORE
from tests.fakes.pagerduty_api import FakePagerDuty
from tests.fakes.slack_api import FakeSlack
from tests.harness.alerts import settled
from tests.harness.bot import BotFactory, stop_bot
from tests.harness.commands import TUESDAY_10AM_NEW_YORK, slack_env


async def test_a_declare_whose_bot_stopped_after_the_ack_completes_once_on_the_next(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    fake_pagerduty: FakePagerDuty,
    platform_config: PlatformConfig,
) -> None:
    settings = make_settings(
        **slack_env(fake_slack),
        SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
        PAGERDUTY_ROUTING_KEY=fake_pagerduty.routing_key,
        PAGERDUTY_EVENTS_URL=fake_pagerduty.url + "/v2/enqueue",
    )
    clock = ManualClock(TUESDAY_10AM_NEW_YORK)
    first = await start_bot(settings, platform_config, clock)
    # Slack fails the channel creation for a while: the declare waits there when it stops.
    fake_slack.fail_for("conversations.create", 3, status=500)
    response = await first.slack_command(
        "/incident",
        "declare Records API down --sev P1",
        response_url=fake_slack.issue_response_url(),
        trigger_id="trigger-declare-1",
    )
    assert response.status == 200
    assert (await response.json())["text"].startswith(":hourglass")
    async with asyncio.timeout(10):
        while not fake_slack.calls_to("conversations.create"):
            await asyncio.sleep(0.02)
    await stop_bot(first)
    assert fake_slack.responses == []

    second = await start_bot(settings, platform_config, clock)
    async with asyncio.timeout(60):
        while not fake_slack.responses:
            await asyncio.sleep(0.05)
    await settled(second, timeout=20)
    await asyncio.sleep(1)  # long enough for a second answer or channel to show
    store = second.app[STORE]
    [incident] = await store.list_incidents()
    assert incident.channel_id
    created = [
        c for c in fake_slack.calls_to("conversations.create") if c.response.get("ok") is True
    ]
    assert [c.response["channel"]["id"] for c in created] == [incident.channel_id]
    [answer] = fake_slack.responses
    assert answer["replace_original"] is True and answer["response_type"] == "ephemeral"
    assert answer["text"].startswith(f":rotating_light: Declared P1 incident #{incident.id} in")
    assert f"<#{incident.channel_id}>" in answer["text"]
    announcements = [m for m in fake_slack.messages["C_INCIDENTS"] if "declared" in m.text]
    assert len(announcements) == 1
    assert len(fake_pagerduty.events) == 1
    job = await store.job("trigger-declare-1")
    assert job is not None and job.state == JobState.DONE and job.attempts == 2
    timeline = await store.timeline(incident.id)
    assert [e.kind for e in timeline].count(EventKind.PAGE) == 1


async def test_the_same_command_delivered_again_runs_once(
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
    fake_slack: FakeSlack,
    platform_config: PlatformConfig,
) -> None:
    bot = await start_bot(make_settings(**slack_env(fake_slack)), platform_config)
    first = await bot.slack_command(
        "/incident",
        "declare Export stuck",
        trigger_id="trigger-twice",
        response_url=fake_slack.issue_response_url(),
    )
    assert (await first.json())["text"].startswith(":hourglass")
    await settled(bot, timeout=20)
    async with asyncio.timeout(20):
        while not fake_slack.responses:
            await asyncio.sleep(0.05)
    # The same request delivered again (a new signature, the same trigger_id) runs nothing.
    again = await bot.slack_command(
        "/incident",
        "declare Export stuck",
        trigger_id="trigger-twice",
        response_url=fake_slack.issue_response_url(),
    )
    assert again.status == 200
    await asyncio.sleep(0.5)
    await settled(bot, timeout=20)
    assert len(await bot.app[STORE].list_incidents()) == 1
    assert len(fake_slack.responses) == 1
