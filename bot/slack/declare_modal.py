"""The declare form, for `/incident declare` with no text."""

from __future__ import annotations

from typing import Any

from bot.config import PlatformConfig
from bot.domain.incident import Severity

CALLBACK_ID = "declare_incident"


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value}


def view(config: PlatformConfig, channel: str) -> dict[str, Any]:
    severities = [
        _option(f"{sev} {config.severities[sev.value].description}", sev.value) for sev in Severity
    ]
    services = [_option(f"{s.name} ({s.deployment})", s.name) for s in config.services][:100]
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": channel,
        "title": {"type": "plain_text", "text": "Declare an incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "title",
                "label": {"type": "plain_text", "text": "What is happening?"},
                "element": {"type": "plain_text_input", "action_id": "value", "max_length": 200},
            },
            {
                "type": "input",
                "block_id": "severity",
                "label": {"type": "plain_text", "text": "Severity"},
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": severities,
                    "initial_option": severities[2],
                },
            },
            {
                "type": "input",
                "block_id": "services",
                "optional": True,
                "label": {"type": "plain_text", "text": "Affected services"},
                "element": {
                    "type": "multi_static_select",
                    "action_id": "value",
                    "options": services,
                },
            },
            {
                "type": "input",
                "block_id": "description",
                "optional": True,
                "label": {"type": "plain_text", "text": "Description"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": 3000,
                },
            },
        ],
    }


def read(values: dict[str, Any]) -> tuple[str, Severity, tuple[str, ...], str]:
    """Title, severity, services and description from a view_submission's state."""
    title = (values.get("title", {}).get("value", {}).get("value") or "").strip()
    selected = values.get("severity", {}).get("value", {}).get("selected_option") or {}
    severity = Severity.parse(str(selected.get("value", "P2"))) or Severity.P2
    chosen = values.get("services", {}).get("value", {}).get("selected_options") or []
    services = tuple(str(o["value"]) for o in chosen)
    description = (values.get("description", {}).get("value", {}).get("value") or "").strip()
    return title, severity, services, description
