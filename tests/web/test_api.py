"""The JSON API, the status page, health, readiness and metrics, over real HTTP."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Settings
from bot.web.keys import STORE
from tests.harness.bot import one_line_error

if TYPE_CHECKING:
    from tests.harness.bot import BotFactory, RunningBot

API_TOKEN = "api-token-5be1"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
GENESIS = "0" * 64


async def call(
    bot: RunningBot,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = dict(AUTH if headers is None else headers)
    if data is not None:
        sent["Content-Type"] = "application/json"
    async with await bot.request(method, path, data=data, headers=sent) as resp:
        text = await resp.text()
        assert "Traceback" not in text
        return resp.status, json.loads(text)


async def declare(
    bot: RunningBot, title: str, severity: str = "P2", **extra: Any
) -> dict[str, Any]:
    status, body = await call(
        bot, "POST", "/api/incidents", {"title": title, "severity": severity, **extra}
    )
    assert status == 201, body
    result: dict[str, Any] = body
    return result


@pytest.fixture
async def bot(start_bot: BotFactory, make_settings: Callable[..., Settings]) -> RunningBot:
    return await start_bot(make_settings(INCIDENT_BOT_API_TOKEN=API_TOKEN))


# --- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/incidents", "/api/incidents/1", "/api/incidents/1/timeline", "/api/alerts"]
)
async def test_api_refuses_a_request_without_a_bearer_token(bot: RunningBot, path: str) -> None:
    status, body = await call(bot, "GET", path, headers={})

    assert status == 401
    assert "token" in one_line_error(body)


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {API_TOKEN}x", "Bearer ", f"Basic {API_TOKEN}", API_TOKEN, f"Token {API_TOKEN}"],
)
async def test_api_refuses_a_wrong_token(bot: RunningBot, authorization: str) -> None:
    status, body = await call(
        bot, "GET", "/api/incidents", headers={"Authorization": authorization}
    )

    assert status == 401
    one_line_error(body)


async def test_api_refuses_writes_without_a_token_and_changes_nothing(bot: RunningBot) -> None:
    status, _ = await call(bot, "POST", "/api/incidents", {"title": "sneaky"}, headers={})

    assert status == 401
    _, listed = await call(bot, "GET", "/api/incidents")
    assert listed["incidents"] == []


async def test_api_without_a_configured_token_says_how_to_enable_it(
    start_bot: BotFactory, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(make_settings())

    status, body = await call(bot, "GET", "/api/incidents", headers={"Authorization": "Bearer x"})

    assert status == 401
    assert "INCIDENT_BOT_API_TOKEN" in one_line_error(body)


# --- declare, update, resolve ----------------------------------------------------------------


async def test_declaring_an_incident_returns_201_with_its_fields(bot: RunningBot) -> None:
    incident = await declare(
        bot,
        "Records API returning 502s",
        "P1",
        services=["records"],
        description="error rate 12%",
        declared_by="U123ABC",
    )

    assert incident["id"] == 1
    assert incident["title"] == "Records API returning 502s"
    assert incident["severity"] == "P1"
    assert incident["status"] == "investigating"
    assert incident["services"] == ["records"]
    assert incident["description"] == "error rate 12%"
    assert incident["declared_by"] == "U123ABC"
    assert incident["commander"] == "U123ABC"
    assert incident["declared_at"]
    assert incident["resolved_at"] is None
    status, fetched = await call(bot, "GET", "/api/incidents/1")
    assert status == 200
    assert fetched == incident


async def test_declare_defaults_to_p2_and_normalises_whitespace_in_the_title(
    bot: RunningBot,
) -> None:
    status, body = await call(bot, "POST", "/api/incidents", {"title": "  Slow   exports \n"})

    assert status == 201
    assert body["severity"] == "P2"
    assert body["title"] == "Slow exports"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        pytest.param({"title": "x", "severity": "P9"}, "severity", id="bad-severity"),
        pytest.param({"title": "x", "severity": "critical"}, "severity", id="word-severity"),
        pytest.param({"severity": "P1"}, "title", id="missing-title"),
        pytest.param({"title": ""}, "title", id="empty-title"),
        pytest.param({"title": "   "}, "title", id="blank-title"),
        pytest.param({"title": "x" * 201}, "title", id="title-too-long"),
        pytest.param({"title": 42}, "title", id="title-not-text"),
        pytest.param({"title": "x", "services": "records"}, "services", id="services-not-list"),
        pytest.param({"title": "x", "sev": "P1"}, "sev", id="unknown-field"),
        pytest.param(["title"], "", id="json-array"),
    ],
)
async def test_declare_with_a_bad_body_is_400_with_a_one_line_reason(
    bot: RunningBot, body: Any, named: str
) -> None:
    status, answer = await call(bot, "POST", "/api/incidents", body)

    assert status == 400
    assert named in one_line_error(answer)
    _, listed = await call(bot, "GET", "/api/incidents")
    assert listed["incidents"] == []


@pytest.mark.parametrize("raw", [b"", b"title=x", b"{", b"\xff\xfe"])
async def test_declare_with_a_body_that_is_not_json_is_400_not_500(
    bot: RunningBot, raw: bytes
) -> None:
    status, answer = await call(bot, "POST", "/api/incidents", raw=raw)

    assert status == 400
    assert "JSON" in one_line_error(answer)


async def test_updates_and_resolve_change_the_incident(bot: RunningBot) -> None:
    incident = await declare(bot, "Export timeouts", "P2")
    path = f"/api/incidents/{incident['id']}"

    status, updated = await call(
        bot, "POST", f"{path}/updates", {"text": "Rolled back export-service", "actor": "U1"}
    )
    assert status == 200
    assert updated["status"] == "investigating"

    status, resolved = await call(
        bot, "POST", f"{path}/resolve", {"summary": "Rollback fixed it", "actor": "U1"}
    )
    assert status == 200
    assert resolved["status"] == "resolved"
    assert resolved["summary"] == "Rollback fixed it"
    assert resolved["resolved_at"]

    _, open_list = await call(bot, "GET", "/api/incidents?status=open")
    _, all_list = await call(bot, "GET", "/api/incidents")
    assert open_list["incidents"] == []
    assert [i["id"] for i in all_list["incidents"]] == [incident["id"]]


async def test_an_update_without_text_is_400(bot: RunningBot) -> None:
    incident = await declare(bot, "Ingestion backlog")

    for body in ({}, {"text": ""}, {"text": "   "}):
        status, answer = await call(bot, "POST", f"/api/incidents/{incident['id']}/updates", body)
        assert status == 400, body
        assert "text" in one_line_error(answer)


async def test_resolving_an_incident_twice_is_409(bot: RunningBot) -> None:
    incident = await declare(bot, "Caselaw search down", "P1")
    path = f"/api/incidents/{incident['id']}/resolve"
    first, _ = await call(bot, "POST", path, {"summary": "fixed"})

    status, answer = await call(bot, "POST", path, {"summary": "fixed again"})

    assert first == 200
    assert status == 409
    assert "already" in one_line_error(answer)
    _, timeline = await call(bot, "GET", f"/api/incidents/{incident['id']}/timeline")
    assert [e["kind"] for e in timeline["events"]].count("resolved") == 1


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("GET", "/timeline", None),
        ("POST", "/updates", {"text": "hello"}),
        ("POST", "/resolve", {"summary": "done"}),
    ],
)
@pytest.mark.parametrize("incident_id", ["99", "abc", "1.5", "-1", "99999999999999999999999"])
async def test_an_unknown_or_non_numeric_incident_id_is_404(
    bot: RunningBot, method: str, suffix: str, body: Any, incident_id: str
) -> None:
    await declare(bot, "the only incident")

    status, answer = await call(bot, method, f"/api/incidents/{incident_id}{suffix}", body)

    assert status == 404
    assert "incident" in one_line_error(answer)


@pytest.mark.sqlite_only  # locks the SQLite file
async def test_declaring_while_the_database_is_locked_is_503_and_a_retry_succeeds(
    bot: RunningBot, make_settings: Callable[..., Settings]
) -> None:
    locker = sqlite3.connect(make_settings().database, isolation_level=None, timeout=1)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        async with asyncio.timeout(20):
            status, answer = await call(bot, "POST", "/api/incidents", {"title": "Locked out"})
    finally:
        if locker.in_transaction:
            locker.execute("ROLLBACK")
        locker.close()

    assert status == 503
    assert "retry" in one_line_error(answer)
    retry_status, incident = await call(bot, "POST", "/api/incidents", {"title": "Locked out"})
    assert retry_status == 201
    _, listed = await call(bot, "GET", "/api/incidents")
    assert [i["title"] for i in listed["incidents"]] == ["Locked out"]
    assert incident["id"] == listed["incidents"][0]["id"]


async def test_timeline_lists_events_in_order_with_each_hash_chained_to_the_previous(
    bot: RunningBot,
) -> None:
    incident = await declare(bot, "Signature blocks missing", "P2")
    path = f"/api/incidents/{incident['id']}"
    for text in ("Investigating signature-service", "Found bad config", "Deployed fix"):
        status, _ = await call(bot, "POST", f"{path}/updates", {"text": text})
        assert status == 200
    await call(bot, "POST", f"{path}/resolve", {"summary": "Config reverted"})

    status, timeline = await call(bot, "GET", f"{path}/timeline")

    assert status == 200
    assert timeline["incident_id"] == incident["id"]
    events = timeline["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    # Declaring also records the paging decision, in the background; the rest is in order.
    told = [e for e in events if e["kind"] != "page"]
    assert [e["kind"] for e in told] == [
        "declared",
        "status_update",
        "status_update",
        "status_update",
        "resolved",
    ]
    assert [e["text"] for e in told[1:]] == [
        "Investigating signature-service",
        "Found bad config",
        "Deployed fix",
        "Config reverted",
    ]
    assert events[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(events):
        assert after["prev_hash"] == before["hash"]
    assert len({e["hash"] for e in events}) == len(events)
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)


async def wait_for_event(
    bot: RunningBot, incident_id: int, kind: str, timeout: float = 5.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        _, timeline = await call(bot, "GET", f"/api/incidents/{incident_id}/timeline")
        events = timeline["events"]
        found = [e for e in events if e["kind"] == kind]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    pytest.fail(f"no {kind} event within {timeout}s; timeline: {events}")


async def test_offline_mode_keeps_the_announcement_in_the_timeline_as_undelivered(
    start_bot: BotFactory, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(
        make_settings(INCIDENT_BOT_API_TOKEN=API_TOKEN, SLACK_INCIDENTS_CHANNEL="C_INCIDENTS")
    )

    incident = await declare(bot, "Desktop updates failing", "P1")
    event = await wait_for_event(bot, incident["id"], "slack_undelivered")

    assert "Desktop updates failing" in event["text"]
    assert "#1" in event["text"]
    assert event["data"]["channel"] == "C_INCIDENTS"
    assert event["data"]["method"] == "chat.postMessage"
    assert "offline" in event["data"]["reason"]
    assert event["public"] is False


async def test_offline_mode_keeps_each_update_it_could_not_send(
    start_bot: BotFactory, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(
        make_settings(INCIDENT_BOT_API_TOKEN=API_TOKEN, SLACK_INCIDENTS_CHANNEL="C_INCIDENTS")
    )
    incident = await declare(bot, "Facts service slow", "P2")
    await call(bot, "POST", f"/api/incidents/{incident['id']}/updates", {"text": "Scaling up"})
    await call(bot, "POST", f"/api/incidents/{incident['id']}/resolve", {"summary": "Scaled"})

    deadline = time.monotonic() + 5
    undelivered: list[str] = []
    while time.monotonic() < deadline and len(undelivered) < 3:
        _, timeline = await call(bot, "GET", f"/api/incidents/{incident['id']}/timeline")
        undelivered = [e["text"] for e in timeline["events"] if e["kind"] == "slack_undelivered"]
        await asyncio.sleep(0.05)

    assert len(undelivered) == 3, undelivered
    assert any("Scaling up" in text for text in undelivered)
    assert any("resolved" in text for text in undelivered)


# --- status page -----------------------------------------------------------------------------


async def status_page(bot: RunningBot) -> str:
    async with await bot.request("GET", "/") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        return await resp.text()


async def test_status_page_with_no_incidents_says_all_systems_operational(
    bot: RunningBot,
) -> None:
    html = await status_page(bot)

    assert "FACTSWAY status" in html
    assert "All Systems Operational" in html
    assert "No incidents reported." in html


async def publish(bot: RunningBot, incident_id: int, text: str, title: str) -> None:
    body = {"text": text, "public": True, "public_title": title, "impact": "partial_outage"}
    await call(bot, "POST", f"/api/incidents/{incident_id}/updates", body)


async def test_status_page_shows_open_incidents_with_public_updates_and_resolved_history(
    start_bot: BotFactory, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(
        make_settings(INCIDENT_BOT_API_TOKEN=API_TOKEN, SLACK_INCIDENTS_CHANNEL="C_INCIDENTS")
    )
    ongoing = await declare(bot, "Exhibit uploads failing", "P1")
    await publish(bot, ongoing["id"], "Fix is being deployed", "Exhibit uploads failing")
    past = await declare(bot, "Caption builder slow", "P3")
    await publish(bot, past["id"], "Looking into it", "Captions are slow")
    await call(bot, "POST", f"/api/incidents/{past['id']}/resolve", {"summary": "Cache warmed"})
    await wait_for_event(bot, ongoing["id"], "slack_undelivered")

    html = await status_page(bot)

    assert "Ongoing incidents" in html
    current, _, history = html.partition("Past incidents")
    assert "Exhibit uploads failing" in current
    assert "Fix is being deployed" in current
    assert "Captions are slow" not in current
    assert "Captions are slow" in history
    assert "This incident has been resolved." in history
    assert "Cache warmed" not in html  # the resolve summary is internal
    # Internal events (the undelivered Slack copy) are not public.
    assert ":rotating_light:" not in html


async def test_status_page_escapes_html_in_incident_titles_and_updates(bot: RunningBot) -> None:
    incident = await declare(bot, "Exports down", "P1")
    await publish(
        bot, incident["id"], "<img src=x onerror=1>", "<script>alert('x')</script> outage"
    )

    html = await status_page(bot)

    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; outage" in html
    assert "&lt;img src=x onerror=1&gt;" in html


# --- health, readiness, metrics --------------------------------------------------------------


async def test_healthz_answers_200(bot: RunningBot) -> None:
    async with await bot.request("GET", "/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ok"


async def test_readyz_names_every_integration_and_its_state(bot: RunningBot) -> None:
    async with await bot.request("GET", "/readyz", headers=AUTH) as resp:
        assert resp.status == 200
        body = await resp.json()

    assert body["status"] == "ready"
    integrations = body["integrations"]
    for name in (
        "slack",
        "alertmanager_webhook",
        "pagerduty",
        "kubernetes",
        "prometheus",
        "platform_database",
        "sentry",
        "desktop_updates",
        "api",
        "store",
    ):
        assert name in integrations, name
        assert integrations[name]["state"] in {"configured", "missing", "invalid", "ok", "down"}
        assert integrations[name]["detail"]
    assert integrations["store"]["state"] == "ok"
    assert integrations["api"]["state"] == "configured"
    for missing in ("slack", "alertmanager_webhook", "pagerduty", "kubernetes", "prometheus"):
        assert integrations[missing]["state"] == "missing", missing
    assert "SLACK_BOT_TOKEN" in integrations["slack"]["detail"]


async def test_readyz_names_the_store_backend_and_what_this_replica_does(bot: RunningBot) -> None:
    async def store_role(headers: dict[str, str]) -> dict[str, Any]:
        async with await bot.request("GET", "/readyz", headers=headers) as resp:
            assert resp.status == 200
            role: dict[str, Any] = (await resp.json())["store"]
            return role

    async with asyncio.timeout(10):  # the lease is taken just after start
        while (detailed := await store_role(AUTH))["role"] != "leader":
            await asyncio.sleep(0.05)
    backend = bot.app[STORE].backend  # the tests' --store
    assert detailed["backend"] == backend
    assert detailed["epoch"] >= 1 and detailed["replica"]
    assert {"outbox-sender", "alert-threads", "reminders"} <= set(detailed["work"])
    # Anonymous callers learn the backend and the role, not the host name of the replica.
    assert await store_role({}) == {"backend": backend, "role": "leader"}


async def test_readyz_reports_an_invalid_setting_without_failing_readiness(
    start_bot: BotFactory, make_settings: Callable[..., Settings]
) -> None:
    bot = await start_bot(
        make_settings(
            PROMETHEUS_URL="not a url",
            UPDATES_BUCKET="factsway-updates",
            INCIDENT_BOT_API_TOKEN=API_TOKEN,
        )
    )

    async with await bot.request("GET", "/readyz", headers=AUTH) as resp:
        assert resp.status == 200
        integrations = (await resp.json())["integrations"]

    assert integrations["prometheus"]["state"] == "invalid"
    assert "PROMETHEUS_URL" in integrations["prometheus"]["detail"]
    assert integrations["desktop_updates"]["state"] == "invalid"
    assert integrations["api"]["state"] == "configured"


async def test_readyz_tells_an_anonymous_caller_states_but_no_paths_or_errors(
    start_bot: BotFactory, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "secret-place" / "kubeconfig.yaml"
    kubeconfig.parent.mkdir()
    kubeconfig.write_text("clusters: [ {name: prod, cluster: {server: https://10.0.0.1\n")
    bot = await start_bot(
        make_settings(KUBECONFIG=str(kubeconfig), INCIDENT_BOT_API_TOKEN=API_TOKEN)
    )

    async with await bot.request("GET", "/readyz") as resp:
        assert resp.status == 200
        anonymous = await resp.text()
    async with await bot.request("GET", "/readyz", headers=AUTH) as resp:
        assert resp.status == 200
        authenticated = await resp.text()

    assert "secret-place" in authenticated  # the operator still sees what is wrong
    assert "secret-place" not in anonymous
    assert "10.0.0.1" not in anonymous
    public = json.loads(anonymous)
    assert public["status"] == "ready"
    assert public["integrations"]["platform"]["state"] == "invalid"
    assert public["integrations"]["store"]["state"] == "ok"


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


async def test_metrics_expose_requests_latency_webhooks_outbox_and_slack_calls(
    bot: RunningBot,
) -> None:
    async with await bot.request("GET", "/healthz") as resp:
        assert resp.status == 200
    payload = {
        "version": "4",
        "groupKey": "g1",
        "status": "firing",
        "receiver": "incident-bot",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "X"},
                "startsAt": "2024-05-01T10:00:00Z",
                "fingerprint": "m1",
            }
        ],
    }
    async with await bot.request("POST", "/webhooks/alertmanager", json=payload) as resp:
        assert resp.status == 200
    async with await bot.request("POST", "/webhooks/alertmanager", data=b"nope") as resp:
        assert resp.status == 400

    async with await bot.request("GET", "/metrics") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()

    found = samples(text)
    requests = found["incident_bot_http_requests_total"]
    assert ({"route": "/healthz", "method": "GET", "status": "200"}, 1.0) in requests
    assert any(
        labels["route"] == "/webhooks/alertmanager" and labels["status"] == "400"
        for labels, _ in requests
    )
    assert any(
        labels["route"] == "/healthz"
        for labels, _ in found["incident_bot_http_request_duration_seconds_count"]
    )
    webhooks = found["incident_bot_webhooks_total"]
    assert ({"source": "alertmanager", "outcome": "stored"}, 1.0) in webhooks
    assert ({"source": "alertmanager", "outcome": "rejected_400"}, 1.0) in webhooks
    assert found["incident_bot_outbox_depth"] == [({}, 0.0)]
    assert found["incident_bot_outbox_oldest_age_seconds"] == [({}, 0.0)]
    assert "# TYPE incident_bot_slack_api_calls_total counter" in text


async def test_every_status_update_is_in_the_post_mortem_timeline(bot: RunningBot) -> None:
    incident = await declare(bot, "Records API returning 5xx", "P1")
    for text in ("Investigating the records pods", "Pods restarted, error rate back to baseline"):
        status, body = await call(
            bot, "POST", f"/api/incidents/{incident['id']}/updates", {"text": text}
        )
        assert status == 200, body
    async with await bot.request(
        "GET", f"/api/incidents/{incident['id']}/postmortem?format=md", headers=AUTH
    ) as resp:
        assert resp.status == 200
        draft = await resp.text()
    timeline = draft[draft.index("## Timeline") : draft.index("## Root Cause")]
    assert "Investigating the records pods" in timeline
    assert "Pods restarted, error rate back to baseline" in timeline
