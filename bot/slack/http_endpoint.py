"""POST /slack/events: Slack's HTTP requests handed to Bolt through its aiohttp adapter."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.config import Settings


class SlackEndpoint:
    """The route is registered when the app is made; the Bolt app exists only once the Slack
    side has started (and only with a bot token), so it is set later."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.bolt: AsyncApp | None = None

    async def handle(self, request: web.Request) -> web.Response:
        settings = self._settings
        if self.bolt is None or settings.socket_mode or settings.slack_signing_secret is None:
            # Without a signing secret nothing can be verified, so nothing is accepted.
            return web.json_response(
                {
                    "error": "Slack HTTP mode is not configured"
                    " (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)"
                },
                status=401,
            )
        bolt_response = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)
