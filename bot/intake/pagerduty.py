"""PagerDuty V3 webhooks: signature verification, validation and the event's identity."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.intake import Rejected


class Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    resource_type: str
    occurred_at: datetime
    agent: dict[str, Any] | None = None
    client: dict[str, Any] | None = None
    data: dict[str, Any]


class Delivery(BaseModel):
    model_config = ConfigDict(extra="allow")

    event: Event


def signature_valid(body: bytes, header: str | None, secret: str | None) -> bool:
    """PagerDuty signs with each active secret: any one `v1=` match is enough."""
    if secret is None:
        return True
    if not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    for part in header.split(","):
        version, _, digest = part.strip().partition("=")
        if version == "v1" and hmac.compare_digest(digest.strip(), expected):
            return True
    return False


def parse(body: bytes) -> Delivery | Rejected:
    try:
        raw = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return Rejected(400, "body is not JSON")
    if not isinstance(raw, dict):
        return Rejected(400, "body must be a JSON object")
    try:
        return Delivery.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return Rejected(400, f"not a PagerDuty V3 webhook: {where}: {err['msg']}")
