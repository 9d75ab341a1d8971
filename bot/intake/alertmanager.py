"""Alertmanager webhook v4: authentication, validation and the delivery's identity."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from bot.intake import NotJSON, Rejected, load_json, one_line


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    # Compared with the clock and with each other: a time without its offset cannot be.
    starts_at: AwareDatetime = Field(alias="startsAt")
    ends_at: AwareDatetime | None = Field(None, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL")
    fingerprint: str = Field(min_length=1)


class Notification(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    version: Literal["4"]
    group_key: str = Field(alias="groupKey", min_length=1)
    truncated_alerts: int = Field(0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str
    group_labels: dict[str, str] = Field(alias="groupLabels")
    common_labels: dict[str, str] = Field(alias="commonLabels")
    common_annotations: dict[str, str] = Field(alias="commonAnnotations")
    external_url: str = Field(alias="externalURL")
    alerts: list[Alert] = Field(min_length=1)

    def delivery_id(self) -> str:
        """Same notification, same id: Alertmanager re-sends identical payloads on retry."""
        alerts = sorted(
            f"{a.fingerprint}|{a.status}|{a.starts_at.isoformat()}|"
            f"{a.ends_at.isoformat() if a.ends_at else ''}"
            for a in self.alerts
        )
        basis = [self.group_key, self.status, *alerts]
        return hashlib.sha256("\n".join(basis).encode()).hexdigest()


def authorized(header: str | None, token: str | None) -> bool:
    """Bearer token, or basic auth whose password is the token (Alertmanager supports both)."""
    if token is None:
        return True
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        # Undecodable header bytes arrive as lone surrogates (aiohttp decodes with
        # surrogateescape): they compare unequal instead of raising.
        return hmac.compare_digest(value.strip().encode(errors="surrogatepass"), token.encode())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(decoded.partition(":")[2].encode(), token.encode())
    return False


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return one_line(f"{where}: {err['msg']}" if where else str(err["msg"]))


def parse(body: bytes) -> Notification | Rejected:
    try:
        raw = load_json(body)
    except NotJSON as exc:
        return Rejected(400, f"body is not JSON: {exc}")
    if not isinstance(raw, dict):
        return Rejected(400, "body must be a JSON object")
    try:
        return Notification.model_validate(raw)
    except ValidationError as exc:
        return Rejected(400, f"not an Alertmanager v4 webhook: {_first_error(exc)}")
