"""Alertmanager's webhook (v4, and the older bodies before 0.19): authentication, validation
and the delivery's identity. Grafana's webhook contact point sends the same body with more
fields (bot.intake.grafana).

A sender that gets a 4xx drops the notification for good, so a body is refused only when no
sender could have meant it: a version we have not seen is read as v4, and a missing fingerprint
is computed as Alertmanager computes it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.domain.alerts import fingerprint
from bot.intake import NotJSON, Rejected, load_json, one_line

log = logging.getLogger(__name__)
KNOWN_VERSIONS = {"4"}


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    # Compared with the clock and with each other: a time without its offset cannot be.
    starts_at: AwareDatetime = Field(alias="startsAt")
    ends_at: AwareDatetime | None = Field(None, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL")
    # Alertmanager 0.19 added it; before, the alert is known by its labels alone.
    fingerprint: str = ""

    @model_validator(mode="after")
    def _fingerprinted(self) -> Alert:
        if not self.fingerprint:
            self.fingerprint = fingerprint(self.labels)
        return self


class Notification(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    version: str = "4"
    group_key: str = Field(alias="groupKey", min_length=1)
    # Alertmanager's counter is a uint64, but no group holds more alerts than SQLite's INTEGER.
    truncated_alerts: int = Field(0, alias="truncatedAlerts", ge=0, le=2**63 - 1)
    status: Literal["firing", "resolved"]
    receiver: str
    group_labels: dict[str, str] = Field(alias="groupLabels")
    common_labels: dict[str, str] = Field(alias="commonLabels")
    common_annotations: dict[str, str] = Field(alias="commonAnnotations")
    external_url: str = Field(alias="externalURL")
    alerts: list[Alert] = Field(min_length=1)

    def stored(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The body as the store keeps it: as sent, with the fingerprints filled in."""
        for alert, sent in zip(self.alerts, raw["alerts"], strict=True):
            sent["fingerprint"] = alert.fingerprint
        return raw

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


def first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return one_line(f"{where}: {err['msg']}" if where else str(err["msg"]))


def load(body: bytes) -> dict[str, Any] | Rejected:
    try:
        raw = load_json(body)
    except NotJSON as exc:
        return Rejected(400, f"body is not JSON: {exc}")
    if not isinstance(raw, dict):
        return Rejected(400, "body must be a JSON object")
    return raw


def validate(raw: dict[str, Any]) -> Notification | Rejected:
    try:
        notification = Notification.model_validate(raw)
    except ValidationError as exc:
        return Rejected(400, f"not an Alertmanager webhook: {first_error(exc)}")
    if notification.version not in KNOWN_VERSIONS:
        log.info(
            "webhook of an unknown version read as v4",
            extra={"version": one_line(notification.version, 40)},
        )
    return notification


def parse(body: bytes) -> Notification | Rejected:
    raw = load(body)
    return raw if isinstance(raw, Rejected) else validate(raw)
