"""The alert-storm digest: in a storm it stands in for new threads, so it names every group in
it by the group's labels, as Alertmanager does, across as many messages as that takes, and a
group is never live in two places."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from bot.config import Settings
from bot.web.keys import STORE
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.slack_api import FakeSlack
from tests.harness.alerts import (
    STORM,
    deliver,
    digest_lines,
    live_places,
    parents,
    section_texts,
    settled,
)
from tests.harness.bot import BotFactory, RunningBot, stop_bot


def group_body(g: str, alerts: int = 2, status: str = "firing") -> dict[str, Any]:
    return notification(
        g,
        [alert(f"{g}-{i}", status=status, alertname=f"Alert{g}") for i in range(alerts)],
        alertname=f"Alert{g}",
    )


async def storm(bot: RunningBot, groups: list[str], alerts: int = 2) -> None:
    statuses = await asyncio.gather(*(deliver(bot, group_body(g, alerts)) for g in groups))
    assert statuses == ["stored"] * len(groups)


async def test_the_digest_names_every_group_of_a_500_group_storm_by_its_group_labels(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(strict_slack))
    groups = [f"g{n:03d}" for n in range(500)]
    await storm(bot, groups)
    resolved = groups[::3]
    await asyncio.gather(*(deliver(bot, group_body(g, status="resolved")) for g in resolved))
    await settled(bot, timeout=240)

    in_digest = firing = 0
    for g in groups:
        [place] = live_places(strict_slack, f"Alert{g}")
        if place.startswith("digest"):
            in_digest += 1
            firing += g not in resolved
            # Named as Alertmanager names the group: by every one of its group labels.
            assert 'alertname="Alert' in place and f'group="{g}"' in place, place
            want = "0 firing, 2 resolved" if g in resolved else "2 firing, 0 resolved"
            assert want in place, place
        else:
            assert place.startswith("thread: Resolved" if g in resolved else "thread: Firing")
    assert in_digest > 400
    digests = [m for m in parents(strict_slack) if STORM in m.text]
    assert len(digests) > 1, "500 groups cannot fit one message within Slack's limits"
    head = next(m for m in digests if f"{in_digest} alert groups" in m.text)
    assert f"({firing} firing, {in_digest - firing} resolved)" in head.text
    texts = [m.text for m in parents(strict_slack)]
    assert len(texts) == len(set(texts)), "a message was posted twice"


async def test_two_groups_with_the_same_alertname_and_different_jobs_are_told_apart(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(strict_slack))
    await storm(bot, [f"filler{n:02d}" for n in range(20)])
    for job, count in (("api", 3), ("worker", 1)):
        body = notification(
            job, [alert(f"{job}-{i}", job=job) for i in range(count)], alertname="HighErrorRate"
        )
        body["groupKey"] = f'{{}}:{{alertname="HighErrorRate", job="{job}"}}'
        body["groupLabels"] = {"alertname": "HighErrorRate", "job": job}
        await deliver(bot, body)
    await settled(bot, timeout=120)

    lines = [li for li in digest_lines(strict_slack) if "HighErrorRate" in li]
    assert len(lines) == 2, lines
    api = [li for li in lines if 'job="api"' in li]
    worker = [li for li in lines if 'job="worker"' in li]
    assert len(api) == 1 and len(worker) == 1, lines
    assert "3 firing" in api[0] and "1 firing" in worker[0]
    # Each links to its group in Alertmanager.
    assert "alertmanager.example:9093/#/alerts?filter=" in api[0]
    assert "job%3D%22api%22" in api[0] and "job%3D%22worker%22" in worker[0]


def _replay(fake: FakeSlack, name: str) -> int:
    """Replays every successful Slack call in order; the most live places the group `name`
    was shown in at any one moment."""
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    live: dict[str, str] = {}
    most = 0
    for call in fake.calls:
        if call.status != 200 or not call.response.get("ok"):
            continue
        if call.method == "chat.postMessage" and not call.args.get("thread_ts"):
            live[call.response["ts"]] = call.args.get("text", "") + repr(
                section_texts(call.args.get("blocks"))
            )
        elif call.method == "chat.update":
            live[call.args["ts"]] = call.args.get("text", "") + repr(
                section_texts(call.args.get("blocks"))
            )
        else:
            continue
        shown = 0
        for text in live.values():
            if STORM in text:
                shown += len(pattern.findall(text))
            elif pattern.search(text):
                shown += 1
        most = max(most, shown)
    return most


async def test_a_group_moves_from_the_digest_to_its_own_thread_never_live_in_both(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(strict_slack))
    await storm(bot, [f"filler{n:02d}" for n in range(20)])
    await deliver(bot, group_body("mover"))
    await settled(bot, timeout=120)
    [place] = live_places(strict_slack, "Alertmover")
    assert place.startswith("digest")

    # The storm is over; the group fires anew: it gets a thread of its own.
    more = group_body("mover", alerts=3)
    await deliver(bot, more)
    await settled(bot, timeout=60)
    [place] = live_places(strict_slack, "Alertmover")
    assert place.startswith("thread") and "Firing" in place
    assert _replay(strict_slack, "Alertmover") == 1
    # The digest's totals no longer count it.
    [head] = [m for m in parents(strict_slack) if f"{STORM}:" in m.text]
    assert f"{len(digest_lines(strict_slack))} alert groups" in head.text


async def test_a_restart_mid_storm_keeps_every_group_named_once(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    settings = settings_for(strict_slack)
    bot = await start_bot(settings)
    groups = [f"r{n:03d}" for n in range(90)]
    await storm(bot, groups)
    async with asyncio.timeout(60):
        while not [m for m in parents(strict_slack) if STORM in m.text]:
            await asyncio.sleep(0.05)
    await stop_bot(bot)

    bot = await start_bot(settings)
    resolved = groups[::2]
    await asyncio.gather(*(deliver(bot, group_body(g, status="resolved")) for g in resolved))
    await settled(bot, timeout=120)
    for g in groups:
        [place] = live_places(strict_slack, f"Alert{g}")
        if place.startswith("digest"):
            want = "0 firing, 2 resolved" if g in resolved else "2 firing, 0 resolved"
            assert want in place, place
        else:
            assert place.startswith("thread: Resolved" if g in resolved else "thread: Firing")
    texts = [m.text for m in parents(strict_slack)]
    assert len(texts) == len(set(texts)), "a message was posted twice"


async def synced(bot: RunningBot, timeout: float = 30) -> None:
    """Until every stored change has its Slack writes queued, sent or not."""
    store = bot.app[STORE]
    async with asyncio.timeout(timeout):
        while await store.dirty_alert_groups(limit=1):
            await asyncio.sleep(0.05)


async def test_a_digest_message_ends_showing_its_groups_latest_state(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    """While new threads' posts hold the channel, edits go around them most urgent first. A
    newer redraw of a digest message sent first must take the older ones waiting with it:
    an older one landing after it would show a state its groups have left (the restart test
    once ended with a resolved group still "2 firing" so)."""
    bot = await start_bot(settings_for(strict_slack))
    fillers = [f"filler{n:02d}" for n in range(20)]
    await storm(bot, fillers)
    await settled(bot, timeout=120)
    members = [g for g in fillers if live_places(strict_slack, f"Alert{g}")[0].startswith("dig")]
    resolving, growing = members[0], members[1]

    # A few new groups' threads (too few for the digest): posts that wait their turn at 1/s.
    for g in ("new0", "new1", "new2", "new3", "new4"):
        await deliver(bot, group_body(g))
    await synced(bot)
    # The resolution's redraw waits (Slack asks for 2 s) while a newer, more urgent one comes.
    strict_slack.fail_next("chat.update", retry_after=2)
    await deliver(bot, group_body(resolving, status="resolved"))
    await synced(bot)
    await deliver(bot, group_body(growing, alerts=3))
    await settled(bot, timeout=60)

    [resolved_place] = live_places(strict_slack, f"Alert{resolving}")
    assert "0 firing, 2 resolved" in resolved_place, resolved_place
    [grown_place] = live_places(strict_slack, f"Alert{growing}")
    assert "3 firing, 0 resolved" in grown_place, grown_place
