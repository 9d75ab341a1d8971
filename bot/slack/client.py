"""The Slack Web API client the bot uses everywhere, counting each call by method and result."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.observability.metrics import Metrics


class CountingWebClient(AsyncWebClient):
    """AsyncWebClient whose calls show in /metrics. Retries are the outbox's job, so the
    client's own retry handlers are off: a blind retry of chat.postMessage could post twice."""

    def __init__(self, *, token: str, base_url: str, metrics: Metrics, timeout: int = 10) -> None:
        super().__init__(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])
        self._metrics = metrics

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            error = exc.response.get("error", "error") if exc.response is not None else "error"
            result = (
                "ratelimited" if status == 429 else error if status == 200 else f"http_{status}"
            )
            self._metrics.slack_calls.labels(api_method, result).inc()
            raise
        except Exception:
            self._metrics.slack_calls.labels(api_method, "connection_error").inc()
            raise
        self._metrics.slack_calls.labels(api_method, "ok").inc()
        return response
