"""Sentry error reporting for the bot itself, with secrets stripped before anything leaves."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.aiohttp import AioHttpIntegration
from sentry_sdk.transport import Transport

from bot.observability.redaction import REDACTED, scrub

# Sentry keeps about 1 kB of a value anyway; a field far longer is cut before it is scrubbed.
FIELD_LIMIT = 16 * 1024
DROPPED_HEADERS = {
    "authorization",
    "cookie",
    "set-cookie",
    "x-slack-signature",
    "x-pagerduty-signature",
}


def make_before_send(secrets: Iterable[str] = ()) -> Any:
    known = tuple(s for s in secrets if s)

    def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        request = event.get("request")
        if isinstance(request, dict):
            headers = request.get("headers")
            if isinstance(headers, dict):
                request["headers"] = {
                    k: v for k, v in headers.items() if k.lower() not in DROPPED_HEADERS
                }
            if "cookies" in request:
                request["cookies"] = REDACTED
        scrubbed: dict[str, Any] = scrub(event, known, limit=FIELD_LIMIT)
        return scrubbed

    return before_send


def init_sentry(
    dsn: str,
    *,
    secrets: Iterable[str] = (),
    environment: str | None = None,
    release: str | None = None,
    transport: type[Transport] | Transport | None = None,
) -> None:
    options: dict[str, Any] = {}
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(
        dsn=dsn,
        integrations=[AioHttpIntegration()],
        before_send=make_before_send(secrets),
        environment=environment,
        release=release,
        **options,
    )
