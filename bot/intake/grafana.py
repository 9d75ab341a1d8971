"""Grafana Alerting's webhook contact point: Alertmanager's body (Grafana embeds Alertmanager)
with `version: "1"`, the organization, and per alert its silence, dashboard and panel links and
the values that made it fire. Follows Grafana's "Configure the webhook notifier" page."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from bot.intake import Rejected
from bot.intake.alertmanager import Alert, Notification, first_error


class GrafanaAlert(Alert):
    silence_url: str = Field("", alias="silenceURL")
    dashboard_url: str = Field("", alias="dashboardURL")
    panel_url: str = Field("", alias="panelURL")
    image_url: str = Field("", alias="imageURL")
    # Query refIds to the value each had when the rule was evaluated (numbers, or null).
    values: dict[str, float | int | str | None] | None = None


class GrafanaNotification(Notification):
    org_id: int | None = Field(None, alias="orgId")
    title: str = ""
    state: str = ""
    message: str = ""
    alerts: list[GrafanaAlert] = Field(min_length=1)  # type: ignore[assignment]


def is_grafana(raw: dict[str, Any]) -> bool:
    """Grafana says so with its own payload version and the organization it belongs to."""
    return raw.get("version") == "1" or "orgId" in raw


def validate(raw: dict[str, Any]) -> GrafanaNotification | Rejected:
    try:
        return GrafanaNotification.model_validate(raw)
    except ValidationError as exc:
        return Rejected(400, f"not a Grafana webhook: {first_error(exc)}")
