"""PagerDuty V3 webhooks: signature verification, validation and the event's identity."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from bot.intake import NotJSON, Rejected, load_json, one_line

MAX_NUMBER = 2**63 - 1  # stored in an INTEGER column


class Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    resource_type: str
    # Compared with the clock: a time without its offset cannot be.
    occurred_at: AwareDatetime
    agent: dict[str, Any] | None = None
    client: dict[str, Any] | None = None
    data: dict[str, Any]


class Delivery(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: Event


class Reference(BaseModel):
    """A user, service or priority reference, as far as the bot reads it."""

    model_config = ConfigDict(strict=True)

    # PagerDuty's own examples send `"summary": null` (incident_field_values, incident_task).
    summary: str | None = None


class IncidentRef(BaseModel):
    model_config = ConfigDict(strict=True)

    id: str | int | None = None
    summary: str | None = None


class EventData(BaseModel):
    """What the bot reads from any event's data: typed as PagerDuty documents it, so a
    malformed event is refused here rather than failing later in the thread writer."""

    model_config = ConfigDict(strict=True)

    incident: IncidentRef | None = None
    assignees: list[Reference] | None = None
    priority: Reference | None = None


class IncidentData(EventData):
    """The data of an incident event: the incident itself."""

    id: str | int | None = None
    number: Annotated[int, Field(ge=0, le=MAX_NUMBER)] | None = None
    title: str = ""
    status: str = ""
    urgency: str = ""
    html_url: str = ""
    incident_key: str | None = None
    service: Reference | None = None


def signature_valid(body: bytes, header: str | None, secret: str | None) -> bool:
    """PagerDuty signs with each active secret: any one `v1=` match is enough."""
    if secret is None:
        return True
    if not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    for part in header.split(","):
        version, _, digest = part.strip().partition("=")
        # Bytes, not str: compare_digest refuses non-ASCII text, and undecodable header bytes
        # arrive as lone surrogates.
        given = digest.strip().encode(errors="surrogatepass")
        if version == "v1" and hmac.compare_digest(given, expected):
            return True
    return False


def _first_error(exc: ValidationError, prefix: str = "") -> str:
    err = exc.errors()[0]
    where = ".".join([prefix, *(str(p) for p in err["loc"])] if prefix else map(str, err["loc"]))
    return one_line(f"not a PagerDuty V3 webhook: {where}: {err['msg']}")


def parse(body: bytes) -> Delivery | Rejected:
    try:
        raw = load_json(body)
    except NotJSON:
        return Rejected(400, "body is not JSON")
    if not isinstance(raw, dict):
        return Rejected(400, "body must be a JSON object")
    try:
        delivery = Delivery.model_validate(raw)
    except ValidationError as exc:
        return Rejected(400, _first_error(exc))
    event = delivery.event
    shape = IncidentData if event.data.get("type") == "incident" else EventData
    try:
        shape.model_validate(event.data)
    except ValidationError as exc:
        return Rejected(400, _first_error(exc, "event.data"))
    try:
        Reference.model_validate(event.agent or {})
    except ValidationError as exc:
        return Rejected(400, _first_error(exc, "event.agent"))
    return delivery
