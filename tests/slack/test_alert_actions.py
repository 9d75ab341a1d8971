"""The buttons on an alert thread: acknowledge, declare, silence (real Alertmanager), playbook."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import Settings
from bot.web.keys import STORE
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.slack_api import FakeSlack, Message
from tests.harness.alerts import TOKEN, block_text, deliver, parents, replies, settled
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot
from tests.harness.plugin import AlertmanagerFactory


@pytest.fixture
def settings_for(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(fake: FakeSlack, **extra: str) -> Settings:
        return make_settings(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake.url,
            SLACK_ALERTS_CHANNEL="C_ALERTS",
            SLACK_INCIDENTS_CHANNEL="C_INCIDENTS",
            ALERTMANAGER_TOKEN=TOKEN,
            **extra,
        )

    return make


def group_id(parent: Message) -> str:
    for block in parent.blocks or []:
        if block["type"] == "actions":
            return str(block["elements"][0]["value"])
    raise AssertionError("the parent has no buttons")


async def click(
    bot: RunningBot,
    fake: FakeSlack,
    action: str,
    parent: Message,
    user: str = "U1",
    *,
    answer: bool = False,
) -> None:
    """Clicks a button; with `answer`, waits for the ephemeral reply to the clicker."""
    before = len(fake.responses)
    response = await bot.slack_action(
        action,
        group_id(parent),
        user_id=user,
        message_ts=parent.ts,
        response_url=fake.issue_response_url(),
    )
    assert response.status == 200
    async with asyncio.timeout(10):
        while answer and len(fake.responses) == before:
            await asyncio.sleep(0.02)
    await settled(bot)


async def new_replies(
    fake: FakeSlack, parent: Message, *, before: int, timeout: float = 10
) -> list[Message]:
    """The thread's replies once more than `before` of them have reached Slack."""
    async with asyncio.timeout(timeout):
        while len(found := replies(fake, parent)) <= before:
            await asyncio.sleep(0.02)
    return found


async def one_thread(bot: RunningBot, fake: FakeSlack, **labels: str) -> Message:
    await deliver(bot, notification("g1", [alert("a1", **labels)]))
    await settled(bot)
    [parent] = parents(fake)
    return parent


async def test_acknowledge_records_who_on_the_parent_and_in_the_thread(
    start_bot: BotFactory, settings_for: Callable[..., Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    parent = await one_thread(bot, fake_slack)
    await click(bot, fake_slack, "alert_ack", parent, user="U1")
    [parent] = parents(fake_slack)
    assert "Acknowledged by <@U1>" in block_text(parent)
    assert "<@U1> acknowledged HighErrorRate" in replies(fake_slack, parent)[-1].text

    await click(bot, fake_slack, "alert_ack", parent, user="U2", answer=True)
    assert fake_slack.responses[-1]["text"] == "Already acknowledged by <@U1>."
    assert len(replies(fake_slack, parent)) == 1


async def test_declare_from_the_thread_opens_a_linked_incident(
    start_bot: BotFactory, settings_for: Callable[..., Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    parent = await one_thread(bot, fake_slack)
    await click(bot, fake_slack, "alert_declare", parent)
    [incident] = await bot.app[STORE].list_incidents()
    assert incident.title == "HighErrorRate: Error rate above 5%"
    assert incident.services == ("records",) and incident.declared_by == "U1"
    [parent] = parents(fake_slack)
    assert f"Incident #{incident.id}" in block_text(parent)
    assert f"declared P2 incident #{incident.id}" in replies(fake_slack, parent)[-1].text
    kinds = [e.kind for e in await bot.app[STORE].timeline(incident.id)]
    assert kinds[0] == "declared" and "alert" in kinds
    await click(bot, fake_slack, "alert_declare", parent, answer=True)
    assert fake_slack.responses[-1]["text"] == f"Already part of incident #{incident.id}."


async def test_silence_creates_a_one_hour_silence_in_the_real_alertmanager(
    start_bot: BotFactory,
    settings_for: Callable[..., Settings],
    fake_slack: FakeSlack,
    alertmanager_factory: AlertmanagerFactory,
) -> None:
    am = alertmanager_factory("http://127.0.0.1:9/unused")
    bot = await start_bot(settings_for(fake_slack, ALERTMANAGER_URL=am.url))
    parent = await one_thread(bot, fake_slack)
    await click(bot, fake_slack, "alert_silence", parent, user="U7", answer=True)
    assert await am.silences() == []  # nothing until the matchers shown are confirmed
    confirmation = fake_slack.responses[-1]
    assert 'pod="records-service-a1"' in confirmation["text"]
    await confirm_silence(bot, fake_slack, confirmation, user="U7")
    # The click is acked before the silence is made; the thread's reply says it was.
    reply = (await new_replies(fake_slack, parent, before=0))[-1].text

    [silence] = await am.silences()
    matchers = {m["name"]: m["value"] for m in silence["matchers"]}
    # Exactly the thread's one alert: every label it has, not the group's two.
    assert matchers == {
        "alertname": "HighErrorRate",
        "group": "g1",
        "namespace": "factsway-prod",
        "pod": "records-service-a1",
        "service": "records-service",
        "severity": "warning",
    }
    assert silence["createdBy"] == "slack:U7" and silence["status"]["state"] == "active"
    assert f"http://alertmanager.example:9093/#/silences/{silence['id']}" in reply
    assert 'pod="records-service-a1"' in reply


async def confirm_silence(
    bot: RunningBot, fake: FakeSlack, confirmation: dict[str, Any], user: str
) -> None:
    [button] = [e for b in confirmation["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == "alert_silence_confirm"
    response = await bot.slack_action(
        "alert_silence_confirm",
        button["value"],
        user_id=user,
        response_url=fake.issue_response_url(),
    )
    assert response.status == 200
    await settled(bot)


async def test_silence_of_a_group_by_alertname_thread_silences_only_its_alerts(
    start_bot: BotFactory,
    settings_for: Callable[..., Settings],
    fake_slack: FakeSlack,
    alertmanager_factory: AlertmanagerFactory,
) -> None:
    """With `group_by: [alertname]` the group labels match every TargetDown of every team: the
    silence must match this thread's alerts, which here share their job and namespace."""
    am = alertmanager_factory("http://127.0.0.1:9/unused")
    bot = await start_bot(settings_for(fake_slack, ALERTMANAGER_URL=am.url))
    body = notification(
        "g1",
        [alert(f"t{i}", alertname="TargetDown", service="export-service") for i in range(3)],
        alertname="TargetDown",
    )
    body["groupLabels"] = {"alertname": "TargetDown"}
    await deliver(bot, body)
    await settled(bot)
    [parent] = parents(fake_slack)
    await click(bot, fake_slack, "alert_silence", parent, answer=True)
    await confirm_silence(bot, fake_slack, fake_slack.responses[-1], user="U1")
    await new_replies(fake_slack, parent, before=0)  # the silence is made before the reply

    [silence] = await am.silences()
    matchers = {m["name"]: m["value"] for m in silence["matchers"]}
    assert matchers["alertname"] == "TargetDown"
    assert matchers["service"] == "export-service"
    assert matchers["namespace"] == "factsway-prod"
    assert "pod" not in matchers  # the pods differ; the silence covers all three


async def test_silence_confirmed_after_the_thread_changed_silences_nothing(
    start_bot: BotFactory,
    settings_for: Callable[..., Settings],
    fake_slack: FakeSlack,
    alertmanager_factory: AlertmanagerFactory,
) -> None:
    am = alertmanager_factory("http://127.0.0.1:9/unused")
    bot = await start_bot(settings_for(fake_slack, ALERTMANAGER_URL=am.url))
    parent = await one_thread(bot, fake_slack)
    await click(bot, fake_slack, "alert_silence", parent, answer=True)
    confirmation = fake_slack.responses[-1]
    await deliver(bot, notification("g1", [alert("a1"), alert("a2", service="export-service")]))
    await settled(bot)
    before = len(fake_slack.responses)
    await confirm_silence(bot, fake_slack, confirmation, user="U1")
    async with asyncio.timeout(10):
        while len(fake_slack.responses) == before:
            await asyncio.sleep(0.02)
    assert "changed" in fake_slack.responses[-1]["text"]
    assert await am.silences() == []


async def test_silence_without_alertmanager_url_says_how_to_enable_it(
    start_bot: BotFactory, settings_for: Callable[..., Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    parent = await one_thread(bot, fake_slack)
    await click(bot, fake_slack, "alert_silence", parent, answer=True)
    assert "ALERTMANAGER_URL" in fake_slack.responses[-1]["text"]
    assert replies(fake_slack, parent) == []


async def test_a_button_for_an_unknown_group_gets_a_clear_answer(
    start_bot: BotFactory, settings_for: Callable[..., Settings], fake_slack: FakeSlack
) -> None:
    bot = await start_bot(settings_for(fake_slack))
    response = await bot.slack_action(
        "alert_ack", "no-such-group", response_url=fake_slack.issue_response_url()
    )
    assert response.status == 200
    for _ in range(100):
        if fake_slack.responses:
            break
        await asyncio.sleep(0.02)
    assert fake_slack.responses[-1]["text"] == "This alert group is no longer known to the bot."


async def test_real_alertmanager_groups_become_threads_resolved_in_place(
    start_bot: BotFactory,
    settings_for: Callable[..., Settings],
    fake_slack: FakeSlack,
    alertmanager_factory: AlertmanagerFactory,
) -> None:
    """Alertmanager's own grouping, retries and repeats against the bot: one thread per group."""
    bot = await start_bot(settings_for(fake_slack))
    am = alertmanager_factory(
        bot.url + "/webhooks/alertmanager",
        bearer_token=TOKEN,
        group_wait="0s",
        group_interval="1s",
        repeat_interval="2s",
    )
    labels = {"severity": "warning", "namespace": "factsway-prod"}
    await am.post_alerts(
        [
            {
                "labels": {"alertname": "HighErrorRate", "service": "records-service", **labels},
                "annotations": {"summary": "errors"},
            },
            {"labels": {"alertname": "HighErrorRate", "service": "export-service", **labels}},
            {"labels": {"alertname": "SlowResponseTime", "service": "facts-service", **labels}},
        ]
    )

    async def wait_for(check: Callable[[], bool], timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.1)

    await wait_for(lambda: len(parents(fake_slack)) == 2)
    await settled(bot)
    by_name = {p.text.split(": ", 1)[1].split(".")[0]: p for p in parents(fake_slack)}
    assert set(by_name) == {"HighErrorRate", "SlowResponseTime"}
    assert "2 firing" in block_text(by_name["HighErrorRate"])

    await asyncio.sleep(4)  # past repeat_interval: Alertmanager re-sends, nothing new appears
    assert len(parents(fake_slack)) == 2

    await am.post_alerts(
        [
            {
                "labels": {"alertname": "HighErrorRate", "service": s, **labels},
                "endsAt": "2020-01-01T00:00:00Z",
            }
            for s in ("records-service", "export-service")
        ]
    )
    await wait_for(lambda: any(p.text.startswith("Resolved") for p in parents(fake_slack)))
    await settled(bot)
    assert len(parents(fake_slack)) == 2
    resolved = next(p for p in parents(fake_slack) if "HighErrorRate" in p.text)
    assert resolved.text.startswith("Resolved")
    assert "2 alerts resolved" in replies(fake_slack, resolved)[-1].text
