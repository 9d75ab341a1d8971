"""Alertmanager's API v2: silences created from Slack."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=10)


class AlertmanagerError(Exception):
    """The silence could not be created; the message says why, for a person."""


class AlertmanagerAPI:
    def __init__(self, base_url: str) -> None:
        self._base = base_url.rstrip("/")

    async def create_silence(
        self,
        matchers: Mapping[str, str],
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        if not matchers:
            raise AlertmanagerError("the alert group has no labels to match")
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True}
                for k, v in sorted(matchers.items())
            ],
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": created_by,
            "comment": comment,
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as session,
                session.post(f"{self._base}/api/v2/silences", json=body) as response,
            ):
                if response.status != 200:
                    detail = (await response.text())[:200].strip()
                    raise AlertmanagerError(f"Alertmanager answered {response.status}: {detail}")
                data = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AlertmanagerError(f"Alertmanager unreachable: {type(exc).__name__}") from exc
        return str(data.get("silenceID", ""))
