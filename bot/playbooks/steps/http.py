"""HTTP steps: a service's health endpoint (or every service's), checked side by side.

URLs come from the platform config's ``health_url_template`` so the same playbook works
in-cluster (service DNS) and elsewhere (an ingress, a port-forward).
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict

from bot.config import Service
from bot.domain.report import Code, Line, Mark, Strong, line
from bot.integrations.health import HealthChecker, HealthResult
from bot.playbooks.model import StepContext, StepOutput


class HealthParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    all_services: bool = False


def health_url(ctx: StepContext, service: Service) -> str:
    return ctx.config.health_url_template.format(
        deployment=service.deployment,
        namespace=ctx.config.namespace_of(service),
        port=service.port,
        path=service.health_path,
        name=service.name,
    )


def _line(service: Service, result: HealthResult) -> Line:
    # Without an HTTP answer the time is only how long it took to give up.
    took = f" in {result.latency_ms:,.0f} ms" if result.status is not None else ""
    return line(
        Strong(service.name),
        f" {result.detail}{took} (",
        Code(result.url),
        ")",
        mark=Mark.OK if result.ok else Mark.PROBLEM,
    )


async def health(ctx: StepContext, params: HealthParams) -> StepOutput:
    checker: HealthChecker = ctx.need("http", "always available")
    services = list(ctx.config.services) if params.all_services else [ctx.need_service()]
    results = await asyncio.gather(*(checker.check(health_url(ctx, s)) for s in services))
    failing = [(s, r) for s, r in zip(services, results, strict=True) if not r.ok]
    if params.all_services:
        # Many services: the failing ones in the message, all of them in the details.
        head = (
            line(f"All {len(services)} services answer their health check.", mark=Mark.OK)
            if not failing
            else line(
                f"{len(failing)} of {len(services)} services fail their health check:",
                mark=Mark.PROBLEM,
            )
        )
        lines = [head] + [_line(s, r) for s, r in failing]
    else:
        lines = [_line(services[0], results[0])]
    details = "\n".join(
        f"{'ok  ' if r.ok else 'FAIL'} {s.name:<16} {r.status or '-':>4}"
        f" {r.latency_ms:>8.1f} ms  {r.url}  {r.detail}"
        for s, r in zip(services, results, strict=True)
    )
    return StepOutput(
        tuple(lines), details=details if params.all_services else "", healthy=not failing
    )
