"""POST /webhooks/alertmanager and /webhooks/pagerduty: 200 only once the delivery is stored."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.intake import Rejected, alertmanager, pagerduty
from bot.store.base import StoreUnavailable
from bot.web.keys import CLOCK, METRICS, SETTINGS, STORE, WEBHOOK_WAKEUPS

log = logging.getLogger(__name__)


def _reject(request: web.Request, source: str, rejected: Rejected) -> web.Response:
    request.app[METRICS].webhooks.labels(source, f"rejected_{rejected.status}").inc()
    log.info(
        "webhook rejected",
        extra={"source": source, "status": rejected.status, "reason": rejected.reason},
    )
    return web.json_response({"error": rejected.reason}, status=rejected.status)


async def _store(
    request: web.Request, source: str, delivery_id: str, body: dict[str, Any]
) -> web.Response:
    app = request.app
    try:
        new = await app[STORE].record_delivery(source, delivery_id, body, app[CLOCK].now())
    except StoreUnavailable as exc:
        # 5xx makes the sender retry; the delivery is not lost.
        app[METRICS].webhooks.labels(source, "unavailable").inc()
        log.warning("webhook not stored", extra={"source": source, "error": str(exc)})
        return web.json_response(
            {"error": "storage unavailable, retry"}, status=503, headers={"Retry-After": "5"}
        )
    app[METRICS].webhooks.labels(source, "stored" if new else "duplicate").inc()
    if new:
        app[WEBHOOK_WAKEUPS][source].set()
    return web.json_response({"status": "stored" if new else "duplicate", "id": delivery_id})


async def alertmanager_webhook(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    token = settings.alertmanager_token.get_secret_value() if settings.alertmanager_token else None
    if not alertmanager.authorized(request.headers.get("Authorization"), token):
        return _reject(request, "alertmanager", Rejected(401, "missing or wrong bearer token"))
    parsed = alertmanager.parse(await request.read())
    if isinstance(parsed, Rejected):
        return _reject(request, "alertmanager", parsed)
    body = parsed.model_dump(mode="json", by_alias=True)
    return await _store(request, "alertmanager", parsed.delivery_id(), body)


async def pagerduty_webhook(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    secret = (
        settings.pagerduty_webhook_secret.get_secret_value()
        if settings.pagerduty_webhook_secret
        else None
    )
    raw = await request.read()
    if not pagerduty.signature_valid(raw, request.headers.get("X-PagerDuty-Signature"), secret):
        return _reject(
            request, "pagerduty", Rejected(401, "missing or invalid X-PagerDuty-Signature")
        )
    parsed = pagerduty.parse(raw)
    if isinstance(parsed, Rejected):
        return _reject(request, "pagerduty", parsed)
    return await _store(request, "pagerduty", parsed.event.id, parsed.model_dump(mode="json"))
