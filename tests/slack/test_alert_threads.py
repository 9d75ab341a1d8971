"""Alert groups become Slack threads whose parent always shows the group's current state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.config import PlatformConfig, Settings
from bot.store.factory import open_store
from bot.web.keys import STORE
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.slack_api import FakeSlack
from tests.harness.alerts import block_text, deliver, parents, replies, settled
from tests.harness.bot import BotFactory, RunningBot, stop_bot


async def test_a_new_group_gets_one_parent_with_state_links_and_buttons(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    await deliver(bot, notification("g1", [alert("a1"), alert("a2", severity="critical")]))
    await settled(bot)

    [parent] = parents(fake_slack)
    assert "Firing [critical]: HighErrorRate" in parent.text
    shown = block_text(parent)
    assert "2 firing, 0 resolved" in shown
    assert "Error rate above 5%" in shown
    assert "records" in shown and "factsway-prod" in shown
    assert "https://runbooks.example/high-error-rate|Runbook" in shown
    assert "https://grafana.example/d/services|Dashboard" in shown
    assert "http://alertmanager.example:9093/#/silences/new?filter=" in shown
    action_ids = [
        e["action_id"] for b in parent.blocks or [] if b["type"] == "actions" for e in b["elements"]
    ]
    assert action_ids == ["alert_ack", "alert_declare", "alert_silence", "alert_playbook"]


async def test_changes_are_replies_and_the_parent_tracks_them_until_resolved(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    await deliver(bot, notification("g1", [alert("a1")]))
    await settled(bot)
    await deliver(bot, notification("g1", [alert("a1"), alert("a2")]))
    await settled(bot)
    [parent] = parents(fake_slack)
    assert "2 firing, 0 resolved" in block_text(parent)
    [first] = replies(fake_slack, parent)
    assert "1 alert firing" in first.text and "records-service-a2" in first.text

    await deliver(
        bot, notification("g1", [alert("a1", status="resolved"), alert("a2", status="resolved")])
    )
    await settled(bot)
    [parent] = parents(fake_slack)
    assert parent.text.startswith("Resolved after 12m: HighErrorRate")
    assert "0 firing, 2 resolved" in block_text(parent)
    assert "alert_ack" not in block_text(parent)  # nothing left to act on
    assert "2 alerts resolved" in replies(fake_slack, parent)[-1].text


async def test_the_same_delivery_three_times_yields_one_thread(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    body = notification("g1", [alert("a1")])
    assert [await deliver(bot, body) for _ in range(3)] == ["stored", "duplicate", "duplicate"]
    await settled(bot)
    assert len(fake_slack.messages["C_ALERTS"]) == 1
    assert fake_slack.calls_to("chat.update") == []


async def test_the_thread_survives_a_restart(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    settings = settings_for(fake_slack)
    bot = await start_bot(settings)
    await deliver(bot, notification("g1", [alert("a1")]))
    await settled(bot)
    await stop_bot(bot)

    # Stored while the bot was down (it died after answering 200, before posting anything).
    store = open_store(settings.database)
    await store.open()
    from datetime import UTC, datetime

    body = notification("g1", [alert("a1", status="resolved")])
    await store.record_delivery("alertmanager", "late", body, datetime.now(UTC))
    await store.close()

    bot = await start_bot(settings)
    await settled(bot)
    [parent] = parents(fake_slack)
    assert parent.text.startswith("Resolved")
    assert [r.text for r in replies(fake_slack, parent)][-1].startswith(":white_check_mark:")


async def test_routes_send_groups_to_the_configured_channel(
    start_bot: BotFactory,
    settings_for: Callable[[FakeSlack], Settings],
    fake_slack: FakeSlack,
    platform_config: PlatformConfig,
) -> None:
    config = platform_config.model_copy(deep=True)
    from bot.config import ChannelRoute

    config.channels.routes = [ChannelRoute(channel="C_INCIDENTS", labels={"group": "db"})]
    bot = await start_bot(settings_for(fake_slack), config)
    await deliver(
        bot,
        notification(
            "db",
            [alert("d1", alertname="DatabaseConnectionErrors")],
            alertname="DatabaseConnectionErrors",
        ),
    )
    await deliver(bot, notification("web", [alert("w1")]))
    await settled(bot)
    assert "DatabaseConnectionErrors" in parents(fake_slack, "C_INCIDENTS")[0].text
    assert "HighErrorRate" in parents(fake_slack, "C_ALERTS")[0].text


async def test_a_critical_production_alert_declares_an_incident_once(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    await deliver(bot, notification("g1", [alert("a1", severity="critical")]))
    await deliver(
        bot,
        notification(
            "g2",
            [alert("b1", severity="critical", alertname="ServiceDown")],
            alertname="ServiceDown",
        ),
    )
    await settled(bot)
    incidents = await bot.app[STORE].list_incidents()
    assert [(i.severity, i.services) for i in incidents] == [("P1", ("records",))]
    for parent in parents(fake_slack):
        assert f"Incident #{incidents[0].id}" in block_text(parent)
    assert "incident #1 declared" in fake_slack.messages["C_INCIDENTS"][0].text
    linked = [e for e in await bot.app[STORE].timeline(incidents[0].id) if e.kind == "alert"]
    assert [e.text for e in linked] == [
        "alert group linked: HighErrorRate",
        "alert group linked: ServiceDown",
    ]


async def test_storm_loses_nothing_duplicates_nothing_and_ends_true(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    """2,000 alerts in 200 groups into one channel limited to one post per second."""
    bot = await start_bot(settings_for(strict_slack))
    groups = [f"g{n:03d}" for n in range(200)]
    bodies = [
        notification(
            g, [alert(f"{g}-{i}", alertname=f"Alert{g}") for i in range(10)], alertname=f"Alert{g}"
        )
        for g in groups
    ]
    statuses = await asyncio.gather(*(deliver(bot, b) for b in bodies))
    assert statuses == ["stored"] * 200
    await settled(bot, timeout=120)
    _, total = await bot.app[STORE].list_alerts(limit=1)
    assert total == 2000

    # Half the groups resolve; the channel must end showing exactly that.
    resolved = groups[::2]
    for g in resolved:
        await deliver(
            bot,
            notification(
                g,
                [alert(f"{g}-{i}", status="resolved", alertname=f"Alert{g}") for i in range(10)],
                alertname=f"Alert{g}",
            ),
        )
    await settled(bot, timeout=120)

    posts = [c for c in strict_slack.calls_to("chat.postMessage") if c.status == 200]
    parent_msgs = parents(strict_slack)
    texts = [m.text for m in parent_msgs]
    assert len(texts) == len(set(texts)), "a parent was posted twice"
    threads = [m for m in parent_msgs if "Alert storm" not in m.text]
    digests = [m for m in parent_msgs if "Alert storm" in m.text]
    [head] = [m for m in digests if "Alert storm:" in m.text]
    shown = {m.text.split(": ", 1)[1].split(".")[0]: m for m in threads}
    digest_lines = [b["text"]["text"] for m in digests for b in m.blocks or [] if "text" in b]
    in_digest = [g for g in groups if f"Alert{g}" not in shown]
    for g in groups:
        name = f"Alert{g}"
        if name in shown:
            assert shown[name].text.startswith("Resolved" if g in resolved else "Firing"), g
            continue
        # Every group of the digest is listed, once.
        [line] = [li for li in digest_lines if f'"{name}"' in li]
        assert ("0 firing, 10 resolved" if g in resolved else "10 firing, 0 resolved") in line
    digest_firing = len([g for g in in_digest if g not in resolved])
    assert head.text.endswith(
        f"{len(in_digest)} alert groups in this channel"
        f" ({digest_firing} firing, {len(in_digest) - digest_firing} resolved)"
    )
    firing_alerts, firing_total = await bot.app[STORE].list_alerts(status="firing", limit=1000)
    assert firing_total == 1000
    assert {a["labels"]["group"] for a in firing_alerts} == set(groups) - set(resolved)
    updates = [c for c in strict_slack.calls_to("chat.update") if c.status == 200]
    print(
        f"storm: {len(posts)} posts, {len(updates)} updates, {len(threads)} threads,"
        f" {len(in_digest)} groups in the digest"
    )
    # Threads for the first groups, one digest for the rest: far fewer posts than groups.
    assert len(threads) < 20 and len(posts) < 60
    rejected = [c for c in strict_slack.calls_to("chat.postMessage") if c.status == 429]
    assert rejected == []


async def grow_behind_a_backlog(bot: RunningBot, hot: list[dict[str, Any]], upto: int) -> None:
    """Twelve new groups' posts fill the channel's queue; then the hot group gains alerts
    hot-N up to `upto`, each change synced on its own, so each reply queues behind them."""
    store = bot.app[STORE]
    await asyncio.gather(
        *(
            deliver(
                bot,
                notification(
                    f"f{n:02d}",
                    [alert(f"f{n:02d}-0", alertname=f"F{n:02d}")],
                    alertname=f"F{n:02d}",
                ),
            )
            for n in range(12)
        )
    )
    for i in range(len(hot), upto + 1):
        hot.append(alert(f"hot-{i}", alertname="AlertHot"))
        await deliver(bot, notification("hot", list(hot), alertname="AlertHot"))
        async with asyncio.timeout(30):
            while await store.dirty_alert_groups(limit=1):
                await asyncio.sleep(0.02)


async def test_changes_queued_behind_a_backlog_reach_the_thread_as_one_reply(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    """Each change to a thread is a reply, but a reply waits its turn at one post per second:
    in a storm the thread gets one reply holding every change still queued, not one each."""
    bot = await start_bot(settings_for(strict_slack))
    hot = [alert("hot-0", alertname="AlertHot")]
    await deliver(bot, notification("hot", list(hot), alertname="AlertHot"))
    await settled(bot)
    await grow_behind_a_backlog(bot, hot, upto=5)
    await settled(bot, timeout=120)

    [parent] = [m for m in parents(strict_slack) if "AlertHot" in m.text]
    assert "6 firing, 0 resolved" in block_text(parent)
    changes = [r for r in replies(strict_slack, parent) if ":fire:" in r.text]
    shown = " ".join(block_text(r) for r in changes)
    for i in range(1, 6):
        assert shown.count(f"records-service-hot-{i}") == 1, shown
    assert len(changes) <= 2, [r.text for r in changes]


async def test_in_a_backlog_new_groups_threads_go_before_replies_about_changes(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(strict_slack))
    old = ["a", "b", "c", "d"]
    for g in old:
        await deliver(
            bot, notification(g, [alert(f"{g}-0", alertname=f"Old{g}")], alertname=f"Old{g}")
        )
    await settled(bot, timeout=60)
    for g in old:  # a change each: its reply waits for the channel's next post turn
        body = notification(
            g,
            [alert(f"{g}-0", alertname=f"Old{g}"), alert(f"{g}-1", alertname=f"Old{g}")],
            alertname=f"Old{g}",
        )
        await deliver(bot, body)
    new = ["n1", "n2", "n3"]
    for g in new:
        await deliver(
            bot, notification(g, [alert(f"{g}-0", alertname=f"New{g}")], alertname=f"New{g}")
        )
    await settled(bot, timeout=60)

    posts = [c for c in strict_slack.calls_to("chat.postMessage") if c.status == 200]
    order = [
        "reply" if c.decoded.get("thread_ts") else str(c.decoded.get("text", "")) for c in posts
    ]
    last_reply = max(i for i, what in enumerate(order) if what == "reply")
    for g in new:
        [at] = [i for i, what in enumerate(order) if f"New{g}" in what]
        assert at < last_reply, order


async def test_a_restart_with_change_replies_queued_reports_each_change_once(
    start_bot: BotFactory, settings_for: Callable[[FakeSlack], Settings], strict_slack: FakeSlack
) -> None:
    settings = settings_for(strict_slack)
    bot = await start_bot(settings)
    hot = [alert("hot-0", alertname="AlertHot")]
    await deliver(bot, notification("hot", list(hot), alertname="AlertHot"))
    await settled(bot)
    await grow_behind_a_backlog(bot, hot, upto=4)
    await stop_bot(bot)  # the replies are still queued behind the fillers' posts

    bot = await start_bot(settings)
    hot.append(alert("hot-5", alertname="AlertHot"))
    await deliver(bot, notification("hot", list(hot), alertname="AlertHot"))
    await settled(bot, timeout=120)
    [parent] = [m for m in parents(strict_slack) if "AlertHot" in m.text]
    assert "6 firing, 0 resolved" in block_text(parent)
    changes = [r for r in replies(strict_slack, parent) if ":fire:" in r.text]
    shown = " ".join(block_text(r) for r in changes)
    for i in range(1, 6):
        assert shown.count(f"records-service-hot-{i}") == 1, shown
    assert len(changes) <= 3, [r.text for r in changes]
