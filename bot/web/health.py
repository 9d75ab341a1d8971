"""Liveness, readiness and Prometheus exposition."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.store.base import StoreUnavailable
from bot.web.auth import has_api_token
from bot.web.keys import (
    CLOCK,
    INTEGRATIONS,
    LEADERSHIP,
    METRICS,
    PLATFORM,
    SLACK_STATE,
    STORE,
)

UNDISCLOSED = "shown with the API token (INCIDENT_BOT_API_TOKEN), and by check-config"
BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    store = request.app[STORE]
    store_state = {
        "name": "store",
        "state": "ok",
        "detail": BACKEND_NAMES.get(store.backend, store.backend),
    }
    try:
        await store.ping()
    except StoreUnavailable as exc:
        store_state = {"name": "store", "state": "down", "detail": str(exc)}
    slack_state: dict[str, str] = request.app[SLACK_STATE]
    slack = {"name": "slack_connection", **slack_state}
    integrations = [store_state, slack, await _slack_channels(request.app)]
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
    # Details name files, hosts, channels and parse errors: only for the API token's holder.
    detailed = has_api_token(request)
    return web.json_response(
        {
            "status": "ready" if ready else "not ready",
            "store": _store_role(request.app, detailed),
            "integrations": {
                i["name"]: {k: v for k, v in i.items() if k != "name"}
                if detailed
                else {"state": i["state"], "detail": UNDISCLOSED}
                for i in integrations
            },
        },
        status=200 if ready else 503,
    )


def _store_role(app: web.Application, detailed: bool) -> dict[str, Any]:
    """The backend, and whether this replica does the work that must happen once (with the API
    token: which replica it is, the lease epoch it leads under, and that work)."""
    role: dict[str, Any] = {"backend": app[STORE].backend}
    if LEADERSHIP in app:
        described = app[LEADERSHIP].describe()
        role.update(described if detailed else {"role": described["role"]})
    return role


async def _slack_channels(app: web.Application) -> dict[str, Any]:
    """The channels whose messages wait because the bot is not a member of them."""
    try:
        waiting = await app[STORE].channels_awaiting_invite()
    except StoreUnavailable as exc:
        return {"name": "slack_channels", "state": "down", "detail": str(exc)}
    if not waiting:
        return {"name": "slack_channels", "state": "ok", "detail": "the bot can post everywhere"}
    detail = "; ".join(
        f"invite the bot to {c.channel} (Slack answers {c.error}):"
        f" {c.waiting} messages waiting since {c.since.isoformat(timespec='seconds')}"
        for c in waiting
    )
    channels = [
        {"channel": c.channel, "error": c.error, "waiting": c.waiting,
         "since": c.since.isoformat()}
        for c in waiting
    ]  # fmt: skip
    return {"name": "slack_channels", "state": "needs_invite", "detail": detail,
            "channels": channels}  # fmt: skip


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    try:
        stats = await request.app[STORE].outbox_stats(request.app[CLOCK].now().timestamp())
        waiting = await request.app[STORE].channels_awaiting_invite()
    except StoreUnavailable:
        pass
    else:
        registry.outbox_depth.set(stats.depth)
        registry.outbox_oldest_age.set(stats.oldest_age_seconds)
        registry.outbox_awaiting_invite.clear()
        for access in waiting:
            registry.outbox_awaiting_invite.labels(access.channel).set(access.waiting)
    body = generate_latest(registry.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
