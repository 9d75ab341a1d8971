"""The outbox against the fake Slack: exactly once, in order, within limits, across restarts."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings
from bot.domain.incident import NewIncident, Severity
from bot.domain.timeline import EventKind
from bot.services.outbox import METADATA_EVENT_TYPE, message
from bot.store.factory import open_store
from bot.store.records import NewOutboxItem, OutboxState, Urgency
from bot.web.keys import OUTBOX, STORE
from tests.fakes.slack_api import FakeSlack
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot, stop_bot


@pytest.fixture
def settings_for(make_settings: Callable[..., Settings]) -> Callable[[FakeSlack], Settings]:
    """This file's bots route no alerts: the tests queue the outbox rows themselves."""

    def make(fake: FakeSlack) -> Settings:
        return make_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake.url
        )

    return make


async def drained(bot: RunningBot, timeout: float = 20) -> None:
    store = bot.app[STORE]
    async with asyncio.timeout(timeout):
        while (await store.outbox_stats(0)).depth:
            await asyncio.sleep(0.05)


def texts(fake: FakeSlack, channel: str) -> list[str]:
    return [m.text for m in fake.messages.get(channel, [])]


async def test_every_message_arrives_once_in_order_despite_429_and_500(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    strict_slack.fail_next("chat.postMessage", status=429, retry_after=1)
    strict_slack.fail_next("chat.postMessage", status=500, times=2)
    bot = await start_bot(settings_for(strict_slack))
    outbox = bot.app[OUTBOX]
    for i in range(3):
        await outbox.post("C_ALERTS", f"alerts {i}")
        await outbox.post("C_INCIDENTS", f"incidents {i}")
    await drained(bot)

    assert texts(strict_slack, "C_ALERTS") == ["alerts 0", "alerts 1", "alerts 2"]
    assert texts(strict_slack, "C_INCIDENTS") == ["incidents 0", "incidents 1", "incidents 2"]
    posts = strict_slack.calls_to("chat.postMessage")
    failed = [c.status for c in posts if c.status != 200]
    # Only the injected failures: the bot's own pacing never tripped the 1/s/channel limit.
    assert sorted(failed) == [429, 500, 500]
    for channel in ("C_ALERTS", "C_INCIDENTS"):
        accepted = [c.at for c in posts if c.status == 200 and c.args["channel"] == channel]
        gaps = [b - a for a, b in itertools.pairwise(accepted)]
        assert all(gap >= 0.95 for gap in gaps), gaps
    # A 500 may hide a message Slack did post, so the bot looked before posting again.
    assert strict_slack.calls_to("conversations.history")


async def test_posted_messages_carry_metadata_naming_their_outbox_row(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    row_id = await bot.app[OUTBOX].post("C_ALERTS", "hello")
    row = await bot.app[OUTBOX].wait(row_id, timeout=10)
    assert row.state == OutboxState.SENT
    [message] = fake_slack.messages["C_ALERTS"]
    assert message.metadata == {
        "event_type": METADATA_EVENT_TYPE,
        "event_payload": {"outbox_id": row_id},
    }
    assert row.result["ts"] == message.ts


async def test_rows_queued_while_stopped_are_delivered_after_restart(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    settings = settings_for(fake_slack)
    store = open_store(settings.database)
    await store.open()
    await store.enqueue(
        [
            NewOutboxItem("chat.postMessage", "C_ALERTS", {"channel": "C_ALERTS", "text": f"m{i}"})
            for i in range(3)
        ]
    )
    await store.close()
    assert fake_slack.messages.get("C_ALERTS", []) == []

    bot = await start_bot(settings)
    await drained(bot)
    assert texts(fake_slack, "C_ALERTS") == ["m0", "m1", "m2"]


async def test_row_in_flight_at_a_crash_is_not_posted_twice(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    """The bot died after Slack accepted the post but before it recorded that: on restart
    it finds the message by its metadata instead of posting it again."""
    settings = settings_for(fake_slack)
    store = open_store(settings.database)
    await store.open()
    landed, lost = await store.enqueue(
        [
            NewOutboxItem(
                "chat.postMessage",
                "C_ALERTS",
                {"channel": "C_ALERTS", "text": "landed"},
                message_key="parent",
            ),
            NewOutboxItem("chat.postMessage", "C_ALERTS", {"channel": "C_ALERTS", "text": "lost"}),
        ]
    )
    await store.mark_in_flight(landed)
    await store.mark_in_flight(lost)
    await store.close()
    # What the dead process managed to post before it died: only the first row.
    from slack_sdk.web.async_client import AsyncWebClient

    await AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.url).chat_postMessage(
        channel="C_ALERTS",
        text="landed",
        metadata={"event_type": METADATA_EVENT_TYPE, "event_payload": {"outbox_id": landed}},
    )

    bot = await start_bot(settings)
    await drained(bot)
    assert texts(fake_slack, "C_ALERTS") == ["landed", "lost"]
    # The recovered message is known by its ts, so later updates edit it.
    ref = await bot.app[STORE].message_ref("parent")
    assert ref is not None and ref.ts == fake_slack.messages["C_ALERTS"][0].ts


async def test_queued_updates_of_one_message_send_only_the_newest_state(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    settings = settings_for(fake_slack)
    store = open_store(settings.database)
    await store.open()
    ids = await store.enqueue(
        [
            NewOutboxItem(
                "chat.postMessage",
                "C_ALERTS",
                {"channel": "C_ALERTS", "text": "v0"},
                message_key="group-1",
            )
        ]
        + [
            NewOutboxItem(
                "chat.update",
                "C_ALERTS",
                {"channel": "C_ALERTS", "text": f"v{i}"},
                message_key="group-1",
            )
            for i in range(1, 6)
        ]
    )
    # The first update was in flight when the bot died: a newer state still replaces it.
    await store.mark_in_flight(ids[1])
    await store.close()

    bot = await start_bot(settings)
    await drained(bot)
    updates = [c for c in fake_slack.calls_to("chat.update") if c.status == 200]
    assert [c.args["text"] for c in updates] == ["v5"]
    [message] = fake_slack.messages["C_ALERTS"]
    assert message.text == "v5"
    stats = await bot.app[STORE].outbox_stats(0)
    assert stats.by_state == {"sent": 2, "superseded": 4}


async def test_replies_go_into_the_thread_of_their_parent(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    outbox = bot.app[OUTBOX]
    await outbox.post("C_ALERTS", "parent", message_key="group-7")
    reply = await outbox.post("C_ALERTS", "reply", thread_key="group-7")
    await outbox.wait(reply, timeout=10)
    parent, child = fake_slack.messages["C_ALERTS"]
    assert child.thread_ts == parent.ts


async def test_a_message_to_a_channel_the_bot_cannot_see_waits_for_the_invite(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    store = bot.app[STORE]
    incident = await store.create_incident(
        NewIncident("Export failing", Severity.P2, "U1", datetime.now(UTC))
    )
    row_id = await bot.app[OUTBOX].post("C_NOWHERE", "into the void", incident_id=incident.id)
    # channel_not_found is what Slack answers for a private channel the bot is not in: the row
    # waits for the invite instead of being dropped, and is not sent meanwhile.
    async with asyncio.timeout(10):
        while True:
            row = await store.outbox_row(row_id)
            assert row is not None
            if "channel_not_found" in (row.last_error or ""):
                break
            await asyncio.sleep(0.05)
    assert row.state not in (OutboxState.SENT, OutboxState.FAILED)


async def test_offline_mode_keeps_messages_in_the_timeline_as_undelivered(
    start_bot: BotFactory, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    bot = await start_bot(make_settings())
    store = bot.app[STORE]
    incident = await store.create_incident(
        NewIncident("Caselaw slow", Severity.P3, "cli", datetime.now(UTC))
    )
    row_id = await bot.app[OUTBOX].post("C_INCIDENTS", "would announce", incident_id=incident.id)
    row = await bot.app[OUTBOX].wait(row_id, timeout=10)
    assert row.state == OutboxState.UNDELIVERED
    events = await store.timeline(incident.id)
    assert events[-1].kind == EventKind.SLACK_UNDELIVERED
    assert events[-1].text == "would announce"
    await stop_bot(bot)


@pytest.mark.sqlite_only  # locks the SQLite file
async def test_after_the_store_could_not_commit_the_outbox_resumes_and_said_it_once(
    start_bot: BotFactory,
    settings_for: Callable[[FakeSlack], Settings],
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    settings = settings_for(fake_slack)
    bot = await start_bot(settings)
    fake_slack.fail_for("chat.postMessage", 1, status=500)
    for i in range(3):
        await bot.app[OUTBOX].post("C_ALERTS", f"message {i}")
    async with asyncio.timeout(10):
        while not fake_slack.calls_to("chat.postMessage"):
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # the failed attempt is recorded
    # Another process holds the write lock for longer than the bot waits for it.
    locker = sqlite3.connect(settings.database, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        await asyncio.sleep(7)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    await drained(bot, timeout=30)

    assert texts(fake_slack, "C_ALERTS") == ["message 0", "message 1", "message 2"]
    said = [r.getMessage() for r in caplog.records if r.name == "bot.slack.outbox_sender"]
    assert said.count("store unavailable: outbox paused, retrying with backoff") == 1, said
    assert "store available again: outbox resumed" in said


async def test_edits_of_posted_messages_go_around_a_backlog_of_posts(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    """In a storm the posts wait their turn at 1/s; the digest's and parents' edits do not."""
    bot = await start_bot(settings_for(strict_slack))
    outbox = bot.app[OUTBOX]
    await outbox.post("C_ALERTS", "digest v1", message_key="digest")
    await drained(bot)
    for i in range(6):
        await outbox.post("C_ALERTS", f"reply {i}")
    await outbox.update("C_ALERTS", "digest", "digest v2")
    await drained(bot)

    [update] = [c for c in strict_slack.calls_to("chat.update") if c.status == 200]
    posts = [c.at for c in strict_slack.calls_to("chat.postMessage") if c.status == 200]
    # Sent while most of the posts queued before it were still waiting.
    assert update.at < posts[3], (update.at, posts)
    assert texts(strict_slack, "C_ALERTS") == ["digest v2", *(f"reply {i}" for i in range(6))]


async def test_an_edit_waiting_for_its_allowance_does_not_hold_new_groups_and_replies(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    """Slack refused an edit until later: the storm digest's new message and a thread's
    change reply, queued behind it, still go at the posts' own pace."""
    bot = await start_bot(settings_for(strict_slack))
    outbox = bot.app[OUTBOX]
    await outbox.post("C_ALERTS", "parent v1", message_key="alertgroup:g1")
    await drained(bot)
    strict_slack.fail_next("chat.update", retry_after=6)
    await outbox.update("C_ALERTS", "alertgroup:g1", "parent v2")
    await outbox.post(
        "C_ALERTS", "1 alert firing", message_key="alertchanges:g1", thread_key="alertgroup:g1"
    )
    await outbox.post("C_ALERTS", "storm digest", message_key="digest:C_ALERTS:g2")
    await drained(bot, timeout=30)

    [edit] = [c for c in strict_slack.calls_to("chat.update") if c.status == 200]
    posted = {
        c.decoded["text"]: c.at
        for c in strict_slack.calls_to("chat.postMessage")
        if c.status == 200
    }
    assert posted["storm digest"] < edit.at and posted["1 alert firing"] < edit.at
    assert texts(strict_slack, "C_ALERTS")[0] == "parent v2"


async def test_short_of_edits_new_firing_goes_first_then_resolutions_then_count_changes(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    """Edits queued behind a backlog of posts go around it by what they show, not by age:
    a group that started firing before one that resolved, and that before a count change."""
    bot = await start_bot(settings_for(strict_slack))
    outbox = bot.app[OUTBOX]
    for name in ("counts", "resolved", "firing"):
        await outbox.post("C_ALERTS", f"{name} v1", message_key=f"alertgroup:{name}")
    await drained(bot)
    for i in range(6):
        await outbox.post("C_ALERTS", f"reply {i}")
    # Queued together, oldest first, as one sync of three groups would queue them.
    await outbox.write(
        *(
            message(
                "chat.update",
                "C_ALERTS",
                f"{name} v2",
                message_key=f"alertgroup:{name}",
                urgency=urgency,
            )
            for name, urgency in (
                ("counts", Urgency.COUNTS),
                ("resolved", Urgency.RESOLVED),
                ("firing", Urgency.NEW_FIRING),
            )
        )
    )
    await drained(bot, timeout=30)

    edits = [c.decoded["text"] for c in strict_slack.calls_to("chat.update") if c.status == 200]
    assert edits == ["firing v2", "resolved v2", "counts v2"]
