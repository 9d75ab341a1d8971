"""The Kubernetes steps through the real kubernetes_asyncio client against the fake API: pods as
`kubectl get pods` reads them (init containers, native sidecars), and recent rollouts dated as
the deployment controller dates them (an undo reuses a months-old ReplicaSet)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import PlatformConfig
from bot.domain.clock import SystemClock
from bot.domain.report import plain_text
from bot.domain.rollout import RollbackPatch, plan_rollback
from bot.integrations.kubernetes import Kubernetes
from bot.playbooks.model import StepContext
from bot.playbooks.steps import kubernetes as k8s
from tests.fakes.kube_api import FakeKubernetes, rolled_out

NS = "factsway-prod"
NAME = "records-service"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kubernetes"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


@pytest.fixture
async def fake() -> AsyncIterator[FakeKubernetes]:
    async with FakeKubernetes(namespace=NS) as kube:
        yield kube


@pytest.fixture
async def client(fake: FakeKubernetes, tmp_path: Path) -> AsyncIterator[Kubernetes]:
    kube = await Kubernetes.connect(str(fake.write_kubeconfig(tmp_path / "kubeconfig")))
    yield kube
    await kube.close()


def context(config: PlatformConfig, kube: Kubernetes) -> StepContext:
    # The fake's controllers stamp objects with the wall clock, so the steps read it too.
    return StepContext(config, SystemClock(), config.service("records"), {"kubernetes": kube})


async def test_a_crash_looping_init_container_reads_as_kubectl_get_pods_shows_it(
    fake: FakeKubernetes, client: Kubernetes, platform_config: PlatformConfig
) -> None:
    fake.add_deployment(NAME, image="registry.local/records:1.0", init_containers=("migrate",))
    fake.crash_pods(NAME, reason="Error", restarts=3, container="migrate")

    output = await k8s.pods(context(platform_config, client), k8s.NoParams())

    text = plain_text(output.lines)
    assert not output.healthy
    assert text.count("Init:CrashLoopBackOff, 0/1 ready, 3 restarts (last ") == 2, text
    assert "Pending" not in text  # what the step said before: "Pending 0/1 ready, 0 restarts"
    assert "init container migrate: back-off 40s restarting failed container=migrate" in text
    assert "last ended: Error (exit code 1)" in text


async def test_native_sidecars_count_in_ready_as_kubectl_counts_them(
    fake: FakeKubernetes, client: Kubernetes, platform_config: PlatformConfig
) -> None:
    fake.add_deployment(
        NAME,
        image="registry.local/records:1.0",
        replicas=1,
        init_containers=("wait-for-db",),
        sidecars=("istio-proxy",),
    )

    output = await k8s.pods(context(platform_config, client), k8s.NoParams())

    assert output.healthy
    assert "Running, 2/2 ready, 0 restarts," in plain_text(output.lines)


async def test_a_crash_looping_sidecar_holds_the_pod_in_init(
    fake: FakeKubernetes, client: Kubernetes, platform_config: PlatformConfig
) -> None:
    fake.add_deployment(
        NAME, image="registry.local/records:1.0", replicas=1, sidecars=("istio-proxy",)
    )
    fake.crash_pods(NAME, reason="Error", restarts=4, container="istio-proxy")

    output = await k8s.pods(context(platform_config, client), k8s.NoParams())

    text = plain_text(output.lines)
    assert "Init:CrashLoopBackOff, 0/2 ready, 4 restarts" in text
    assert "back-off 1m20s" in text


async def test_after_an_undo_recent_rollouts_reports_the_reused_replicaset_as_just_rolled_out(
    fake: FakeKubernetes, client: Kubernetes, platform_config: PlatformConfig
) -> None:
    """`rollout undo` brings back revision 2's ReplicaSet, created months before: the step dates
    the change from when the controller made it current, not from the ReplicaSet's birth."""
    fake.load(fixture("rollout-before-undo.json"))
    ctx = context(platform_config, client)
    params = k8s.RolloutsParams(hours=2)
    assert "No rollouts in the last 2 hours" in plain_text(
        (await k8s.recent_rollouts(ctx, params)).lines
    )

    live = await client.deployment(NS, NAME)
    undo = plan_rollback(live, await client.replicasets(NS, live))
    assert isinstance(undo, RollbackPatch)
    await client.patch_deployment(NS, NAME, undo.ops, dry_run=False)
    await rolled_out(fake, NAME)
    output = await k8s.recent_rollouts(ctx, params)

    text = plain_text(output.lines)
    assert "records revision 4, the template of revision 2 again at " in text
    ago = re.search(r"UTC \((\d+)s ago\)", text)
    assert ago is not None and int(ago.group(1)) < 60, text
    assert "registry.factsway.example/records-service:2026.02.0 →" in text
    assert not output.healthy
