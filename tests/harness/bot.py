"""The bot under test: served over real HTTP on loopback, with signed Slack requests, and the
environment variables of the contract that a test must start without."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

CONTRACT_ENV = [
    "INCIDENT_BOT_DATABASE",
    "INCIDENT_BOT_CONFIG",
    "INCIDENT_BOT_API_TOKEN",
    "INCIDENT_BOT_OPERATORS",
    "INCIDENT_BOT_LOG_LEVEL",
    "INCIDENT_BOT_MAX_BODY_BYTES",
    "INCIDENT_BOT_RETENTION_DAYS",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "SLACK_ALERTS_CHANNEL",
    "SLACK_INCIDENTS_CHANNEL",
    "ALERTMANAGER_TOKEN",
    "ALERTMANAGER_URL",
    "PAGERDUTY_WEBHOOK_SECRET",
    "PAGERDUTY_API_TOKEN",
    "PAGERDUTY_ROUTING_KEY",
    "PAGERDUTY_API_URL",
    "PAGERDUTY_EVENTS_URL",
    "KUBECONFIG",
    "KUBERNETES_SERVICE_HOST",
    "PROMETHEUS_URL",
    "PLATFORM_DATABASE_URL",
    "SENTRY_DSN",
    "AWS_ENDPOINT_URL",
    "UPDATES_BUCKET",
    "UPDATES_DISTRIBUTION_ID",
]


SIGNING_SECRET = "test-signing-secret"

# Slack gives every command invocation and click its own trigger_id and action_ts, so no two
# requests it signs are alike (the bot refuses a replayed one).
_TRIGGERS = itertools.count(1)


def _trigger() -> str:
    return f"{next(_TRIGGERS)}.{time.time_ns()}"


BOT_TOKEN = "xoxb-test"


APP_TOKEN = "xapp-test"


@dataclass
class RunningBot:
    url: str
    app: web.Application
    runner: web.AppRunner
    session: aiohttp.ClientSession

    async def request(self, method: str, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.session.request(method, self.url + path, **kwargs)

    async def slack_command(
        self,
        command: str,
        text: str,
        *,
        user_id: str = "U1",
        channel_id: str = "C_ALERTS",
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        response_url: str = "http://127.0.0.1:9/response",
        trigger_id: str | None = None,
    ) -> aiohttp.ClientResponse:
        trigger_id = trigger_id or _trigger()
        body = urlencode(
            {
                "token": "unused",
                "team_id": "T1",
                "team_domain": "acme",
                "channel_id": channel_id,
                "channel_name": "alerts",
                "user_id": user_id,
                "user_name": "alice",
                "command": command,
                "text": text,
                "api_app_id": "A1",
                "response_url": response_url,
                "trigger_id": trigger_id,
            }
        )
        return await self.post_signed("/slack/events", body, secret=secret, timestamp=timestamp)

    async def slack_event(self, event: dict[str, Any], event_id: str) -> aiohttp.ClientResponse:
        """A signed Events API callback, as Slack delivers (and retries) it."""
        body = json.dumps(
            {
                "token": "unused",
                "team_id": "T1",
                "api_app_id": "A1",
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "event": event,
            }
        )
        return await self.post_signed("/slack/events", body, content_type="application/json")

    async def slack_view_submission(
        self, callback_id: str, values: dict[str, Any], *, user_id: str = "U1"
    ) -> aiohttp.ClientResponse:
        payload = {
            "type": "view_submission",
            "team": {"id": "T1", "domain": "acme"},
            "user": {"id": user_id, "username": "alice", "name": "alice", "team_id": "T1"},
            "api_app_id": "A1",
            "token": "unused",
            "trigger_id": _trigger(),
            "view": {
                "id": "V1",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": "",
                "state": {"values": values},
                "hash": "h",
            },
        }
        return await self.post_signed("/slack/events", urlencode({"payload": json.dumps(payload)}))

    async def slack_action(
        self,
        action_id: str,
        value: str,
        *,
        user_id: str = "U1",
        channel_id: str = "C_ALERTS",
        message_ts: str = "1.000001",
        response_url: str = "http://127.0.0.1:9/response",
    ) -> aiohttp.ClientResponse:
        """A signed block_actions request: a person clicked a button on a message."""
        payload = {
            "type": "block_actions",
            "user": {"id": user_id, "username": "alice", "name": "alice", "team_id": "T1"},
            "api_app_id": "A1",
            "token": "unused",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel_id,
                "is_ephemeral": False,
            },
            "trigger_id": _trigger(),
            "team": {"id": "T1", "domain": "acme"},
            "channel": {"id": channel_id, "name": "alerts"},
            "message": {"ts": message_ts, "text": "", "type": "message"},
            "response_url": response_url,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b",
                    "value": value,
                    "type": "button",
                    "action_ts": _trigger(),
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post_signed("/slack/events", body)

    async def post_signed(
        self,
        path: str,
        body: str,
        *,
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> aiohttp.ClientResponse:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256)
        headers = {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": "v0=" + digest.hexdigest(),
            "Content-Type": content_type,
        }
        return await self.request("POST", path, data=body.encode(), headers=headers)


BotFactory = Callable[..., Awaitable[RunningBot]]


async def stop_bot(bot: RunningBot) -> None:
    """Stops a bot mid-test (as a restart would), leaving its database behind."""
    if not bot.session.closed:
        await bot.session.close()
        try:
            async with asyncio.timeout(30):
                await bot.runner.cleanup()
        except TimeoutError:
            # A shutdown that hangs is a bug worth a clear report, not a stuck CI run.
            for task in asyncio.all_tasks():
                task.print_stack()
            raise


def one_line_error(body: dict[str, Any]) -> str:
    """The `error` of a refused request: one line, for a person to read."""
    error = body["error"]
    assert isinstance(error, str)
    assert error.strip()
    assert "\n" not in error
    return error
