"""Rollback, scale, restart and desktop rollback from Slack, against a fake Kubernetes API
(with a controller that really rolls ReplicaSets) and moto's S3/CloudFront."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import PlatformConfig
from bot.domain.clock import SystemClock
from bot.domain.incident import NewIncident, Severity
from bot.domain.rollout import HASH_LABEL, RollbackPatch, plan_rollback
from bot.integrations.kubernetes import Kubernetes
from bot.playbooks.loader import load_directory
from bot.playbooks.registry import STEP_KINDS
from bot.playbooks.service import Playbooks
from bot.slack.playbook_runs import PlaybookEnricher
from bot.web.keys import STORE
from tests.fakes.aws import (
    create_distribution,
    fake_aws_env,
    moto_server,
    read_object,
    seed_updates,
)
from tests.fakes.kube_api import FakeKubernetes, rolled_out
from tests.harness.commands import NS, ActionWorld, ActionWorlds

World = ActionWorld[SystemClock]


@pytest.fixture
def world_factory(action_world: ActionWorlds) -> Callable[..., Awaitable[World]]:
    async def make(operators: str = "U1,@sre", **extra: str) -> World:
        return await action_world(SystemClock(), operators=operators, env=extra)

    return make


def template_of(kube: FakeKubernetes, revision: int) -> dict[str, Any]:
    rs = next(
        r
        for r in kube.replicasets("records-service")
        if r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == str(revision)
    )
    template = rs["spec"]["template"]
    template["metadata"]["labels"].pop(HASH_LABEL, None)
    return dict(template)


async def test_rollback_to_the_previous_revision_after_confirmation(
    world_factory: Callable[..., Any],
    kube: FakeKubernetes,
) -> None:
    kube.set_image("records-service", "registry.local/records:1.1", change_cause="release 1.1")
    await rolled_out(kube, "records-service")
    w: World = await world_factory()
    revision_1 = template_of(kube, 1)
    answer = await w.command("/rollback", "records")
    assert answer.startswith("Posted for confirmation")
    await w.settled()
    message = w.confirmation()
    shown = repr(message.blocks)
    assert "revision 2: records-service=registry.local/records:1.1" in shown
    assert "revision 1: records-service=registry.local/records:1.0" in shown

    await w.click("action_confirm", message)
    final = await w.finished()
    assert "successfully rolled out" in repr(final.blocks)
    patches = [
        (path, body)
        for method, path, body in kube.requests
        if method == "PATCH" and "/deployments/records-service" in path
    ]
    assert "dryRun=All" in patches[0][0] and "dryRun" not in patches[1][0]
    assert patches[1][1][0]["path"] == "/spec/template"
    deployment = kube.deployment("records-service")
    assert deployment["spec"]["template"] == revision_1
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


async def test_history_and_rollback_to_a_given_revision(
    world_factory: Callable[..., Any],
    kube: FakeKubernetes,
) -> None:
    for version in ("1.1", "1.2"):
        kube.set_image(
            "records-service",
            f"registry.local/records:{version}",
            change_cause=f"release {version}",
        )
        await rolled_out(kube, "records-service")
    w: World = await world_factory()
    history = await w.command("/rollback", "records history")
    assert "* revision 3: records-service=registry.local/records:1.2 (release 1.2)" in history
    assert "  revision 1: records-service=registry.local/records:1.0 (release 1.0)" in history
    await w.command("/rollback", "records --to-revision 1")
    await w.settled()
    await w.click("action_confirm", w.confirmation())
    await w.finished()
    assert kube.deployment("records-service")["spec"]["template"] == template_of(kube, 4)
    images = kube.deployment("records-service")["spec"]["template"]["spec"]["containers"]
    assert images[0]["image"] == "registry.local/records:1.0"


async def test_paused_no_history_and_already_current_are_refused_without_a_change(
    world_factory: Callable[..., Any],
    kube: FakeKubernetes,
) -> None:
    w: World = await world_factory()
    assert "no rollout history found" in await w.command("/rollback", "records")
    kube.set_image("records-service", "registry.local/records:1.1")
    await rolled_out(kube, "records-service")
    assert "skipped rollback (current template already matches revision 2)" in (
        await w.command("/rollback", "records --to-revision 2")
    )
    kube.add_deployment("export-service", image="registry.local/export:2", paused=True)
    assert "paused" in await w.command("/rollback", "export")
    assert "unknown service `billing`; known services: records, ingestion" in (
        await w.command("/rollback", "billing")
    )
    assert not [r for r in kube.requests if r[0] == "PATCH"]


async def test_only_operators_may_act_and_refusals_are_recorded(
    world_factory: Callable[..., Any],
    kube: FakeKubernetes,
) -> None:
    kube.set_image("records-service", "registry.local/records:1.1")
    await rolled_out(kube, "records-service")
    w: World = await world_factory()
    incident = await w.bot.app[STORE].create_incident(
        NewIncident("Records 500s", Severity.P1, "U1", datetime.now(UTC))
    )
    await w.bot.app[STORE].update_incident(incident.id, channel_id="C_INCIDENTS")
    answer = await w.command("/rollback", "records", user="U6", channel="C_INCIDENTS")
    assert answer.startswith(":no_entry: Only operators may run this")
    events = await w.bot.app[STORE].timeline(incident.id)
    assert events[-1].kind == "action" and events[-1].actor == "U6"
    assert events[-1].data["result"] == "refused"

    await w.command("/rollback", "records", user="U5", channel="C_INCIDENTS")  # @sre member
    await w.settled()
    message = w.confirmation("C_INCIDENTS")
    assert (await w.click("action_confirm", message, user="U6") or "").startswith(":no_entry:")
    await w.click("action_confirm", message, user="U5")
    await w.finished("C_INCIDENTS")
    audit = [e for e in await w.bot.app[STORE].timeline(incident.id) if e.kind == "action"]
    done = audit[-1]
    assert done.data["succeeded"] is True and done.data["confirmed_by"] == ["U5"]
    assert "revision 2" in done.data["before"] and "revision 1" in done.data["after"]


async def test_without_any_operator_named_dangerous_actions_say_how_to_allow_them(
    world_factory: Callable[..., Any],
) -> None:
    w: World = await world_factory(operators="")
    answer = await w.command("/restart", "records")
    assert "INCIDENT_BOT_OPERATORS" in answer and "refused" in answer


async def test_scale_within_bounds_through_the_scale_subresource(
    world_factory: Callable[..., Any],
    kube: FakeKubernetes,
) -> None:
    w: World = await world_factory()
    assert "may run 1 to 20 replicas" in await w.command("/scale", "records 50")
    assert "Usage" in await w.command("/scale", "records lots")
    await w.command("/scale", "records 4")
    await w.settled()
    await w.click("action_confirm", w.confirmation())
    final = await w.finished()
    assert "successfully rolled out" in repr(final.blocks)
    scale = [p for m, p, _ in kube.requests if m == "PATCH" and p.split("?")[0].endswith("/scale")]
    assert len(scale) == 2 and "dryRun=All" in scale[0]
    assert kube.deployment("records-service")["spec"]["replicas"] == 4


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kubernetes"


async def test_scale_of_an_autoscaled_deployment_changes_the_autoscalers_bounds_instead(
    world_factory: Callable[..., Any],
    kube: FakeKubernetes,
) -> None:
    """Setting the replicas of a Deployment an HPA manages is undone at the HPA's next sync;
    the bot says so before anyone confirms and changes the HPA's bounds instead."""
    kube.load(json.loads((FIXTURES / "hpa-records-service.json").read_text()))  # 2 to 10
    w: World = await world_factory()
    answer = await w.command("/scale", "records 6")
    assert "scaled by HorizontalPodAutoscaler records-service" in answer
    await w.settled()
    message = w.confirmation()
    shown = repr(message.blocks)
    assert "2 replicas; HorizontalPodAutoscaler records-service: 2 to 10" in shown
    assert "HorizontalPodAutoscaler records-service: 6 to 10 (at least 6 replicas)" in shown
    assert "would be undone at the autoscaler" in shown and "back to 2 to 10" in shown

    await w.click("action_confirm", message)
    final = await w.finished()
    assert "successfully rolled out" in repr(final.blocks)
    hpa = kube.autoscaler("records-service")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (6, 10)
    await asyncio.sleep(0.5)  # ten passes of the autoscaler later, the six pods are still wanted
    assert kube.deployment("records-service")["spec"]["replicas"] == 6
    patches = [p for m, p, _ in kube.requests if m == "PATCH"]
    assert len(patches) == 2 and all("horizontalpodautoscalers" in p for p in patches)
    assert "dryRun=All" in patches[0] and "dryRun" not in patches[1]


async def test_after_an_undo_a_new_alert_thread_offers_to_undo_it(
    kube: FakeKubernetes, platform_config: PlatformConfig, tmp_path: Path
) -> None:
    """The rollback offer sees an undo as the recent change it is, though the ReplicaSet it
    brought back was created months ago, and offers the revision it replaced."""
    kube.load(json.loads((FIXTURES / "rollout-before-undo.json").read_text()))
    client = await Kubernetes.connect(str(kube.write_kubeconfig(tmp_path / "kubeconfig")))
    books = Playbooks(
        load_directory(platform_config.playbooks_dir, STEP_KINDS),
        STEP_KINDS,
        platform_config,
        SystemClock(),
        {"kubernetes": client},
    )
    enricher = PlaybookEnricher(books, platform_config, SystemClock(), client)
    try:
        assert await enricher.rollout_offers(("records",)) == []  # revision 3, days ago
        live = await client.deployment(NS, "records-service")
        undo = plan_rollback(live, await client.replicasets(NS, live))
        assert isinstance(undo, RollbackPatch)
        await client.patch_deployment(NS, "records-service", undo.ops, dry_run=False)
        await rolled_out(kube, "records-service")
        [(text, blocks)] = await enricher.rollout_offers(("records",))
    finally:
        await client.close()
    assert "*records* rolled out at " in text
    assert (
        "revision 3 (app=registry.factsway.example/records-service:2026.02.0) → revision 4" in text
    )
    assert "the template of revision 2 again" in text
    assert "Change-cause: release 2025.11.2" in text
    button = next(e for b in blocks if b["type"] == "actions" for e in b["elements"])
    assert button["text"]["text"] == "Roll back to revision 3"


async def test_scale_down_of_an_autoscaled_deployment_caps_the_autoscaler(
    world_factory: Callable[..., Any],
    kube: FakeKubernetes,
) -> None:
    kube.add_autoscaler("records-service", min_replicas=2, max_replicas=10, recommends=5)
    w: World = await world_factory()
    await w.command("/scale", "records 3")
    await w.settled()
    assert "HorizontalPodAutoscaler records-service: 2 to 3 (at most 3 replicas)" in repr(
        w.confirmation().blocks
    )
    await w.click("action_confirm", w.confirmation())
    await w.finished()
    await asyncio.sleep(0.5)
    assert kube.deployment("records-service")["spec"]["replicas"] == 3


async def test_restart_sets_the_restarted_at_annotation_and_rolls(
    world_factory: Callable[..., Any],
    kube: FakeKubernetes,
) -> None:
    w: World = await world_factory()
    await w.command("/restart", "records")
    await w.settled()
    await w.click("action_confirm", w.confirmation())
    await w.finished()
    annotations = kube.deployment("records-service")["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    assert len(kube.replicasets("records-service")) == 2


async def test_a_p0_rollback_needs_two_different_operators(
    world_factory: Callable[..., Any],
    kube: FakeKubernetes,
) -> None:
    kube.set_image("records-service", "registry.local/records:1.1")
    await rolled_out(kube, "records-service")
    w: World = await world_factory()
    incident = await w.bot.app[STORE].create_incident(
        NewIncident("Everything down", Severity.P0, "U1", datetime.now(UTC))
    )
    await w.bot.app[STORE].update_incident(incident.id, channel_id="C_INCIDENTS")
    await w.command("/rollback", "records", channel="C_INCIDENTS")
    await w.settled()
    message = w.confirmation("C_INCIDENTS")
    assert "2 more operators must confirm" in repr(message.blocks)
    await w.click("action_confirm", message, user="U1")
    await w.settled()
    assert "Waiting for a second operator" in repr(w.confirmation("C_INCIDENTS").blocks)
    again = await w.click("action_confirm", w.confirmation("C_INCIDENTS"), user="U1")
    assert again is not None and "another operator" in again
    assert not [r for r in kube.requests if r[0] == "PATCH"]
    await w.click("action_confirm", w.confirmation("C_INCIDENTS"), user="U5")
    final = await w.finished("C_INCIDENTS")
    assert "Confirmed by <@U1>, <@U5>" in repr(final.blocks)


async def test_cancel_leaves_the_platform_alone(
    world_factory: Callable[..., Any],
    kube: FakeKubernetes,
) -> None:
    w: World = await world_factory()
    await w.command("/restart", "records")
    await w.settled()
    await w.click("action_cancel", w.confirmation())
    await w.settled()
    assert w.confirmation().text.startswith(":no_entry_sign:")
    assert not [r for r in kube.requests if r[0] == "PATCH"]


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    fake_aws_env(monkeypatch)
    with moto_server() as url:
        yield url


async def test_desktop_rollback_copies_the_release_and_invalidates_the_cdn(
    world_factory: Callable[..., Any],
    moto: str,
) -> None:
    await seed_updates(moto, "factsway-updates")
    distribution = await create_distribution(moto, "factsway-updates")
    w: World = await world_factory(
        AWS_ENDPOINT_URL=moto,
        UPDATES_BUCKET="factsway-updates",
        UPDATES_DISTRIBUTION_ID=distribution,
    )
    assert "1.2.3" in await w.command("/rollback", "desktop 9.9.9")
    await w.command("/rollback", "desktop 1.2.2")
    await w.settled()
    message = w.confirmation()
    assert "latest.yml: 1.2.3" in repr(message.blocks)
    await w.click("action_confirm", message)
    final = await w.finished()
    assert "CloudFront invalidation" in repr(final.blocks)
    body, _ = await read_object(moto, "factsway-updates", "latest.yml")
    assert body.startswith(b"version: 1.2.2")
