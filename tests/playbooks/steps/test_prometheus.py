"""The prometheus.query step and the Prometheus client against a local server speaking its API."""

from __future__ import annotations

import math
import secrets
import time
from typing import Any

import pytest
from aiohttp import web

from bot.config import PlatformConfig
from bot.integrations.prometheus import PRESETS, PrometheusError, PrometheusQueries
from bot.playbooks.registry import STEP_KINDS
from bot.playbooks.steps import prometheus
from bot.slack.report import mrkdwn
from tests.fakes.http import closed_port, serve
from tests.fakes.prometheus import FakePrometheus
from tests.harness.playbooks import context

KINDS = STEP_KINDS


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
