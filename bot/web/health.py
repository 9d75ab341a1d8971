"""Liveness, readiness and Prometheus exposition."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.store.base import StoreUnavailable
from bot.web.keys import CLOCK, INTEGRATIONS, METRICS, PLATFORM, SLACK_STATE, STORE


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    store_state = {"name": "store", "state": "ok", "detail": "SQLite"}
    try:
        await request.app[STORE].ping()
    except StoreUnavailable as exc:
        store_state = {"name": "store", "state": "down", "detail": str(exc)}
    slack_state: dict[str, str] = request.app[SLACK_STATE]
    slack = {"name": "slack_connection", **slack_state}
    integrations = [store_state, slack]
    integrations += [s.as_dict() for s in request.app[INTEGRATIONS]]
    problems = request.app[PLATFORM].problems if PLATFORM in request.app else []
    integrations.append(
        {
            "name": "platform",
            "state": "invalid" if problems else "ok",
            "detail": "; ".join(problems)
            or "playbooks loaded; Kubernetes and desktop updates as configured",
        }
    )
    ready = store_state["state"] == "ok"
    return web.json_response(
        {
            "status": "ready" if ready else "not ready",
            "integrations": {
                i["name"]: {k: v for k, v in i.items() if k != "name"} for i in integrations
            },
        },
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    try:
        stats = await request.app[STORE].outbox_stats(request.app[CLOCK].now().timestamp())
    except StoreUnavailable:
        pass
    else:
        registry.outbox_depth.set(stats.depth)
        registry.outbox_oldest_age.set(stats.oldest_age_seconds)
    body = generate_latest(registry.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
