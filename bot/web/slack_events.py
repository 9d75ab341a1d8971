"""POST /slack/events: Slack's HTTP requests handed to Bolt through its aiohttp adapter."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request

from bot.web.keys import BOLT, SETTINGS


async def slack_events(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    bolt = request.app.get(BOLT)
    if bolt is None or settings.socket_mode or settings.slack_signing_secret is None:
        # Without a signing secret nothing can be verified, so nothing is accepted.
        return web.json_response(
            {"error": "Slack HTTP mode is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)"},
            status=401,
        )
    bolt_response = await bolt.async_dispatch(await to_bolt_request(request))
    return await to_aiohttp_response(bolt_response)
