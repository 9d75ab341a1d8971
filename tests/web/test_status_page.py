"""The public status page, as anyone on the internet gets it: only what a person published,
under headers that keep a browser from doing more with it than showing it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from bot.config import Settings
from tests.harness.bot import BotFactory, RunningBot

API_TOKEN = "api-token-status"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
INTERNAL = "db-primary.factsway.internal:5432"
SUMMARY = f"{INTERNAL} /var/lib/postgresql/data at 97%"


@pytest.fixture
async def bot(start_bot: BotFactory, make_settings: Callable[..., Settings]) -> RunningBot:
    # An alerts channel, so the alert policy runs (offline, its messages are kept, not sent).
    return await start_bot(
        make_settings(INCIDENT_BOT_API_TOKEN=API_TOKEN, SLACK_ALERTS_CHANNEL="C_ALERTS")
    )


async def api(bot: RunningBot, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {**AUTH, "Content-Type": "application/json"}
    async with await bot.request(method, path, data=data, headers=headers) as resp:
        assert resp.status < 300, await resp.text()
        return await resp.json()


async def page(bot: RunningBot) -> str:
    async with await bot.request("GET", "/") as resp:
        assert resp.status == 200
        return await resp.text()


async def fire_critical_alert(bot: RunningBot) -> dict[str, Any]:
    """A critical alert in production, which the bundled config declares an incident for."""
    labels = {
        "alertname": "PostgresDiskFull",
        "severity": "critical",
        "namespace": "factsway-prod",
        "service": "records",
    }
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": SUMMARY},
        "startsAt": "2026-03-01T02:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.factsway.internal/graph",
        "fingerprint": "d1",
    }
    notification = {
        "version": "4",
        "groupKey": '{}:{alertname="PostgresDiskFull"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "incident-bot",
        "groupLabels": {"alertname": "PostgresDiskFull"},
        "commonLabels": labels,
        "commonAnnotations": {"summary": SUMMARY},
        "externalURL": "http://alertmanager.factsway.internal",
        "alerts": [alert],
    }
    async with await bot.request("POST", "/webhooks/alertmanager", json=notification) as resp:
        assert resp.status == 200
    async with asyncio.timeout(20):
        while True:
            listed = (await api(bot, "GET", "/api/incidents"))["incidents"]
            if listed:
                incident: dict[str, Any] = listed[0]
                return incident
            await asyncio.sleep(0.05)


async def test_an_auto_declared_incident_shows_no_alert_text_until_a_person_writes(
    bot: RunningBot,
) -> None:
    incident = await fire_critical_alert(bot)
    assert INTERNAL in incident["title"]  # the incident itself keeps the alert's words

    before = await page(bot)

    assert "1 ongoing incident" in before
    assert INTERNAL not in before
    assert "PostgresDiskFull" not in before
    assert "/var/lib/postgresql" not in before

    await api(
        bot,
        "POST",
        f"/api/incidents/{incident['id']}/updates",
        {"text": "Saving records is slow; we are adding storage."},
    )
    after = await page(bot)

    assert "Saving records is slow; we are adding storage." in after
    assert INTERNAL not in after


async def test_an_incident_a_person_declared_shows_their_title(bot: RunningBot) -> None:
    await api(bot, "POST", "/api/incidents", {"title": "Exports are delayed", "severity": "P2"})

    assert "Exports are delayed" in await page(bot)


async def test_control_characters_never_reach_the_html(bot: RunningBot) -> None:
    declared = await api(
        bot, "POST", "/api/incidents", {"title": "Exports\x00 de\x1blayed\x7f", "severity": "P2"}
    )
    await api(bot, "POST", f"/api/incidents/{declared['id']}/updates", {"text": "fix\x00ed\x08"})

    html = await page(bot)

    assert "Exports delayed" in html
    assert "fixed" in html
    for control in ("\x00", "\x1b", "\x7f", "\x08"):
        assert control not in html


async def test_the_page_is_sent_with_a_policy_that_allows_only_its_own_style(
    bot: RunningBot,
) -> None:
    async with await bot.request("GET", "/") as resp:
        policy = resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "aiohttp" not in resp.headers.get("Server", "")

    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["style-src"].startswith("'sha256-")  # the inline style, by its hash
    assert "script-src" not in directives  # so default-src 'none' forbids every script
