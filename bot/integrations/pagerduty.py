"""PagerDuty through the `pagerduty` package: paging (Events API v2), acting on incidents and
reading who is on call (REST API v2). The package is synchronous, so each call runs in a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import pagerduty

TIMEOUT_SECONDS = 10
Status = Literal["acknowledged", "resolved"]
T = TypeVar("T")


class PagerDutyError(Exception):
    """A PagerDuty call failed; the message is for the person who asked."""


@dataclass(frozen=True)
class OnCall:
    name: str
    email: str
    level: int
    escalation_policy: str


def _bounded(client: pagerduty.ApiClient) -> None:
    """The package's defaults (60 s reads, 10 attempts) are longer than a person will wait."""
    client.timeout = TIMEOUT_SECONDS
    client.max_network_attempts = 2
    client.max_http_attempts = 3


async def _in_thread(call: Callable[[], T]) -> T:
    try:
        return await asyncio.to_thread(call)
    except pagerduty.HttpError as exc:
        code = exc.response.status_code if exc.response is not None else "?"
        raise PagerDutyError(f"PagerDuty answered {code}: {str(exc)[:160]}") from exc
    except pagerduty.UrlError as exc:
        raise PagerDutyError(f"PagerDuty URL refused: {exc}") from exc
    except Exception as exc:
        # The package wraps its HTTP library's errors inconsistently across versions.
        raise PagerDutyError(
            f"PagerDuty call failed ({type(exc).__name__}): {str(exc)[:160]}"
        ) from exc


class PagerDutyAPI:
    """The REST API v2: incidents and on-calls."""

    def __init__(self, api_token: str, api_url: str) -> None:
        self._token = api_token
        self._url = api_url.rstrip("/")

    def _client(self, from_email: str | None = None) -> pagerduty.RestApiV2Client:
        client = pagerduty.RestApiV2Client(self._token, default_from=from_email)
        _bounded(client)
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

        await _in_thread(call)

    async def oncalls(self, escalation_policies: Sequence[str]) -> list[OnCall]:
        def call() -> list[OnCall]:
            params: dict[str, object] = {"include[]": ["users"]}
            if escalation_policies:
                params["escalation_policy_ids[]"] = list(escalation_policies)
            found = []
            with self._client() as client:
                for entry in client.iter_all("/oncalls", params=params):
                    user = entry.get("user") or {}
                    found.append(
                        OnCall(
                            name=str(user.get("name") or user.get("summary") or "?"),
                            email=str(user.get("email") or ""),
                            level=int(entry.get("escalation_level") or 0),
                            escalation_policy=str(
                                (entry.get("escalation_policy") or {}).get("summary", "")
                            ),
                        )
                    )
            return sorted(found, key=lambda o: (o.escalation_policy, o.level, o.name))

        return await _in_thread(call)


class PagerDutyEvents:
    """The Events API v2: paging, with the incident as dedup key so a re-page is one page."""

    def __init__(self, routing_key: str, events_url: str) -> None:
        self._key = routing_key
        self._base = events_url.rstrip("/").removesuffix("/v2/enqueue")

    def _client(self) -> pagerduty.EventsApiV2Client:
        client = pagerduty.EventsApiV2Client(self._key)
        _bounded(client)
        client.url = self._base
        return client

    async def trigger(
        self,
        dedup_key: str,
        summary: str,
        *,
        severity: str,
        source: str,
        links: Sequence[tuple[str, str]] = (),
        details: dict[str, object] | None = None,
    ) -> str:
        def call() -> str:
            with self._client() as client:
                return client.trigger(
                    summary[:1024],
                    source,
                    dedup_key=dedup_key,
                    severity=severity,
                    custom_details=details or {},
                    links=[{"href": href, "text": text} for text, href in links],
                )

        return await _in_thread(call)

    async def resolve(self, dedup_key: str) -> None:
        def call() -> None:
            with self._client() as client:
                client.resolve(dedup_key)

        await _in_thread(call)
