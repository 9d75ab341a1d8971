"""PagerDuty's REST API through the `pagerduty` package (sync, so it runs in a thread)."""

from __future__ import annotations

import asyncio
from typing import Literal

import httpx
import pagerduty

TIMEOUT_SECONDS = 10.0
Status = Literal["acknowledged", "resolved"]


class PagerDutyError(Exception):
    """A PagerDuty call failed; the message is for the person who clicked."""


class PagerDutyAPI:
    def __init__(self, api_token: str, api_url: str) -> None:
        self._token = api_token
        self._url = api_url.rstrip("/")

    def _client(self, from_email: str) -> pagerduty.RestApiV2Client:
        client = pagerduty.RestApiV2Client(
            self._token, default_from=from_email, timeout=TIMEOUT_SECONDS
        )
        client.url = self._url
        return client

    async def set_status(self, incident_id: str, status: Status, from_email: str) -> None:
        """Acknowledges or resolves, as the PagerDuty user with this email (the From header)."""

        def call() -> None:
            with self._client(from_email) as client:
                client.rput(
                    f"/incidents/{incident_id}",
                    json={"type": "incident_reference", "status": status},
                )

        try:
            await asyncio.to_thread(call)
        except pagerduty.HttpError as exc:
            code = exc.response.status_code if exc.response is not None else "?"
            raise PagerDutyError(f"PagerDuty answered {code}: {str(exc)[:160]}") from exc
        except (pagerduty.Error, httpx.HTTPError) as exc:
            raise PagerDutyError(f"PagerDuty call failed: {str(exc)[:160]}") from exc
