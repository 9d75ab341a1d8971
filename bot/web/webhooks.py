"""POST /webhooks/alertmanager and /webhooks/pagerduty: 200 only once the delivery is stored."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.intake import Rejected, alertmanager, grafana, pagerduty
from bot.intake.body import read_body
from bot.store.base import StoreUnavailable
from bot.web.keys import CLOCK, METRICS, SETTINGS, STORE, WEBHOOK_WAKEUPS

log = logging.getLogger(__name__)


def _reject(
    request: web.Request,
    source: str,
    rejected: Rejected,
    *,
    level: int = logging.INFO,
) -> web.Response:
    request.app[METRICS].webhooks.labels(source, f"rejected_{rejected.status}").inc()
    log.log(
        level,
        "webhook rejected",
        extra={"source": source, "status": rejected.status, "reason": rejected.reason},
    )
    return web.json_response({"error": rejected.reason}, status=rejected.status)


async def _store(
    request: web.Request,
    source: str,
    delivery_id: str,
    body: dict[str, Any],
    raw: bytes | None = None,
) -> web.Response:
    app = request.app
    try:
        new = await app[STORE].record_delivery(source, delivery_id, body, app[CLOCK].now(), raw=raw)
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


async def _body(request: web.Request, source: str) -> bytes | web.Response:
    """The whole body, or its refusal counted and logged like every other: a 413 at WARNING
    (a sender that gets one drops the notification for good), a client that went away or
    was too slow at INFO (anyone can cause those)."""
    body = await read_body(request, request.app[SETTINGS].max_body_bytes)
    if isinstance(body, Rejected):
        level = logging.WARNING if body.status == 413 else logging.INFO
        return _reject(request, source, body, level=level)
    return body


async def alertmanager_webhook(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    token = settings.alertmanager_token.get_secret_value() if settings.alertmanager_token else None
    if not alertmanager.authorized(request.headers.get("Authorization"), token):
        return _reject(request, "alertmanager", Rejected(401, "missing or wrong bearer token"))
    body = await _body(request, "alertmanager")
    if isinstance(body, web.Response):
        return body
    raw = alertmanager.load(body)
    if isinstance(raw, Rejected):
        return _reject(request, "alertmanager", raw)
    # Grafana's contact point posts to the same URL; it is told apart by its body.
    source = "grafana" if grafana.is_grafana(raw) else "alertmanager"
    parsed = grafana.validate(raw) if source == "grafana" else alertmanager.validate(raw)
    if isinstance(parsed, Rejected):
        return _reject(request, source, parsed)
    delivery_id, stored = parsed.delivery_id(), parsed.stored(raw)
    # The model has done its work: the store reads the body, so no second copy waits on it.
    del parsed
    return await _store(request, source, delivery_id, stored, body)


async def pagerduty_webhook(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    secret = (
        settings.pagerduty_webhook_secret.get_secret_value()
        if settings.pagerduty_webhook_secret
        else None
    )
    raw = await _body(request, "pagerduty")
    if isinstance(raw, web.Response):
        return raw
    if not pagerduty.signature_valid(raw, request.headers.get("X-PagerDuty-Signature"), secret):
        return _reject(
            request, "pagerduty", Rejected(401, "missing or invalid X-PagerDuty-Signature")
        )
    parsed = pagerduty.parse(raw)
    if isinstance(parsed, Rejected):
        return _reject(request, "pagerduty", parsed)
    return await _store(request, "pagerduty", parsed.event.id, parsed.model_dump(mode="json"))
