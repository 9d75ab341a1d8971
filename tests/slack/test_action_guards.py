"""The guards around dangerous actions, end to end: the two-person rule follows the request,
refusals are audited, confirmations go stale, the alert thread's rollback offer follows its
group's incident, and an action a restart interrupted does not stay running."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import PlatformConfig
from bot.domain.actions import ActionState
from bot.domain.clock import ManualClock
from bot.domain.incident import Severity
from bot.integrations.kubernetes import Kubernetes
from bot.services.actions.approvals import INTERRUPTED, RUN_ACTION
from bot.web.keys import STORE
from tests.fakes.alertmanager_payloads import alert, notification
from tests.fakes.kube_api import FakeKubernetes, rolled_out
from tests.fakes.slack_api import FakeSlack
from tests.harness.alerts import TOKEN, deliver, parents, replies, settled
from tests.harness.bot import BotFactory, stop_bot
from tests.harness.commands import NS, ActionWorld, ActionWorlds

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
World = ActionWorld[ManualClock]


@pytest.fixture
def world_factory(
    action_world: ActionWorlds, fake_slack: FakeSlack, platform_config: PlatformConfig
) -> Callable[..., Awaitable[World]]:
    async def make(*, playbooks: bool = False) -> World:
        fake_slack.add_channel("C_WAR", "inc-records", members={"U1", "U5", "U6"})
        config = platform_config.model_copy(deep=True)
        if playbooks:
            config.playbooks_dir = PLAYBOOKS
            config.health_url_template = "http://127.0.0.1:9/{deployment}{path}"
        return await action_world(ManualClock(), config=config, env={"ALERTMANAGER_TOKEN": TOKEN})

    return make


async def test_lowering_the_severity_after_the_request_keeps_the_two_person_rule(
    world_factory: Callable[..., Any], kube: FakeKubernetes
) -> None:
    """The approvals a rollback needs are fixed when it is asked for: a P0 rollback whose
    incident is lowered to P1 before the Confirm still needs a second operator."""
    kube.set_image("records-service", "registry.local/records:1.1")
    await rolled_out(kube, "records-service")
    w: World = await world_factory()
    incident_id = await w.incident_channel(Severity.P0)
    await w.command("/rollback", "records", channel="C_WAR")
    await w.settled()
    assert "2 more operators must confirm" in repr(w.confirmation("C_WAR").blocks)
    lowered = await w.command("/incident", "sev P1", channel="C_WAR")  # U1 declared it
    assert "P0 → P1" in lowered
    await w.click("action_confirm", w.confirmation("C_WAR"), user="U1")
    await asyncio.sleep(0.5)
    assert w.patches() == []
    action = await w.bot.app[STORE].get_action(1)
    assert action is not None and action.state == ActionState.PENDING
    await w.click("action_confirm", w.confirmation("C_WAR"), user="U5")
    await w.until(1, ActionState.DONE)
    results = await w.results(incident_id)
    assert [e.data["confirmed_by"] for e in results] == [["U1", "U5"]]


async def test_a_refused_dangerous_action_is_answered_and_audited_with_why(
    world_factory: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """With the bot logging at INFO, as it runs in production, a refusal is still a refusal:
    the requester is told why, the incident's timeline and the log say who, what and why."""
    caplog.set_level(logging.INFO)
    w: World = await world_factory()
    incident_id = await w.incident_channel(Severity.P1)
    answer = await w.command("/scale", "records 3", user="U6", channel="C_WAR")
    assert answer.startswith(":no_entry:")
    [refusal] = [e for e in await w.bot.app[STORE].timeline(incident_id) if e.kind == "action"]
    assert refusal.actor == "U6" and refusal.data["result"] == "refused"
    assert refusal.data["args"] == ["records", "3"] and refusal.data["reason"]
    audits = [r for r in caplog.records if r.getMessage() == "action audit"]
    assert audits, "the refusal is logged"
    logged = audits[-1].__dict__["audit"]
    assert logged["user"] == "U6" and logged["reason"] == refusal.data["reason"]
    assert w.patches() == []


async def test_a_confirmation_older_than_ten_minutes_is_refused(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    await w.command("/restart", "records")
    await w.settled()
    w.clock.advance(11 * 60)
    answer = await w.click("action_confirm", w.confirmation())
    assert answer is not None and answer.startswith(":no_entry:")
    action = await w.bot.app[STORE].get_action(1)
    assert action is not None and action.state == ActionState.EXPIRED
    shown = w.confirmation()
    assert "action_confirm" not in repr(shown.blocks)  # no button left to click
    assert w.patches() == []


async def test_a_confirmation_within_ten_minutes_still_runs(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    await w.command("/restart", "records")
    await w.settled()
    w.clock.advance(9 * 60)
    await w.click("action_confirm", w.confirmation())
    await w.until(1, ActionState.DONE)


async def test_scale_is_refused_when_the_replicas_changed_since_the_confirmation_showed_them(
    world_factory: Callable[..., Any], kube: FakeKubernetes, tmp_path: Path
) -> None:
    w: World = await world_factory()
    await w.command("/scale", "records 4")  # shows "Now: 2 replicas"
    await w.settled()
    other = await Kubernetes.connect(str(kube.write_kubeconfig(tmp_path / "kubeconfig-2")))
    try:  # someone else scales it by hand meanwhile
        await other.scale(NS, "records-service", 6, dry_run=False)
    finally:
        await other.close()
    answer = await w.click("action_confirm", w.confirmation())
    assert answer is not None and answer.startswith(":no_entry:")
    action = await w.bot.app[STORE].get_action(1)
    assert action is not None and action.state == ActionState.EXPIRED
    await asyncio.sleep(0.3)
    assert kube.deployment("records-service")["spec"]["replicas"] == 6
    assert len(w.patches()) == 1  # the hand-made one only


async def test_restart_is_refused_when_the_deployment_rolled_out_since(
    world_factory: Callable[..., Any], kube: FakeKubernetes
) -> None:
    w: World = await world_factory()
    await w.command("/restart", "records")
    await w.settled()
    kube.set_image("records-service", "registry.local/records:1.1")
    await rolled_out(kube, "records-service")
    answer = await w.click("action_confirm", w.confirmation())
    assert answer is not None and answer.startswith(":no_entry:")
    action = await w.bot.app[STORE].get_action(1)
    assert action is not None and action.state == ActionState.EXPIRED
    assert w.patches() == []


async def test_the_rollback_offer_in_an_alert_thread_follows_the_groups_incident(
    world_factory: Callable[..., Any], kube: FakeKubernetes
) -> None:
    """The alerts channel is no incident's channel; the offer's thread belongs to a group
    linked to a P0 incident, so the rollback needs two operators and is audited there."""
    kube.set_image("records-service", "registry.local/records:1.1", change_cause="release 1.1")
    await rolled_out(kube, "records-service")
    w: World = await world_factory(playbooks=True)
    store = w.bot.app[STORE]
    await deliver(
        w.bot, notification("g1", [alert("a1", alertname="ServiceDown")], alertname="ServiceDown")
    )
    async with asyncio.timeout(30):
        while True:
            await w.settled()
            threads = parents(w.slack)
            offers = [
                m
                for m in (replies(w.slack, threads[0]) if threads else [])
                if "rollback_offer" in repr(m.blocks)
            ]
            if offers:
                break
            await asyncio.sleep(0.1)
    incident_id = await w.incident_channel(Severity.P0)
    group_id = next(
        e["value"]
        for b in threads[0].blocks or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "alert_ack"
    )
    group = await store.alert_group(group_id)
    assert group is not None
    await store.update_alert_group(group.group_key, incident_id=incident_id)
    await w.click("rollback_offer", offers[0], user="U1")
    await w.settled()
    message = w.confirmation("C_ALERTS")
    assert "2 more operators must confirm" in repr(message.blocks)
    await w.click("action_confirm", message, user="U1")
    await asyncio.sleep(0.5)
    assert w.patches() == []
    action = await store.get_action(1)
    assert action is not None and action.incident_id == incident_id
    await w.click("action_cancel", w.confirmation("C_ALERTS"), user="U1")
    events = await store.timeline(incident_id)
    assert any(e.kind == "action" and e.data.get("result") == "cancelled" for e in events)


async def test_an_action_whose_replica_died_mid_run_is_failed_visibly_by_the_lease_holder(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory()
    incident_id = await w.incident_channel(Severity.P1)
    await w.command("/restart", "records", channel="C_WAR")
    await w.settled()
    store = w.bot.app[STORE]
    # Another replica took the Confirm, stored its run as a job and died mid-run: the row
    # says running, and that replica's claim on the job is no longer renewed.
    assert await store.transition_action(
        1, [ActionState.PENDING], ActionState.RUNNING, approvals=["U1"]
    )
    assert await store.start_job(RUN_ACTION, "action:1", {"action_id": 1}, "replica-gone", 0.1)
    async with asyncio.timeout(20):
        while (action := await store.get_action(1)) and action.state == ActionState.RUNNING:
            await asyncio.sleep(0.05)
    assert action is not None and action.state == ActionState.FAILED
    assert action.result == INTERRUPTED, "failed, never run again unasked"
    await w.settled()
    shown = w.confirmation("C_WAR")
    assert shown.edits >= 1 and shown.text.startswith(":x:")
    events = await store.timeline(incident_id)
    assert [e.data.get("succeeded") for e in events if e.kind == "action"] == [False]
    writes = [r for r in w.kube.requests if r[0] in ("PATCH", "PUT", "POST")]
    assert not writes, "the restart was run again"


@pytest.mark.sqlite_only  # a running row with no job (older than jobs) is the SQLite start's
async def test_an_action_a_restart_left_running_is_failed_visibly(
    world_factory: Callable[..., Any],
    start_bot: BotFactory,
    platform_config: PlatformConfig,
) -> None:
    w: World = await world_factory()
    incident_id = await w.incident_channel(Severity.P1)
    await w.command("/restart", "records", channel="C_WAR")
    await w.settled()
    store = w.bot.app[STORE]
    # The bot stopped after taking the Confirm and before the result: the row says running.
    assert await store.transition_action(
        1, [ActionState.PENDING], ActionState.RUNNING, approvals=["U1"]
    )
    await stop_bot(w.bot)
    again = await start_bot(w.settings, platform_config, w.clock)
    store = again.app[STORE]
    async with asyncio.timeout(20):
        while True:
            action = await store.get_action(1)
            assert action is not None
            if action.state != ActionState.RUNNING:
                break
            await asyncio.sleep(0.05)
    assert action.state == ActionState.FAILED and action.result
    await settled(again)
    shown = w.confirmation("C_WAR")
    assert shown.edits >= 1 and shown.text.startswith(":x:")
    events = await store.timeline(incident_id)
    assert any(e.kind == "action" and e.data.get("succeeded") is False for e in events)
