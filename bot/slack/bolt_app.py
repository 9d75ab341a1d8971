"""Builds the Bolt app (HTTP or Socket Mode) around the bot's Slack client."""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.config import Settings
from bot.slack.client import CountingWebClient

log = logging.getLogger(__name__)


def build_bolt_app(
    settings: Settings,
    client: CountingWebClient,
    *registrars: Callable[[AsyncApp], None],
) -> AsyncApp:
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    )
    app = AsyncApp(
        client=client,
        signing_secret=secret,
        # Socket Mode requests are not signed; HTTP mode always verifies.
        request_verification_enabled=not settings.socket_mode,
        logger=logging.getLogger("slack_bolt"),
    )
    for register in registrars:
        register(app)
    return app


def socket_mode_handler(settings: Settings, app: AsyncApp) -> AsyncSocketModeHandler:
    assert settings.slack_app_token is not None
    return AsyncSocketModeHandler(
        app, app_token=settings.slack_app_token.get_secret_value(), web_client=app.client
    )
