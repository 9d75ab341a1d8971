"""The public status page, as anyone on the internet gets it (the page, an incident's page, the
Atom feed and the Statuspage-shaped JSON): only what a person published, under headers that
keep a browser from doing more with it than showing it, and cheap to ask again and again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import pytest

from bot.config import Settings
from bot.domain.clock import ManualClock
from bot.web.keys import STATUS_VIEWS
from tests.harness.bot import BotFactory, RunningBot

API_TOKEN = "api-token-status"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
INTERNAL = "db-primary.factsway.internal:5432"
SUMMARY = f"{INTERNAL} /var/lib/postgresql/data at 97%"
SECRET_UPDATE = "Root cause: a bad deploy of export v2.3.1 exhausted the pool"
PUBLIC_UPDATE = "Exports are slower than usual; we are working on it."
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SCHEMA = json.loads((Path(__file__).parent / "statuspage_schema.json").read_text())
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
async def bot(
    start_bot: BotFactory, make_settings: Callable[..., Settings], clock: ManualClock
) -> RunningBot:
    # An alerts channel, so the alert policy runs (offline, its messages are kept, not sent).
    settings = make_settings(INCIDENT_BOT_API_TOKEN=API_TOKEN, SLACK_ALERTS_CHANNEL="C_ALERTS")
    return await start_bot(settings, clock=clock)


async def api(bot: RunningBot, method: str, path: str, body: Any = None, status: int = 0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {**AUTH, "Content-Type": "application/json"}
    async with await bot.request(method, path, data=data, headers=headers) as resp:
        if status:
            assert resp.status == status, await resp.text()
        else:
            assert resp.status < 300, await resp.text()
        return await resp.json()


async def get(bot: RunningBot, path: str, status: int = 200) -> str:
    async with await bot.request("GET", path) as resp:
        assert resp.status == status, path
        return await resp.text()


async def readable(bot: RunningBot) -> dict[str, str]:
    """What the public can read, by route: the page, the feed, the JSON, every incident page."""
    listed = json.loads(await get(bot, "/api/v2/incidents.json"))
    routes = ["/", "/feed.atom", "/api/v2/summary.json", "/api/v2/incidents.json"]
    routes += [f"/incidents/{i['id']}" for i in listed["incidents"]]
    return {route: await get(bot, route) for route in [*routes, "/api/v2/status.json"]}


async def everything(bot: RunningBot) -> str:
    return "\n".join((await readable(bot)).values())


async def declare(bot: RunningBot, title: str = "Pool exhaustion on export-service") -> int:
    made = await api(
        bot, "POST", "/api/incidents", {"title": title, "severity": "P1", "services": ["export"]}
    )
    return int(made["id"])


async def publish(bot: RunningBot, incident_id: int, text: str, **fields: Any) -> Any:
    body = {"text": text, "public": True, **fields}
    return await api(bot, "POST", f"/api/incidents/{incident_id}/updates", body)


async def first_public(bot: RunningBot, incident_id: int, impact: str = "partial_outage") -> None:
    await publish(
        bot,
        incident_id,
        PUBLIC_UPDATE,
        public_title="Exports are delayed",
        impact=impact,
        components=["export"],
    )


async def summary(bot: RunningBot) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(await get(bot, "/api/v2/summary.json"))
    return found


def component(summary: dict[str, Any], component_id: str) -> str:
    return str(next(c for c in summary["components"] if c["id"] == component_id)["status"])


async def test_internal_updates_never_reach_the_page_the_feed_or_the_json(
    bot: RunningBot,
) -> None:
    incident_id = await declare(bot)
    await api(bot, "POST", f"/api/incidents/{incident_id}/updates", {"text": SECRET_UPDATE})

    before = await everything(bot)

    assert SECRET_UPDATE not in before and "Pool exhaustion" not in before
    assert "All Systems Operational" in before  # an unpublished incident is not on the page

    await first_public(bot, incident_id)
    await api(bot, "POST", f"/api/incidents/{incident_id}/updates", {"text": SECRET_UPDATE})
    routes = await readable(bot)
    after = "\n".join(routes.values())

    assert len(routes) == 6  # the incident has its page now
    for route, body in routes.items():
        if route != "/api/v2/status.json":  # the overall status only
            assert PUBLIC_UPDATE in body and "Exports are delayed" in body, route
    assert SECRET_UPDATE not in after and "Pool exhaustion" not in after
    assert "P1" not in await get(bot, "/")


async def test_a_first_public_update_without_a_public_title_is_refused(bot: RunningBot) -> None:
    incident_id = await declare(bot)

    refused = await api(
        bot,
        "POST",
        f"/api/incidents/{incident_id}/updates",
        {"text": PUBLIC_UPDATE, "public": True},
        status=400,
    )

    assert "public title" in refused["error"]
    assert PUBLIC_UPDATE not in await everything(bot)
    timeline = await api(bot, "GET", f"/api/incidents/{incident_id}/timeline")
    assert PUBLIC_UPDATE not in json.dumps(timeline)  # refused before anything was written


async def test_an_auto_declared_incident_shows_nothing_until_a_person_publishes(
    bot: RunningBot,
) -> None:
    incident = await fire_critical_alert(bot)
    assert INTERNAL in incident["title"]  # the incident itself keeps the alert's words

    before = await everything(bot)

    assert INTERNAL not in before and "PostgresDiskFull" not in before
    assert "All Systems Operational" in before

    await publish(
        bot,
        incident["id"],
        "Saving records is slow; we are adding storage.",
        public_title="Saving records is slow",
        impact="degraded_performance",
        components=["records"],
    )
    after = await everything(bot)

    assert "Saving records is slow; we are adding storage." in after
    assert INTERNAL not in after and "/var/lib/postgresql" not in after


async def test_components_follow_the_worst_published_impact_and_recover_on_resolution(
    bot: RunningBot, clock: ManualClock
) -> None:
    first, second = await declare(bot), await declare(bot, "Export workers OOM")
    assert component(await summary(bot), "export") == "operational"

    await first_public(bot, first, impact="degraded_performance")
    assert component(await summary(bot), "export") == "degraded_performance"
    await first_public(bot, second, impact="major_outage")
    state = await summary(bot)
    assert component(state, "export") == "major_outage"
    assert component(state, "records") == "operational"
    assert state["status"] == {"indicator": "critical", "description": "Major System Outage"}

    clock.advance(3600)
    await api(bot, "POST", f"/api/incidents/{second}/resolve", {"summary": SECRET_UPDATE})
    assert component(await summary(bot), "export") == "degraded_performance"
    await api(bot, "POST", f"/api/incidents/{first}/resolve", {})
    state = await summary(bot)

    assert component(state, "export") == "operational"
    assert state["status"]["indicator"] == "none" and state["incidents"] == []
    page = await get(bot, "/")
    assert "All Systems Operational" in page
    assert SECRET_UPDATE not in page  # the resolve summary is internal
    assert "This incident has been resolved." in page
    # History: both resolved incidents under today, and today's bar for export is red.
    past = page.split('id="past"')[1]
    assert past.index("Exports are delayed") < past.index("No incidents reported.")
    assert 'class="b-major_outage" title="2026-12-04: Major outage' in page
    # One hour of major outage in 90 days; the degraded hour counts no downtime.
    assert "99.95% uptime" in page


async def test_the_json_has_statuspage_s_public_shape(bot: RunningBot, clock: ManualClock) -> None:
    resolved, ongoing = await declare(bot), await declare(bot)
    await first_public(bot, resolved)
    await api(bot, "POST", f"/api/incidents/{resolved}/resolve", {})
    await first_public(bot, ongoing, impact="major_outage")
    await publish(bot, ongoing, "A fix is being deployed.", status="monitoring")
    await schedule(bot, NOW + timedelta(days=1))

    for name in ("status.json", "summary.json", "incidents.json"):
        body = json.loads(await get(bot, f"/api/v2/{name}"))
        jsonschema.validate(body, {**SCHEMA, "$ref": f"#/$defs/{name}"})

    listed = json.loads(await get(bot, "/api/v2/incidents.json"))["incidents"]
    assert [i["status"] for i in listed] == ["monitoring", "resolved"]
    assert listed[0]["impact"] == "critical" and listed[1]["resolved_at"] is not None
    assert [u["body"] for u in listed[0]["incident_updates"]] == [
        "A fix is being deployed.",
        PUBLIC_UPDATE,
    ]
    assert listed[0]["shortlink"].endswith(f"/incidents/{listed[0]['id']}")


async def schedule(bot: RunningBot, starts: datetime, hours: int = 2) -> Any:
    return await api(
        bot,
        "POST",
        "/api/maintenances",
        {
            "title": "Database upgrade",
            "body": "Saving may pause for a minute.",
            "components": ["records", "export"],
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=hours)).isoformat(),
        },
        status=201,
    )


async def test_scheduled_maintenance_shows_and_puts_components_under_maintenance(
    bot: RunningBot, clock: ManualClock
) -> None:
    await schedule(bot, NOW + timedelta(hours=1))

    before = await summary(bot)
    assert [m["name"] for m in before["scheduled_maintenances"]] == ["Database upgrade"]
    assert before["scheduled_maintenances"][0]["status"] == "scheduled"
    assert component(before, "records") == "operational"
    assert "Scheduled maintenance" in await get(bot, "/")

    clock.advance(90 * 60)
    during = await summary(bot)

    assert during["scheduled_maintenances"][0]["status"] == "in_progress"
    assert component(during, "records") == "under_maintenance"
    assert component(during, "facts") == "operational"
    assert during["status"]["indicator"] == "maintenance"

    clock.advance(2 * 3600)
    assert (await summary(bot))["scheduled_maintenances"] == []


async def test_a_maintenance_with_a_window_already_over_is_refused(bot: RunningBot) -> None:
    refused = await schedule_raw(bot, NOW - timedelta(hours=3))

    assert "over" in refused["error"]


async def schedule_raw(bot: RunningBot, starts: datetime) -> Any:
    body = {
        "title": "Database upgrade",
        "components": ["records"],
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
    }
    return await api(bot, "POST", "/api/maintenances", body, status=400)


async def test_an_incident_page_is_found_by_its_public_id_only(bot: RunningBot) -> None:
    incident_id = await declare(bot)
    await first_public(bot, incident_id)
    [listed] = json.loads(await get(bot, "/api/v2/incidents.json"))["incidents"]

    page = await get(bot, f"/incidents/{listed['id']}")

    assert "Exports are delayed" in page and PUBLIC_UPDATE in page
    assert len(listed["id"]) >= 16 and str(incident_id) != listed["id"]
    missing = await get(bot, f"/incidents/{incident_id}", status=404)
    assert "No such incident" in missing and '<html lang="en">' in missing
    await get(bot, "/incidents/%00..%2f", status=404)


async def test_the_atom_feed_is_valid_atom_with_an_entry_per_public_update(
    bot: RunningBot,
) -> None:
    incident_id = await declare(bot)
    await first_public(bot, incident_id)
    await publish(bot, incident_id, "Fixed & <monitoring>.", status="monitoring")

    async with await bot.request("GET", "/feed.atom") as resp:
        assert resp.headers["Content-Type"].startswith("application/atom+xml")
        feed = ElementTree.fromstring(await resp.read())

    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated"):
        assert feed.find(f"{ATOM}{required}") is not None
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}content") for e in entries] == [
        "Fixed & <monitoring>.",
        PUBLIC_UPDATE,
    ]
    for entry in entries:
        for required in ("id", "title", "updated"):
            assert entry.findtext(f"{ATOM}{required}")
        link = entry.find(f"{ATOM}link")
        assert link is not None and "/incidents/" in link.attrib["href"]


async def test_control_characters_never_reach_the_html_or_the_feed(bot: RunningBot) -> None:
    incident_id = await declare(bot)
    await publish(
        bot,
        incident_id,
        "fix\x00ed\x08",
        public_title="Exports\x00 de\x1blayed\x7f",
        impact="partial_outage",
    )

    html, feed = await get(bot, "/"), await get(bot, "/feed.atom")

    assert "Exports delayed" in html and "fixed" in html
    ElementTree.fromstring(feed.encode())  # still well-formed XML
    for control in ("\x00", "\x1b", "\x7f", "\x08"):
        assert control not in html and control not in feed


async def test_the_page_is_sent_with_a_policy_that_allows_only_its_own_style(
    bot: RunningBot,
) -> None:
    for path in ("/", "/feed.atom", "/api/v2/summary.json", "/incidents/nope"):
        async with await bot.request("GET", path) as resp:
            policy = resp.headers["Content-Security-Policy"]
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
            assert resp.headers["Cache-Control"].startswith("public, max-age=")
            assert "Server" not in resp.headers
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["style-src"].startswith("'sha256-")  # the inline style, by its hash
        assert "script-src" not in directives  # so default-src 'none' forbids every script


async def test_a_reader_asking_again_gets_304_and_a_flood_reads_the_store_once(
    bot: RunningBot,
) -> None:
    async with await bot.request("GET", "/api/v2/summary.json") as resp:
        etag = resp.headers["ETag"]
        modified = resp.headers["Last-Modified"]
        assert "stale-while-revalidate" in resp.headers["Cache-Control"]
    reads = bot.app[STATUS_VIEWS].reads

    async def again() -> int:
        headers = {"If-None-Match": etag}
        async with await bot.request("GET", "/api/v2/summary.json", headers=headers) as resp:
            assert await resp.read() == b""
            return resp.status

    statuses = await asyncio.gather(*(again() for _ in range(200)))

    assert set(statuses) == {304}
    assert bot.app[STATUS_VIEWS].reads == reads
    headers = {"If-Modified-Since": modified}
    async with await bot.request("GET", "/", headers=headers) as resp:
        assert resp.status == 304
    incident_id = await declare(bot)
    await first_public(bot, incident_id)  # a publication: the next reader sees it at once
    async with await bot.request(
        "GET", "/api/v2/summary.json", headers={"If-None-Match": etag}
    ) as resp:
        assert resp.status == 200
        assert "Exports are delayed" in await resp.text()


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
