"""POST /slack/events: Slack's HTTP requests, verified and freed of replays, handed to Bolt."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.config import Settings
from bot.intake import Rejected
from bot.intake.body import read_body
from bot.slack.request_check import WINDOW_SECONDS, signed_timestamp
from bot.store.base import Store, StoreUnavailable

log = logging.getLogger(__name__)

# Commands and interactivity come form-encoded; events (JSON) are deduplicated by event id.
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# A replayed request is refused until its timestamp leaves Slack's window; the margin covers
# clocks that disagree by a little.
REPLAY_MARGIN_SECONDS = 60


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class SlackEndpoint:
    """The route is registered when the app is made; the Bolt app exists only once the Slack
    side has started (and only with a bot token), so it and the store are set later."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.bolt: AsyncApp | None = None
        self.store: Store | None = None

    async def handle(self, request: web.Request) -> web.Response:
        settings = self._settings
        secret = settings.slack_signing_secret
        if self.bolt is None or settings.socket_mode or secret is None:
            # Without a signing secret nothing can be verified, so nothing is accepted.
            return _error(
                401,
                "Slack HTTP mode is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET)",
            )
        raw = await read_body(request, settings.max_body_bytes)
        if isinstance(raw, Rejected):
            log.info("slack request not read", extra={"status": raw.status, "reason": raw.reason})
            return _error(raw.status, raw.reason)
        signature = request.headers.get("X-Slack-Signature")
        at = signed_timestamp(
            raw,
            request.headers.get("X-Slack-Request-Timestamp"),
            signature,
            secret.get_secret_value(),
            time.time(),
        )
        if at is None or signature is None:
            return _error(401, "missing or invalid Slack request signature")
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return _error(400, "the body is not UTF-8")
        # Told apart by the signed body, not by Content-Type, which is not signed: a replay
        # relabelled as JSON would otherwise pass as an event and still run as a command.
        form = not text.startswith("{")
        if form:
            try:
                first = await self._first_time(signature, at)
            except StoreUnavailable as exc:
                # Not knowing whether it ran before, running it could repeat a declaration.
                log.warning("slack request not checked for replay", extra={"error": str(exc)})
                return _error(503, "the incident store is unavailable; retry shortly")
            if not first:
                # Slack never sends the same signed command or click twice: this is a replay.
                log.info("replayed slack request ignored", extra={"timestamp": at})
                return web.Response(status=200)
        headers: dict[str, str | Sequence[str]] = {
            name: request.headers.getall(name) for name in request.headers
        }
        headers["Content-Type"] = FORM if form else JSON
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=headers)
        return await to_aiohttp_response(await self.bolt.async_dispatch(bolt_request))

    async def _first_time(self, signature: str, at: int) -> bool:
        if self.store is None:
            return True
        expires = at + WINDOW_SECONDS + REPLAY_MARGIN_SECONDS
        return await self.store.claim_slack_request(signature, expires, time.time())
