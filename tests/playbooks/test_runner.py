"""The runner: missing integrations skipped, a failure or timeout kept to its step;
output scrubbed."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from bot.config import PlatformConfig
from bot.integrations.health import HealthChecker
from bot.integrations.postgres import PlatformDatabase
from bot.integrations.prometheus import PrometheusQueries
from bot.integrations.sentry_issues import SentryIssues
from bot.playbooks.model import (
    Playbook,
    PlaybookSpec,
    StepSpec,
    StepUnavailable,
)
from bot.playbooks.registry import STEP_KINDS
from bot.playbooks.runner import run_playbook
from bot.playbooks.steps import http, prometheus, sentry
from bot.playbooks.steps import postgres as pg_steps
from bot.slack.report import mrkdwn
from tests.fakes.health import HealthServer
from tests.fakes.http import closed_port
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.sentry import SENTRY_TOKEN, FakeSentry
from tests.harness.playbooks import context
from tests.harness.postgres import ThrowawayPostgres

KINDS = STEP_KINDS


def playbook(*steps: tuple[str, BaseModel]) -> Playbook:
    spec = PlaybookSpec(
        name="t",
        description="t",
        steps=[StepSpec(kind=kind, timeout=15) for kind, _ in steps],
    )
    return Playbook(spec=spec, source="t.yaml", params=tuple(params for _, params in steps))


ALL_STEPS = (
    ("pg.connectivity", pg_steps.NoParams()),
    ("pg.activity", pg_steps.NoParams()),
    ("pg.slow_queries", pg_steps.SlowQueriesParams()),
    ("prometheus.query", prometheus.QueryParams(preset="error_rate")),
    ("http.health", http.HealthParams()),
    ("sentry.issues", sentry.IssuesParams()),
)


async def test_missing_integrations_are_skipped_not_failed(platform_config: PlatformConfig) -> None:
    results = await run_playbook(playbook(*ALL_STEPS), context(platform_config), KINDS)

    assert [(r.kind, r.outcome, mrkdwn(r.lines)) for r in results] == [
        (
            "pg.connectivity",
            "unavailable",
            "Skipped: postgres is not configured (PLATFORM_DATABASE_URL)",
        ),
        (
            "pg.activity",
            "unavailable",
            "Skipped: postgres is not configured (PLATFORM_DATABASE_URL)",
        ),
        (
            "pg.slow_queries",
            "unavailable",
            "Skipped: postgres is not configured (PLATFORM_DATABASE_URL)",
        ),
        (
            "prometheus.query",
            "unavailable",
            "Skipped: prometheus is not configured (PROMETHEUS_URL)",
        ),
        ("http.health", "unavailable", "Skipped: http is not configured (always available)"),
        (
            "sentry.issues",
            "unavailable",
            "Skipped: sentry is not configured (SENTRY_API_TOKEN, SENTRY_ORG, SENTRY_PROJECTS)",
        ),
    ]


async def test_service_steps_without_a_service_are_skipped(
    platform_config: PlatformConfig, fake_prometheus: tuple[FakePrometheus, str]
) -> None:
    _, url = fake_prometheus
    ctx = context(platform_config, None, prometheus=PrometheusQueries(url), http=HealthChecker())

    results = await run_playbook(playbook(*ALL_STEPS[3:5]), ctx, KINDS)

    assert {r.outcome for r in results} == {"unavailable"}
    assert all(
        mrkdwn(r.lines).startswith("Skipped: this step needs a service; known services: records,")
        for r in results
    )
    with pytest.raises(StepUnavailable):
        await prometheus.query(ctx, prometheus.QueryParams(preset="request_rate"))


async def test_runner_outcomes_with_everything_configured(
    platform_config: PlatformConfig,
    postgres: ThrowawayPostgres,
    fake_prometheus: tuple[FakePrometheus, str],
    fake_sentry: tuple[FakeSentry, str],
    health_config: tuple[PlatformConfig, HealthServer],
) -> None:
    config, _ = health_config
    ctx = context(
        config,
        "ingestion",  # its health endpoint answers 503
        postgres=PlatformDatabase(postgres.dsn),
        prometheus=PrometheusQueries(fake_prometheus[1]),
        http=HealthChecker(timeout=2),
        sentry=SentryIssues(fake_sentry[1], SENTRY_TOKEN, "acme", ["factsway-api"]),
    )

    results = await run_playbook(playbook(*ALL_STEPS), ctx, KINDS, secrets=[SENTRY_TOKEN])

    outcomes = {r.kind: r.outcome for r in results}
    assert outcomes == {
        "pg.connectivity": "ok",
        "pg.activity": "ok",
        "pg.slow_queries": "ok",
        "prometheus.query": "problem",  # 7% errors
        "http.health": "problem",
        "sentry.issues": "problem",  # a new error-level issue
    }
    assert all(SENTRY_TOKEN not in mrkdwn(r.lines) + r.details for r in results)


async def test_a_broken_integration_fails_its_step_alone(platform_config: PlatformConfig) -> None:
    ctx = context(
        platform_config,
        prometheus=PrometheusQueries(f"http://127.0.0.1:{closed_port()}"),
        http=HealthChecker(timeout=2),
    )

    results = await run_playbook(playbook(*ALL_STEPS[3:5]), ctx, KINDS)

    assert [r.outcome for r in results] == ["failed", "problem"]
    assert mrkdwn(results[0].lines).startswith("Failed: PrometheusError: Prometheus at 127.0.0.1:")
