"""The project's FakeSlack (tests/fakes/slack_api.py), with what the benches add to it:

- Slack's per-method tier limits (Tier 2: 20, Tier 3: 50, Tier 4: 100 calls a minute per
  workspace), enforced as a strict sliding 60 s window: Slack tolerates short bursts above
  these, so this is the pessimistic reading. chat.postMessage keeps the fake's own
  1 message/s/channel rule (`enforce_post_rate`).
- An incoming-webhook endpoint, `POST /services/T…/B…/…`, the URL Alertmanager's
  `slack_configs.api_url` usually holds: a JSON message (text/attachments; its `channel` is
  ignored, the hook is bound to one channel) answered with the plain text `ok`, or 429 with
  Retry-After past 1 message/s for that channel, as Slack does. Each call is recorded in
  `calls` as method `incoming-webhook`.
"""

from __future__ import annotations

import collections
import json
import math
import time
from typing import Any

from aiohttp import web

from tests.fakes.slack_api import Call, FakeSlack, SlackError

TIER_PER_MINUTE = {2: 20, 3: 50, 4: 100}
# The tiers Slack documents for the methods the bot calls (chat.postMessage is special).
METHOD_TIER = {
    "chat.update": 3,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.create": 2,
    "conversations.invite": 3,
    "conversations.join": 3,
    "conversations.setTopic": 2,
    "conversations.setPurpose": 2,
    "bookmarks.add": 2,
    "pins.add": 2,
    "reactions.add": 3,
    "views.open": 4,
    "views.update": 4,
}
WEBHOOK = "incoming-webhook"


class BenchSlack(FakeSlack):
    def __init__(
        self, *, tier_limits: bool = False, webhook_channel: str = "C_ALERTS", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.tier_limits = tier_limits
        self.webhook_channel = webhook_channel
        self._window: dict[str, collections.deque[float]] = {}

    async def start(self) -> None:
        await super().start()
        assert self._runner is not None
        # The router is frozen once the app runs: serve the webhook from a second app.
        app = web.Application()
        app.router.add_post("/services/{team}/{bot}/{secret}", self._handle_incoming_webhook)
        self._hooks = web.AppRunner(app)
        await self._hooks.setup()
        await web.TCPSite(self._hooks, "127.0.0.1", 0).start()
        port = self._hooks.addresses[0][1]
        self.webhook_url = f"http://127.0.0.1:{port}/services/T1/B1/bench"

    async def stop(self) -> None:
        await super().stop()
        if getattr(self, "_hooks", None) is not None:
            await self._hooks.cleanup()

    def _answer(
        self, method: str, args: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], web.Response]:
        tier = METHOD_TIER.get(method)
        if self.tier_limits and tier is not None:
            now = time.monotonic()
            window = self._window.setdefault(method, collections.deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= TIER_PER_MINUTE[tier]:
                retry = max(1, math.ceil(window[0] + 60 - now))
                body = {"ok": False, "error": "ratelimited"}
                headers = {"Retry-After": str(retry)}
                return 429, body, web.json_response(body, status=429, headers=headers)
            window.append(now)
        return super()._answer(method, args, token)

    async def _handle_incoming_webhook(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        try:
            payload = json.loads(await request.read())
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self.calls.append(Call(WEBHOOK, {}, None, at, 400, {"error": "invalid_payload"}))
            return web.Response(status=400, text="invalid_payload")
        args = {
            "channel": self.webhook_channel,
            "text": payload.get("text"),
            "attachments": payload.get("attachments"),
            "blocks": payload.get("blocks"),
        }
        args = {k: v for k, v in args.items() if v is not None}
        try:
            if self.enforce_post_rate:
                self._check_post_rate(args)
            body = self._chat_post_message(args)
        except SlackError as err:
            error = str(err.body["error"])
            if error == "ratelimited":
                self.calls.append(Call(WEBHOOK, args, None, at, 429, err.body, args))
                return web.Response(status=429, text="rate_limited", headers={"Retry-After": "1"})
            self.calls.append(Call(WEBHOOK, args, None, at, 400, err.body, args))
            return web.Response(status=400, text=error)
        self.calls.append(Call(WEBHOOK, args, None, at, 200, body, args))
        return web.Response(text="ok")
