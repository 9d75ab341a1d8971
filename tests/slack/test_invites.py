"""A channel the bot is not a member of: its alert thread waits, whole and in order, for the
invite; a person hears once that the bot must be invited; no reply goes out without its
parent."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.store.records import OutboxState
from bot.web.keys import OUTBOX, STORE
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_limits import manifest_scopes
from tests.harness.alerts import TOKEN, block_text, deliver, parents, replies, settled
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot

ALERTS = "C0PRIVATE1"
API_TOKEN = "api-token-invites"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"


@pytest.fixture
def settings_for(make_settings: Callable[..., Settings]) -> Callable[[FakeSlack], Settings]:
    def make(fake: FakeSlack) -> Settings:
        return make_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake.url,
            SLACK_ALERTS_CHANNEL=ALERTS,
            SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
            ALERTMANAGER_TOKEN=TOKEN,
            INCIDENT_BOT_API_TOKEN=API_TOKEN,
        )

    return make


async def refused(fake: FakeSlack, channel: str, error: str, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not any(
            c.args.get("channel") == channel and c.response.get("error") == error
            for c in fake.calls_to("chat.postMessage")
        ):
            await asyncio.sleep(0.05)


async def waiting_rows(bot: RunningBot, count: int, timeout: float = 10) -> None:
    store = bot.app[STORE]
    async with asyncio.timeout(timeout):
        while True:
            waiting = await store.channels_awaiting_invite()
            if waiting and waiting[0].waiting == count and not await store.dirty_alert_groups(1):
                return
            await asyncio.sleep(0.05)


async def readiness(bot: RunningBot) -> dict[str, Any]:
    # The detail (which channels, why) is for the API token's holder.
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with await bot.request("GET", "/readyz", headers=headers) as resp:
        assert resp.status == 200
        found: dict[str, Any] = (await resp.json())["integrations"]["slack_channels"]
        return found


def notices(fake: FakeSlack) -> list[str]:
    return [m.text for m in fake.messages["C_INCIDENTS"] if ALERTS in m.text]


@pytest.mark.parametrize(
    ("private", "error"),
    [(True, "channel_not_found"), (False, "not_in_channel")],
    ids=["private channel", "public channel without chat:write.public"],
)
async def test_the_thread_waits_for_the_invite_and_then_arrives_whole(
    start_bot: BotFactory,
    settings_for: Callable[[FakeSlack], Settings],
    caplog: pytest.LogCaptureFixture,
    private: bool,
    error: str,
) -> None:
    scopes = manifest_scopes() - {"chat:write.public"}
    async with FakeSlack(bot_token=BOT_TOKEN, scopes=scopes) as fake:
        fake.add_channel(ALERTS, "ops-alerts", private=private, bot_member=False)
        bot = await start_bot(settings_for(fake))
        await deliver(bot, notification("g1", [alert("a1")]))
        await refused(fake, ALERTS, error)
        await deliver(bot, notification("g1", [alert("a1"), alert("a2")]))
        await waiting_rows(bot, 3)  # the parent, its update and the change reply

        stats = await bot.app[STORE].outbox_stats(0)
        assert stats.by_state.get(OutboxState.FAILED, 0) == 0
        assert fake.messages[ALERTS] == []
        ready = await readiness(bot)
        assert ready["state"] == "needs_invite"
        assert [(c["channel"], c["error"], c["waiting"]) for c in ready["channels"]] == [
            (ALERTS, error, 3)
        ]
        async with await bot.request("GET", "/metrics") as resp:
            exposed = await resp.text()
        assert f'incident_bot_outbox_awaiting_invite{{channel="{ALERTS}"}} 3.0' in exposed
        async with asyncio.timeout(10):  # the fallback channel hears of it
            while not notices(fake):
                await asyncio.sleep(0.05)

        # Someone invites the bot; Slack tells it so.
        envelope = json.loads((FIXTURES / "member_joined_channel.json").read_text())
        envelope["event"] = fake.invite_bot(ALERTS)
        body = json.dumps(envelope)
        joined = await bot.post_signed("/slack/events", body, content_type="application/json")
        assert joined.status == 200
        await settled(bot)

        [parent] = parents(fake, ALERTS)
        assert "2 firing, 0 resolved" in block_text(parent)
        [reply] = replies(fake, parent)
        assert "records-service-a2" in reply.text
        assert all(m is parent or m.thread_ts == parent.ts for m in fake.messages[ALERTS])
        assert (await readiness(bot))["state"] == "ok"
        assert len(notices(fake)) == 1
        said = [r for r in caplog.records if "must be invited" in r.getMessage()]
        assert [r.levelno for r in said] == [logging.WARNING]


async def test_no_reply_goes_out_without_its_parent(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    outbox = bot.app[OUTBOX]
    fake_slack.fail_next("chat.postMessage", error="msg_too_long")  # refused for good
    parent = await outbox.post("C_ALERTS", "v1", message_key="thread")
    early = await outbox.post("C_ALERTS", "first reply", thread_key="thread")
    assert (await outbox.wait(parent, 10)).state == OutboxState.FAILED
    assert (await outbox.wait(early, 10)).state == OutboxState.FAILED
    assert fake_slack.messages["C_ALERTS"] == []  # not posted as a thread of its own

    # The thread's next state posts its parent, and later replies join it.
    update = await outbox.update("C_ALERTS", "thread", "v2")
    assert (await outbox.wait(update, 10)).state == OutboxState.SENT
    later = await outbox.post("C_ALERTS", "second reply", thread_key="thread")
    assert (await outbox.wait(later, 10)).state == OutboxState.SENT
    first, second = fake_slack.messages["C_ALERTS"]
    assert (first.text, first.thread_ts) == ("v2", None)
    assert (second.text, second.thread_ts) == ("second reply", first.ts)
