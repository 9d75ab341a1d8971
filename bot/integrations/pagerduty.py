"""PagerDuty through the `pagerduty` package: paging (Events API v2), acting on incidents and
reading who is on call (REST API v2). The package is synchronous, so each call runs in a thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import pagerduty

TIMEOUT_SECONDS = 10
Status = Literal["acknowledged", "resolved"]
T = TypeVar("T")
# What PagerDuty's answer meant, for the person who asked.
Reason = Literal[
    "already_resolved",  # 400: the incident is resolved; no transition from there
    "unknown_requester",  # 400: the From email is not a PagerDuty user
    "invalid",  # 400: any other refusal of the request
    "unauthorized",  # 401: the API token is wrong or revoked
    "forbidden",  # 402/403: the token or account may not do this
    "not_found",  # 404: no such incident
    "rate_limited",  # 429: too many requests for the token
    "unavailable",  # 5xx, timeouts, connection errors: PagerDuty could not be reached
]
# PagerDuty's error codes (REST API "Errors" page) and `errors` details for the 400s the bot
# tells apart; the details are matched as well because the same condition comes with either.
ALREADY_RESOLVED = (1001, "incident already resolved")
REQUESTER_NOT_FOUND = (1008, "requester user not found")
RATE_LIMIT_RETRIES = 1  # for a person's click: one more try, then say so
log = logging.getLogger(__name__)


class PagerDutyError(Exception):
    """A PagerDuty call failed; the message is for the person who asked, and `reason` (with
    PagerDuty's status, error code and details) says what PagerDuty answered."""

    def __init__(
        self,
        message: str,
        reason: Reason = "unavailable",
        *,
        status: int | None = None,
        code: int | None = None,
        details: Sequence[str] = (),
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.status = status
        self.code = code
        self.details = tuple(details)
        self.retry_after = retry_after


@dataclass(frozen=True)
class OnCall:
    name: str
    email: str
    level: int
    escalation_policy: str


class _AnswersNotErrors(logging.Filter):
    """The package logs running out of retries (and other failed calls) as errors; for the
    bot each is a `PagerDutyError` its caller reports to the person who asked (a rate limit,
    an outage), so the package's own lines are warnings at most."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = (
                logging.WARNING,
                logging.getLevelName(logging.WARNING),
            )
        return True


_client_log = log.getChild("client")
_client_log.addFilter(_AnswersNotErrors())


def _bounded(client: pagerduty.ApiClient, rate_limit_retries: int) -> None:
    """The package's defaults (60 s reads, 10 attempts, and retrying a 429 without limit)
    are longer than a person will wait."""
    client.timeout = TIMEOUT_SECONDS
    client.max_network_attempts = 2
    client.max_http_attempts = 3
    client.retry = {429: rate_limit_retries}
    client.log = _client_log


class _Response(Protocol):
    """What the bot reads of the HTTP response inside the package's HttpError."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    def json(self) -> Any: ...


def _number(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _answer(response: _Response) -> tuple[int | None, str, tuple[str, ...]]:
    """The REST API's error object, `{"error": {"message", "code", "errors": [...]}}`, or the
    Events API's answer, `{"status", "message", "errors": [...]}`."""
    try:
        body = response.json()
    except ValueError:
        return None, "", ()
    if not isinstance(body, Mapping):
        return None, "", ()
    error = body.get("error", body)
    if not isinstance(error, Mapping):
        return None, "", ()
    code = error.get("code")
    details = error.get("errors")
    return (
        code if isinstance(code, int) else None,
        str(error.get("message") or ""),
        tuple(str(d) for d in details) if isinstance(details, list) else (),
    )


def _refusal(response: _Response) -> PagerDutyError:
    status = response.status_code
    code, message, details = _answer(response)
    said = "; ".join(d for d in (message, *details) if d)[:300]
    facts: dict[str, Any] = {"status": status, "code": code, "details": details}
    lowered = {d.lower() for d in details} | {message.lower()}
    if status == 400 and (code == ALREADY_RESOLVED[0] or ALREADY_RESOLVED[1] in lowered):
        return PagerDutyError(
            "PagerDuty says the incident is already resolved", "already_resolved", **facts
        )
    if status == 400 and (code == REQUESTER_NOT_FOUND[0] or REQUESTER_NOT_FOUND[1] in lowered):
        return PagerDutyError(
            "PagerDuty has no user with the requester's email", "unknown_requester", **facts
        )
    if status == 401:
        # Not the package's message: it quotes part of the token.
        return PagerDutyError(
            "PagerDuty refused the API token (PAGERDUTY_API_TOKEN): wrong, revoked or for"
            " another service region",
            "unauthorized",
            **facts,
        )
    if status in (402, 403):
        return PagerDutyError(
            f"PagerDuty does not allow this for the bot's API token ({status}: {said})",
            "forbidden",
            **facts,
        )
    if status == 404:
        return PagerDutyError("PagerDuty has no such incident", "not_found", **facts)
    if status == 429:
        wait = _number(response.headers.get("ratelimit-reset"))
        after = f" (it resets in {wait} s)" if wait is not None else ""
        return PagerDutyError(
            f"PagerDuty is rate limiting the bot's API token{after}",
            "rate_limited",
            retry_after=wait,
            **facts,
        )
    if status >= 500 or status == 408:
        return PagerDutyError(
            f"PagerDuty could not answer right now ({status})", "unavailable", **facts
        )
    return PagerDutyError(
        f"PagerDuty refused the request ({status}: {said or 'no reason given'})",
        "invalid",
        **facts,
    )


async def _in_thread(call: Callable[[], T]) -> T:
    try:
        return await asyncio.to_thread(call)
    except pagerduty.HttpError as exc:
        if exc.response is None:
            raise PagerDutyError("PagerDuty could not be reached") from exc
        raise _refusal(exc.response) from exc
    except pagerduty.UrlError as exc:
        raise PagerDutyError(f"PagerDuty URL refused: {exc}") from exc
    except Exception as exc:
        # Connection errors and timeouts, which the package wraps inconsistently.
        raise PagerDutyError(
            f"PagerDuty could not be reached ({type(exc).__name__}: {str(exc)[:160]})"
        ) from exc


class PagerDutyAPI:
    """The REST API v2: incidents and on-calls."""

    def __init__(self, api_token: str, api_url: str) -> None:
        self._token = api_token
        self._url = api_url.rstrip("/")

    def _client(self, from_email: str | None = None) -> pagerduty.RestApiV2Client:
        client = pagerduty.RestApiV2Client(self._token, default_from=from_email)
        _bounded(client, RATE_LIMIT_RETRIES)
        client.sleep_timer = 0.5  # the one retry after a 429 comes a second later
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
        # A page matters more than a click's quick answer: a few tries, 3 + 6 + 12 s apart.
        _bounded(client, 3)
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
