"""What `incident-bot serve` says when it starts, read from the log of a real serve process:
where it listens, how it talks to Slack, which store, what is not configured, and a warning
for each webhook anyone can call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.services.readiness import integration_states, startup_report
from tests.harness.served import ServedBot


def entries(log: Path) -> list[dict[str, Any]]:
    found = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


def started(log: Path) -> list[dict[str, Any]]:
    return [e for e in entries(log) if "listening on" in e["message"]]


async def test_an_offline_bot_says_where_it_listens_and_that_its_webhooks_are_open(
    tmp_path: Path,
) -> None:
    async with ServedBot(tmp_path) as bot:
        url = bot.url
    [line] = started(bot.log)
    assert line["level"] == "info"
    assert line["address"] == url
    assert line["mode"] == "offline"
    assert line["store"] == f"SQLite at {tmp_path / 'bot.db'}"
    assert f"listening on {url}, offline (no SLACK_BOT_TOKEN" in line["message"]
    assert {"slack", "alertmanager_webhook", "pagerduty", "kubernetes"} <= set(
        line["not_configured"]
    )
    assert "api" not in line["not_configured"]  # the harness sets INCIDENT_BOT_API_TOKEN
    warnings = [e["message"] for e in entries(bot.log) if e["level"] == "warning"]
    assert any(w.startswith("POST /webhooks/alertmanager is unauthenticated") for w in warnings)
    assert any(w.startswith("POST /webhooks/pagerduty is unauthenticated") for w in warnings)


async def test_with_both_webhook_secrets_set_nothing_is_left_open(tmp_path: Path) -> None:
    env = {"ALERTMANAGER_TOKEN": "am-token-1", "PAGERDUTY_WEBHOOK_SECRET": "pd-secret-1"}
    async with ServedBot(tmp_path, env) as bot:
        pass
    [line] = started(bot.log)
    assert "alertmanager_webhook" not in line["not_configured"]
    text = bot.log.read_text()
    assert "unauthenticated" not in text
    assert "am-token-1" not in text and "pd-secret-1" not in text


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "shh"}, "HTTP"),
        ({"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_APP_TOKEN": "xapp-1-A-1-def"}, "Socket Mode"),
    ],
)
def test_the_slack_mode_is_named(env: dict[str, str], mode: str) -> None:
    settings = Settings(**env)  # type: ignore[arg-type]

    report = startup_report(settings, integration_states(settings), "http://0.0.0.0:8080", "1")

    assert report.fields["mode"] == mode
    assert f"listening on http://0.0.0.0:8080, {mode}, store:" in report.message
    assert "slack" not in report.fields["not_configured"]  # type: ignore[operator]


def test_a_postgresql_store_is_named_without_its_credentials() -> None:
    settings = Settings(
        INCIDENT_BOT_DATABASE="postgresql://bot:hunter2@db.internal:5433/incidents?sslmode=require"
    )

    report = startup_report(settings, integration_states(settings), "http://[::]:8080", "1")

    assert report.fields["store"] == "PostgreSQL at db.internal:5433/incidents"
    assert "hunter2" not in report.message and "bot:" not in report.message
