"""PostgreSQL, Prometheus, HTTP health and Sentry steps, run against real components.

PostgreSQL is the throwaway server. Prometheus, the health endpoints and Sentry are local
HTTP servers speaking their real wire formats, reached by the real clients
(prometheus-api-client over requests, aiohttp); nothing in a library is patched.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from typing import Any

import pytest
from aiohttp import web
from pydantic import BaseModel

from bot.config import PlatformConfig
from bot.domain.clock import ManualClock
from bot.integrations.health import HealthChecker
from bot.integrations.postgres import PlatformDatabase
from bot.integrations.prometheus import PRESETS, PrometheusError, PrometheusQueries
from bot.integrations.sentry_issues import SentryIssues, SentryIssuesError
from bot.playbooks.model import (
    Playbook,
    PlaybookSpec,
    StepContext,
    StepOutput,
    StepSpec,
    StepUnavailable,
)
from bot.playbooks.registry import STEP_KINDS
from bot.playbooks.runner import run_playbook
from bot.playbooks.steps import http, prometheus, sentry
from bot.playbooks.steps import postgres as pg_steps
from bot.slack.report import mrkdwn
from tests.fakes.health import HealthServer
from tests.fakes.http import closed_port, serve
from tests.fakes.prometheus import FakePrometheus
from tests.fakes.sentry import SENTRY_TOKEN, FakeSentry
from tests.harness.postgres import ThrowawayPostgres

KINDS = STEP_KINDS


def context(
    config: PlatformConfig, service: str | None = "records", **integrations: Any
) -> StepContext:
    return StepContext(
        config=config,
        clock=ManualClock(),
        service=config.service(service) if service else None,
        integrations=integrations,
    )


# -- health endpoints ----------------------------------------------------------------------


async def test_health_of_the_service(health_config: tuple[PlatformConfig, HealthServer]) -> None:
    config, server = health_config
    ctx = context(config, "records", http=HealthChecker(timeout=2))

    output = await http.health(ctx, http.HealthParams())

    assert output.healthy
    assert mrkdwn(output.lines).startswith(":white_check_mark: *records* HTTP 200 in ")
    # Every placeholder of the template was filled from the service and the config.
    assert server.seen == [
        {
            "name": "records",
            "deployment": "records-service",
            "namespace": "factsway-prod",
            "port": "3001",
        }
    ]


async def test_health_of_a_failing_service_shows_its_body(
    health_config: tuple[PlatformConfig, HealthServer],
) -> None:
    config, _ = health_config
    ctx = context(config, "ingestion", http=HealthChecker(timeout=2))

    output = await http.health(ctx, http.HealthParams())

    assert not output.healthy
    assert mrkdwn(output.lines).startswith(":x: *ingestion* HTTP 503: ")
    assert "connection refused" in mrkdwn(output.lines)


async def test_health_of_all_services_checked_side_by_side(
    health_config: tuple[PlatformConfig, HealthServer],
) -> None:
    config, server = health_config
    ctx = context(config, None, http=HealthChecker(timeout=0.5))
    started = time.monotonic()

    output = await http.health(ctx, http.HealthParams(all_services=True))

    # Eight services, one of which never answers: bounded by one timeout, not eight.
    assert time.monotonic() - started < 2
    assert not output.healthy
    lines = mrkdwn(output.lines).splitlines()
    assert lines[0] == ":x: 2 of 8 services fail their health check:"
    assert lines[1].startswith(":x: *ingestion* HTTP 503")
    assert lines[2].startswith(":x: *export* no answer within 0.5 s")
    assert len(lines) == 3
    details = output.details.splitlines()
    assert len(details) == 8
    assert sum(line.startswith("ok ") for line in details) == 6
    assert {s["name"] for s in server.seen} == {s.name for s in config.services}


async def test_health_check_of_a_closed_port() -> None:
    url = f"http://127.0.0.1:{closed_port()}/health"

    result = await HealthChecker(timeout=2).check(url)

    assert (result.url, result.status, result.ok) == (url, None, False)
    assert result.detail.startswith("ClientConnectorError")
    assert "\n" not in result.detail
    assert result.latency_ms < 2000


# -- Prometheus ----------------------------------------------------------------------------


async def run_query(config: PlatformConfig, url: str, preset: str, service: str = "records") -> Any:
    ctx = context(config, service, prometheus=PrometheusQueries(url + "/"))
    return await prometheus.query(ctx, prometheus.QueryParams.model_validate({"preset": preset}))


async def test_error_rate_is_one_aggregated_ratio_over_the_p1_threshold(
    platform_config: PlatformConfig, fake_prometheus: tuple[FakePrometheus, str]
) -> None:
    fake, url = fake_prometheus

    output = await run_query(platform_config, url, "error_rate")

    assert fake.queries == [
        'sum(rate(http_requests_total{job="records-service",status=~"5.."}[5m]))'
        ' / sum(rate(http_requests_total{job="records-service"}[5m]))'
    ]
    # Prometheus is told to give up no later than the client does.
    assert fake.params[0]["timeout"] == "10s"
    assert not output.healthy
    assert mrkdwn(output.lines) == (
        ":x: *records* 5xx error rate (5 min): *7.00%*, over the runbook's 5% P1 threshold"
    )
    assert output.details == "PromQL: " + fake.queries[0]


async def test_error_rate_under_the_threshold(
    platform_config: PlatformConfig, fake_prometheus: tuple[FakePrometheus, str]
) -> None:
    fake, url = fake_prometheus
    fake.values["error_rate"] = "0.012"

    output = await run_query(platform_config, url, "error_rate", "caselaw")

    assert output.healthy
    assert mrkdwn(output.lines) == ":white_check_mark: *caselaw* 5xx error rate (5 min): *1.20%*"
    assert 'job="caselaw-service"' in fake.queries[0]


@pytest.mark.parametrize(
    ("value", "healthy", "shown"),
    [("0.25", True, "*250 ms*"), ("1.5", False, "*1,500 ms*, over 1 s")],
)
async def test_p95_latency_in_milliseconds(
    platform_config: PlatformConfig,
    fake_prometheus: tuple[FakePrometheus, str],
    value: str,
    healthy: bool,
    shown: str,
) -> None:
    fake, url = fake_prometheus
    fake.values["p95_latency"] = value

    output = await run_query(platform_config, url, "p95_latency")

    assert fake.queries == [
        "histogram_quantile(0.95, sum by (le)"
        ' (rate(http_request_duration_seconds_bucket{job="records-service"}[5m])))'
    ]
    assert output.healthy is healthy
    assert mrkdwn(output.lines).endswith(f"*records* p95 latency (5 min): {shown}")


async def test_request_rate(
    platform_config: PlatformConfig, fake_prometheus: tuple[FakePrometheus, str]
) -> None:
    fake, url = fake_prometheus

    output = await run_query(platform_config, url, "request_rate")

    assert fake.queries == ['sum(rate(http_requests_total{job="records-service"}[5m]))']
    assert output.healthy
    assert mrkdwn(output.lines).endswith("request rate (5 min): *12.50 req/s*")


async def test_no_traffic_and_no_series_are_said_plainly(
    platform_config: PlatformConfig, fake_prometheus: tuple[FakePrometheus, str]
) -> None:
    fake, url = fake_prometheus
    fake.values["error_rate"] = "NaN"  # 0/0: no requests in the window

    no_traffic = await run_query(platform_config, url, "error_rate")
    fake.empty = True
    no_series = await run_query(platform_config, url, "error_rate")

    assert no_traffic.healthy
    assert (
        mrkdwn(no_traffic.lines)
        == "*records* 5xx error rate (5 min): no requests in the last 5 minutes."
    )
    assert no_series.healthy
    assert 'no series for `job="records-service"`' in mrkdwn(no_series.lines)


async def test_prometheus_errors_are_one_line(
    fake_prometheus: tuple[FakePrometheus, str],
) -> None:
    fake, url = fake_prometheus
    fake.error = (400, "bad_data", '1:14: parse error: unexpected "}" in label matching')

    with pytest.raises(PrometheusError) as bad:
        await PrometheusQueries(url).instant("sum(rate(x{]))")

    assert str(bad.value) == (
        f"Prometheus at {url.removeprefix('http://')}: HTTP 400: bad_data:"
        ' 1:14: parse error: unexpected "}" in label matching'
    )
    # Not retried: a query that failed (or was slow) is not run again behind the step's back.
    assert len(fake.queries) == 1


async def test_prometheus_down_is_one_line_without_credentials() -> None:
    password = secrets.token_hex(8)
    port = closed_port()
    started = time.monotonic()

    with pytest.raises(PrometheusError) as down:
        await PrometheusQueries(f"http://admin:{password}@127.0.0.1:{port}").instant("up")

    message = str(down.value)
    assert message == (
        f"Prometheus at 127.0.0.1:{port}: cannot connect (ConnectionError):"
        " [Errno 111] Connection refused"
    )
    assert "\n" not in message
    assert password not in message
    assert time.monotonic() - started < 5


async def test_a_url_that_is_not_prometheus() -> None:
    async def login_page(request: web.Request) -> web.Response:
        return web.Response(text="<html>Sign in</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/api/v1/query", login_page)
    async with serve(app) as url:
        with pytest.raises(PrometheusError) as wrong:
            await PrometheusQueries(url).instant("up")

    assert str(wrong.value).endswith(": unexpected answer: not JSON (is this the Prometheus URL?)")


async def test_instant_returns_labels_and_values(
    fake_prometheus: tuple[FakePrometheus, str],
) -> None:
    fake, url = fake_prometheus
    fake.values["request_rate"] = "+Inf"

    samples = await PrometheusQueries(url).instant("sum(rate(http_requests_total[5m]))")

    assert len(samples) == 1
    labels, value = samples[0]
    assert labels == {} and math.isinf(value)
    assert set(PRESETS) == {"error_rate", "p95_latency", "request_rate"}


# -- Sentry --------------------------------------------------------------------------------


async def test_new_sentry_issues_across_projects(
    platform_config: PlatformConfig, fake_sentry: tuple[FakeSentry, str]
) -> None:
    fake, url = fake_sentry
    client = SentryIssues(url + "/", SENTRY_TOKEN, "acme", ["factsway-api", "factsway-web"])
    ctx = context(platform_config, None, sentry=client)

    output = await sentry.issues(ctx, sentry.IssuesParams())

    assert sorted(fake.requests) == [
        (
            f"acme/{project}",
            {"query": "is:unresolved firstSeen:-2h", "sort": "date", "statsPeriod": ""},
            f"Bearer {SENTRY_TOKEN}",
        )
        for project in ("factsway-api", "factsway-web")
    ]
    assert not output.healthy
    lines = mrkdwn(output.lines).splitlines()
    assert lines[0] == "3 new unresolved issues in the last 2 hours (2 errors or fatal):"
    # Newest first across projects, with the title escaped so it cannot forge a link.
    assert lines[1] == (
        ":red_circle: <https://acme.sentry.io/issues/4003/|FACTSWAY-WEB-3> TypeError: cannot read"
        " 'caseId' of undefined &lt;3&gt; in `app/routes/records.ts in getRecord`: 12 events,"
        " 7 users, first seen 11:50 UTC"
    )
    assert lines[2].startswith(":red_circle: <https://acme.sentry.io/issues/4002/|FACTSWAY-API-2>")
    assert "1,532 events" in lines[2]
    assert lines[3].startswith(":warning: <https://acme.sentry.io/issues/4001/|FACTSWAY-API-1>")
    assert len(output.details.splitlines()) == 3


async def test_sentry_window_in_minutes_and_only_warnings_are_healthy(
    platform_config: PlatformConfig, fake_sentry: tuple[FakeSentry, str]
) -> None:
    fake, url = fake_sentry
    fake.issues["factsway-api"] = fake.issues["factsway-api"][1:]  # the warning only
    ctx = context(
        platform_config, None, sentry=SentryIssues(url, SENTRY_TOKEN, "acme", ["factsway-api"])
    )

    output = await sentry.issues(ctx, sentry.IssuesParams(hours=1.5))

    assert fake.requests[0][1]["query"] == "is:unresolved firstSeen:-90m"
    assert output.healthy
    assert mrkdwn(output.lines).startswith("1 new unresolved issue in the last 1.5 hours (0 errors")


async def test_no_new_sentry_issues(
    platform_config: PlatformConfig, fake_sentry: tuple[FakeSentry, str]
) -> None:
    fake, url = fake_sentry
    fake.issues["factsway-api"] = []
    ctx = context(
        platform_config, None, sentry=SentryIssues(url, SENTRY_TOKEN, "acme", ["factsway-api"])
    )

    output = await sentry.issues(ctx, sentry.IssuesParams())

    assert output == StepOutput.of("No new unresolved Sentry issues in the last 2 hours.")


async def test_sentry_errors_are_one_line_without_the_token(
    fake_sentry: tuple[FakeSentry, str],
) -> None:
    _, url = fake_sentry
    wrong = "sntrys_" + secrets.token_hex(16)

    with pytest.raises(SentryIssuesError) as refused:
        await SentryIssues(url, wrong, "acme", ["factsway-api"]).new_issues()
    with pytest.raises(SentryIssuesError) as missing:
        await SentryIssues(url, SENTRY_TOKEN, "acme", ["nope"]).new_issues()
    with pytest.raises(SentryIssuesError) as down:
        await SentryIssues(
            f"http://127.0.0.1:{closed_port()}", SENTRY_TOKEN, "acme", ["factsway-api"]
        ).new_issues()

    assert str(refused.value) == "Sentry answered HTTP 401 for acme/factsway-api: Invalid token"
    assert str(missing.value) == (
        "Sentry answered HTTP 404 for acme/nope: The requested resource does not exist"
    )
    assert str(down.value).startswith("cannot list Sentry issues of acme/factsway-api:")
    for error in (refused, missing, down):
        assert "\n" not in str(error.value)
        assert wrong not in str(error.value) and SENTRY_TOKEN not in str(error.value)


# -- PostgreSQL ----------------------------------------------------------------------------


async def test_postgres_steps_on_a_healthy_database(
    platform_config: PlatformConfig, postgres: ThrowawayPostgres
) -> None:
    ctx = context(platform_config, None, postgres=PlatformDatabase(postgres.dsn))

    connected = await pg_steps.connectivity(ctx, pg_steps.NoParams())
    active = await pg_steps.activity(ctx, pg_steps.NoParams())
    slow = await pg_steps.slow_queries(ctx, pg_steps.SlowQueriesParams(limit=3))

    assert connected.healthy
    assert mrkdwn(connected.lines).startswith(":white_check_mark: Connected to PostgreSQL 15.")
    assert " of 97 usable (" in mrkdwn(connected.lines)  # max_connections 100, 3 reserved
    assert active.healthy
    assert mrkdwn(active.lines).startswith("Connections: ")
    assert "No session is waiting on a lock." in mrkdwn(active.lines)
    assert mrkdwn(slow.lines).startswith("Top 3 statements by total execution time:")
    header, *rows = slow.details.splitlines()
    assert header.split() == ["total", "ms", "calls", "mean", "ms", "rows", "query"]
    assert len(rows) == 3


async def test_activity_step_flags_a_lock_waiter(
    platform_config: PlatformConfig, postgres: ThrowawayPostgres
) -> None:
    import asyncpg

    table = f"step_lock_{secrets.token_hex(4)}"
    postgres.psql(f"CREATE TABLE {table} (id int)")
    holder, waiter = await asyncpg.connect(postgres.dsn), await asyncpg.connect(postgres.dsn)
    holder_pid = holder.get_server_pid()
    ctx = context(platform_config, None, postgres=PlatformDatabase(postgres.dsn))
    try:
        await waiter.execute("SET statement_timeout = '20s'")
        tx = holder.transaction()
        await tx.start()
        await holder.execute(f"LOCK TABLE {table}")
        blocked = asyncio.create_task(waiter.fetchval(f"SELECT count(*) FROM {table}"))
        deadline = time.monotonic() + 10
        while True:
            output = await pg_steps.activity(ctx, pg_steps.NoParams())
            if not output.healthy:
                break
            assert time.monotonic() < deadline, output
            await asyncio.sleep(0.1)
        await tx.rollback()
        await blocked
    finally:
        holder.terminate()
        waiter.terminate()
        postgres.psql(f"DROP TABLE {table}")

    assert ":lock: 1 session waiting on locks" in mrkdwn(output.lines)
    assert f"blocked by pid {holder_pid}: `SELECT count(*) FROM {table}`" in (mrkdwn(output.lines))
    assert "wait=Lock/relation" in output.details


async def test_slow_queries_step_says_how_to_enable_pg_stat_statements(
    platform_config: PlatformConfig, postgres: ThrowawayPostgres
) -> None:
    database = f"bare_{secrets.token_hex(4)}"
    postgres.psql(f"CREATE DATABASE {database}")
    try:
        dsn = f"postgresql://postgres@127.0.0.1:{postgres.port}/{database}"
        ctx = context(platform_config, None, postgres=PlatformDatabase(dsn))
        output = await pg_steps.slow_queries(ctx, pg_steps.SlowQueriesParams())
    finally:
        postgres.psql(f"DROP DATABASE {database} WITH (FORCE)")

    assert output.healthy
    assert "pg_stat_statements is not available" in mrkdwn(output.lines)
    assert "add pg_stat_statements to shared_preload_libraries" in mrkdwn(output.lines)
    assert "`CREATE EXTENSION pg_stat_statements;`" in mrkdwn(output.lines)


async def test_connectivity_step_reports_an_unreachable_database(
    platform_config: PlatformConfig,
) -> None:
    password = secrets.token_hex(10)
    port = closed_port()
    dsn = f"postgresql://incident_bot:{password}@127.0.0.1:{port}/factsway"
    ctx = context(platform_config, None, postgres=PlatformDatabase(dsn, connect_timeout=2))

    output = await pg_steps.connectivity(ctx, pg_steps.NoParams())

    assert not output.healthy
    assert mrkdwn(output.lines).startswith(
        f":x: Cannot reach PostgreSQL: cannot connect to 127.0.0.1:{port}/factsway: "
    )
    assert password not in mrkdwn(output.lines)


def test_slow_queries_limit_is_bounded() -> None:
    assert pg_steps.SlowQueriesParams().limit == 10
    for bad in ({"limit": 0}, {"limit": 51}, {"limit": 5, "sql": "SELECT 1"}):
        with pytest.raises(ValueError):
            pg_steps.SlowQueriesParams.model_validate(bad)


# -- through the runner --------------------------------------------------------------------


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
