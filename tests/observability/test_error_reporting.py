"""Sentry: errors are reported, but no header or nested key carrying a secret leaves the bot."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sentry_sdk
from aiohttp import web
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from bot.app import create_app
from bot.config import PlatformConfig, Settings
from bot.observability.error_reporting import init_sentry, make_before_send

CAPTURED: list[dict[str, Any]] = []
DB_PASSWORD = secrets.token_hex(8)


class CapturingTransport(Transport):
    """Keeps each event instead of sending it: what Sentry would have received."""

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type in ("event", "transaction") and item.payload.json is not None:
                CAPTURED.append(item.payload.json)


@pytest.fixture
def sentry() -> Iterator[list[dict[str, Any]]]:
    CAPTURED.clear()
    init_sentry(
        "http://public@127.0.0.1:9/1",
        secrets=[DB_PASSWORD],
        transport=CapturingTransport,
    )
    yield CAPTURED
    sentry_sdk.get_client().close()
    sentry_sdk.init(dsn=None)


async def test_error_events_lose_auth_headers_and_nested_secret_keys(
    sentry: list[dict[str, Any]],
    make_settings: Callable[..., Settings],
    platform_config: PlatformConfig,
) -> None:
    # Secrets made at run time, so they cannot show up merely as source lines in a stack trace.
    password, api_key, slack_token = (secrets.token_hex(8) for _ in range(3))
    bearer, cookie = secrets.token_hex(8), secrets.token_hex(8)
    app = create_app(make_settings(), platform_config)

    async def boom(request: web.Request) -> web.Response:
        sentry_sdk.set_context(
            "platform", {"database": {"password": password, "host": "db"}, "api_key": api_key}
        )
        sentry_sdk.set_extra("settings", {"nested": [{"slack_token": slack_token}]})
        raise RuntimeError(f"connect failed for postgresql://bot:{DB_PASSWORD}@db/factsway")

    app.router.add_get("/boom", boom)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    import aiohttp

    try:
        async with aiohttp.ClientSession() as session:
            response = await session.get(
                f"http://127.0.0.1:{port}/boom",
                headers={
                    "Authorization": f"Bearer {bearer}",
                    "Cookie": f"session={cookie}",
                    "X-Request-Id": "r-1",
                },
            )
            assert response.status == 500
            assert "Traceback" not in await response.text()
    finally:
        await runner.cleanup()
    sentry_sdk.flush()

    assert sentry, "the error was not reported to Sentry"
    dumped = json.dumps(sentry)
    for secret in (bearer, cookie, password, api_key, slack_token, DB_PASSWORD):
        assert secret not in dumped, secret
    event = next(e for e in sentry if e.get("request"))
    headers = {k.lower() for k in event["request"]["headers"]}
    assert "authorization" not in headers and "cookie" not in headers
    assert "x-request-id" in headers
    assert event["contexts"]["platform"]["database"]["password"] == "[redacted]"
    assert event["contexts"]["platform"]["database"]["host"] == "db"


def test_a_huge_field_in_an_event_is_cut_before_it_is_scrubbed() -> None:
    """Sentry trims values itself only as far as its options say (max_value_length); what the
    bot hands on is bounded whatever they are, and scrubbing it stays fast."""
    hostile = "a://b:" * 100_000 + f" postgresql://app:{DB_PASSWORD}@db/x"
    event = {"extra": {"pod_log": hostile}, "message": "pod logs attached"}

    scrubbed = make_before_send([DB_PASSWORD])(event, {})

    shown = scrubbed["extra"]["pod_log"]
    assert len(shown) < 20_000
    assert "characters cut" in shown
    assert DB_PASSWORD not in json.dumps(scrubbed)
