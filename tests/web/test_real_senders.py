"""Bodies other people's software sends (tests/fixtures/): the real Alertmanager's, Grafana's,
Alertmanager's before 0.19, and the biggest groups users run. None may be refused or misread."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.domain.alerts import fingerprint
from tests.fakes.slack_api import FakeSlack
from tests.harness.alerts import TOKEN, block_text, parents, settled
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
API_TOKEN = "api-token"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


async def post(bot: RunningBot, body: bytes) -> tuple[int, dict[str, Any]]:
    async with await bot.request(
        "POST",
        "/webhooks/alertmanager",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def stored_alerts(bot: RunningBot) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        async with await bot.request(
            "GET",
            f"/api/alerts?limit=500&offset={offset}",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        ) as resp:
            page: dict[str, Any] = await resp.json()
        found += page["alerts"]
        offset += len(page["alerts"])
        if not page["alerts"] or offset >= page["total"]:
            return found


async def metric(bot: RunningBot, line_start: str) -> float:
    async with await bot.request("GET", "/metrics") as resp:
        text = await resp.text()
    values = [float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(line_start)]
    return sum(values)


@pytest.fixture
def start(
    start_bot: BotFactory, make_settings: Callable[..., Settings], fake_slack: FakeSlack
) -> Callable[..., Any]:
    async def run(**env: str) -> RunningBot:
        return await start_bot(
            make_settings(
                SLACK_BOT_TOKEN=BOT_TOKEN,
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=fake_slack.url,
                SLACK_ALERTS_CHANNEL="C_ALERTS",
                ALERTMANAGER_TOKEN=TOKEN,
                INCIDENT_BOT_API_TOKEN=API_TOKEN,
                **env,
            )
        )

    return run


# -- size ----------------------------------------------------------------------------------


async def test_a_real_2000_alert_group_of_1_6_mb_is_stored_whole(start: Callable[..., Any]) -> None:
    body = fixture("alertmanager/group-2000-alerts.json")
    assert len(body) > 1024 * 1024  # the old limit refused it and Alertmanager gave up
    bot = await start()

    status, answer = await post(bot, body)

    assert status == 200, answer
    alerts = await stored_alerts(bot)
    assert len(alerts) == 2000
    assert {a["fingerprint"] for a in alerts} == {
        a["fingerprint"] for a in json.loads(body)["alerts"]
    }


async def test_a_body_over_the_limit_is_413_counted_and_logged(
    start: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start(INCIDENT_BOT_MAX_BODY_BYTES=str(1024 * 1024))
    rejected = 'incident_bot_webhooks_total{outcome="rejected_413",source="alertmanager"}'
    before = await metric(bot, rejected)
    caplog.set_level(logging.INFO)

    status, answer = await post(bot, fixture("alertmanager/group-2000-alerts.json"))

    assert status == 413
    assert "INCIDENT_BOT_MAX_BODY_BYTES" in answer["error"] and "\n" not in answer["error"]
    assert await metric(bot, rejected) == before + 1
    [record] = [r for r in caplog.records if r.getMessage() == "webhook rejected"]
    assert record.levelno == logging.WARNING
    assert getattr(record, "status", None) == 413
    assert await stored_alerts(bot) == []


# -- max_alerts ----------------------------------------------------------------------------


async def test_a_group_with_alerts_left_out_is_never_shown_resolved(
    start: Callable[..., Any], fake_slack: FakeSlack
) -> None:
    """Alertmanager showed 3 of 20 (max_alerts: 3); those 3 resolved while the other 17 fire."""
    bot = await start()
    assert (await post(bot, fixture("alertmanager/max-alerts-firing.json")))[0] == 200
    await settled(bot)
    resolved = json.loads(fixture("alertmanager/max-alerts-shown-resolved-others-firing.json"))
    assert resolved["status"] == "resolved" and resolved["truncatedAlerts"] == 17
    assert (await post(bot, json.dumps(resolved).encode()))[0] == 200
    await settled(bot)

    [parent] = parents(fake_slack)
    shown = block_text(parent)
    assert not parent.text.startswith("Resolved")
    assert "17 not shown" in shown
    assert "alert_ack" in shown and "alert_silence" in shown  # still something to act on


# -- senders we used to refuse -------------------------------------------------------------


async def test_alertmanager_before_0_19_without_fingerprints_is_read_as_0_25_would_send_it(
    start: Callable[..., Any],
) -> None:
    old = fixture("alertmanager/pre-0.19-firing.json")
    assert all("fingerprint" not in a for a in json.loads(old)["alerts"])
    real = json.loads(fixture("alertmanager/group-firing.json"))
    bot = await start()

    status, answer = await post(bot, old)

    assert status == 200, answer
    # The fingerprints computed from the labels are the ones the real Alertmanager gives.
    assert sorted(a["fingerprint"] for a in await stored_alerts(bot)) == sorted(
        a["fingerprint"] for a in real["alerts"]
    )
    assert all(fingerprint(a["labels"]) == a["fingerprint"] for a in real["alerts"])


async def test_a_version_we_have_not_seen_is_read_not_refused(start: Callable[..., Any]) -> None:
    body = json.loads(fixture("alertmanager/group-firing.json"))
    body["version"] = "5"
    bot = await start()

    status, answer = await post(bot, json.dumps(body).encode())

    assert status == 200, answer
    assert len(await stored_alerts(bot)) == 2


async def test_grafana_contact_point_becomes_a_thread_with_its_own_links_and_values(
    start: Callable[..., Any], fake_slack: FakeSlack
) -> None:
    bot = await start()

    status, answer = await post(bot, fixture("grafana/contact-point-firing.json"))

    assert status == 200, answer
    await settled(bot)
    [parent] = parents(fake_slack)
    shown = block_text(parent)
    assert "RecordsHighMemory" in parent.text
    # Grafana's silence form for its own alerts, not an Alertmanager URL built from Grafana's.
    assert "https://grafana.example/alerting/silence/new?alertmanager=grafana" in shown
    assert "#/silences/new" not in shown
    assert "viewPanel=4" in shown  # the panel link
    assert "B=0.9123" in shown  # the value that made it fire, readable
    assert await metric(bot, 'incident_bot_webhooks_total{outcome="stored",source="grafana"}') == 1
