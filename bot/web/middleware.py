"""Request metrics and the last line of defence: no traceback ever reaches a caller."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.intake.body import CLIENT_GONE
from bot.web.keys import METRICS

log = logging.getLogger(__name__)


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[METRICS]
    info = request.match_info.route.resource
    route = info.canonical if info is not None else "unmatched"
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPRequestEntityTooLarge as exc:
        # aiohttp refuses a body over INCIDENT_BOT_MAX_BODY_BYTES while reading it; the
        # webhooks answer that themselves, any other route is said here.
        status = exc.status
        log.warning(
            "request body over the limit",
            extra={"route": route, "method": request.method, "length": request.content_length},
        )
        raise
    except web.HTTPException as exc:
        status = exc.status
        raise
    except Exception as exc:
        if isinstance(exc, ConnectionResetError) and _client_gone(request):
            # A client that hangs up mid-request is not the bot's error; anyone can do it.
            status = CLIENT_GONE
            log.info("client went away", extra={"route": route, "method": request.method})
            return web.Response(status=CLIENT_GONE)
        log.exception("unhandled error", extra={"route": route, "method": request.method})
        return web.json_response({"error": "internal error"}, status=500)
    finally:
        metrics.http_requests.labels(route, request.method, str(status)).inc()
        metrics.http_latency.labels(route, request.method).observe(time.perf_counter() - started)
