"""Prometheus steps: the runbook's preset queries (error rate, p95 latency, request rate).

A service is selected by its deployment name as the Prometheus ``job`` label (see
``bot.integrations.prometheus``). Thresholds are the runbook's: an error rate over 5% is P1.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.domain.report import Code, Mark, Strong, line
from bot.integrations.prometheus import PrometheusQueries, is_number, preset_query
from bot.playbooks.model import StepContext, StepOutput

ERROR_RATE_LIMIT = 0.05  # the runbook's P1 threshold
P95_LIMIT_SECONDS = 1.0

Preset = Literal["error_rate", "p95_latency", "request_rate"]
DESCRIPTIONS: dict[str, str] = {
    "error_rate": "5xx error rate (5 min)",
    "p95_latency": "p95 latency (5 min)",
    "request_rate": "request rate (5 min)",
}


class QueryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: Preset


def _format(preset: str, value: float) -> str:
    if preset == "error_rate":
        return f"{value:.2%}"
    if preset == "p95_latency":
        return f"{value * 1000:,.0f} ms"
    return f"{value:,.2f} req/s"


def _problem(preset: str, value: float) -> str | None:
    if preset == "error_rate" and value > ERROR_RATE_LIMIT:
        return f"over the runbook's {ERROR_RATE_LIMIT:.0%} P1 threshold"
    if preset == "p95_latency" and value > P95_LIMIT_SECONDS:
        return f"over {P95_LIMIT_SECONDS:g} s"
    return None


async def query(ctx: StepContext, params: QueryParams) -> StepOutput:
    service = ctx.need_service()
    prom: PrometheusQueries = ctx.need("prometheus", "PROMETHEUS_URL")
    promql = preset_query(params.preset, service.deployment)
    samples = await prom.instant(promql)
    what = (Strong(service.name), f" {DESCRIPTIONS[params.preset]}")
    details = f"PromQL: {promql}"
    if not samples:
        return StepOutput.of(
            line(
                *what,
                ": no data. Prometheus has no series for ",
                Code(f'job="{service.deployment}"'),
                " in the last 5 minutes (not scraped under that job, or no requests).",
            ),
            details=details,
        )
    # The presets aggregate to one series; a preset changed to keep labels shows the worst.
    labels, value = max(samples, key=lambda s: s[1] if is_number(s[1]) else float("-inf"))
    if not is_number(value):
        # 0/0: no requests at all in the window, so no ratio and no quantile.
        return StepOutput.of(line(*what, ": no requests in the last 5 minutes."), details=details)
    problem = _problem(params.preset, value)
    shown = " (" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + ")" if labels else ""
    summary = line(
        *what,
        ": ",
        Strong(_format(params.preset, value)),
        shown + (f", {problem}" if problem else ""),
        mark=Mark.PROBLEM if problem else Mark.OK,
    )
    return StepOutput((summary,), details=details, healthy=problem is None)
