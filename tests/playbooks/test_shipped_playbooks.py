"""Every shipped playbook runs end to end against the fakes and a real PostgreSQL: each step
ends as ok or a found problem, never failed, timed out or skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import PlatformConfig
from bot.domain.clock import SystemClock
from bot.integrations.health import HealthChecker
from bot.integrations.kubernetes import Kubernetes
from bot.integrations.postgres import PlatformDatabase
from bot.integrations.prometheus import PrometheusQueries
from bot.integrations.sentry_issues import SentryIssues
from bot.playbooks.loader import load_directory
from bot.playbooks.registry import STEP_KINDS
from bot.playbooks.service import Playbooks, Run
from tests.fakes.health import HealthServer
from tests.fakes.kube_api import FakeKubernetes
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.sentry import SENTRY_TOKEN, FakeSentry
from tests.harness.postgres import ThrowawayPostgres

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
NAMES = sorted(load_directory(PLAYBOOKS, STEP_KINDS).playbooks)


@pytest.fixture
async def kube(tmp_path: Path) -> AsyncIterator[Kubernetes]:
    async with FakeKubernetes(namespace="factsway-prod", metrics_server=True) as fake:
        for service in ("records", "export"):
            fake.add_deployment(f"{service}-service", image=f"registry.local/{service}:1.0")
        client = await Kubernetes.connect(str(fake.write_kubeconfig(tmp_path / "kubeconfig")))
        yield client
        await client.close()


@pytest.mark.parametrize("name", NAMES)
async def test_shipped_playbook_runs_every_step(
    name: str,
    kube: Kubernetes,
    postgres: ThrowawayPostgres,
    fake_prometheus: tuple[FakePrometheus, str],
    fake_sentry: tuple[FakeSentry, str],
    health_config: tuple[PlatformConfig, HealthServer],
) -> None:
    config, _ = health_config
    config = config.model_copy(update={"playbooks_dir": PLAYBOOKS})
    integrations = {
        "kubernetes": kube,
        "postgres": PlatformDatabase(postgres.dsn),
        "prometheus": PrometheusQueries(fake_prometheus[1] + "/"),
        "sentry": SentryIssues(fake_sentry[1], SENTRY_TOKEN, "acme", ["factsway-api"]),
        "http": HealthChecker(),
    }
    books = Playbooks(
        load_directory(PLAYBOOKS, STEP_KINDS), STEP_KINDS, config, SystemClock(), integrations
    )
    service = "export" if name == "export-failures" else "records"
    outcome = await books.run(name, service)
    assert isinstance(outcome, Run)
    outcomes = {r.title: r.outcome for r in outcome.results}
    assert set(outcomes.values()) <= {"ok", "problem"}, outcomes
