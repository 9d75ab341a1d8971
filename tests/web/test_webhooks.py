"""Webhook intake over real HTTP: Alertmanager v4 and PagerDuty V3, as their senders see it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from bot.config import Settings
from tests.harness.bot import one_line_error

if TYPE_CHECKING:
    from tests.harness.bot import BotFactory, RunningBot
    from tests.harness.plugin import AlertmanagerFactory

AM_TOKEN = "am-webhook-token-4f1c"
API_TOKEN = "api-token-9d2e"
PD_SECRET = "pd-webhook-secret-77ab"
NO_ALERT_END = "0001-01-01T00:00:00Z"


def am_alert(
    fingerprint: str,
    *,
    status: str = "firing",
    alertname: str = "HighErrorRate",
    service: str = "records",
    starts_at: str = "2024-05-01T10:00:00Z",
    ends_at: str = NO_ALERT_END,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": alertname,
            "service": service,
            "severity": "warning",
            "namespace": "factsway-prod",
        },
        "annotations": {"summary": f"{service} error rate above 5%"},
        "startsAt": starts_at,
        "endsAt": ends_at,
        "generatorURL": "http://prometheus.local/graph?g0.expr=up",
        "fingerprint": fingerprint,
    }


def am_notification(
    alerts: list[dict[str, Any]], *, group_key: str = '{}:{alertname="HighErrorRate"}'
) -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "incident-bot",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local:9093",
        "alerts": alerts,
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post_alertmanager(
    bot: RunningBot,
    payload: Any,
    *,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    body = raw if raw is not None else json.dumps(payload).encode()
    sent_headers = {"Content-Type": "application/json"}
    sent_headers.update(bearer(AM_TOKEN) if headers is None else headers)
    async with await bot.request(
        "POST", "/webhooks/alertmanager", data=body, headers=sent_headers
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def list_alerts(bot: RunningBot, query: str = "") -> dict[str, Any]:
    async with await bot.request("GET", f"/api/alerts{query}", headers=bearer(API_TOKEN)) as resp:
        assert resp.status == 200, await resp.text()
        result: dict[str, Any] = await resp.json()
        return result


@pytest.fixture
async def bot(start_bot: BotFactory, make_settings: Callable[..., Settings]) -> RunningBot:
    return await start_bot(
        make_settings(
            ALERTMANAGER_TOKEN=AM_TOKEN,
            INCIDENT_BOT_API_TOKEN=API_TOKEN,
            PAGERDUTY_WEBHOOK_SECRET=PD_SECRET,
        )
    )


# --- Alertmanager: authentication ------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-authorization-header"),
        pytest.param(bearer("not-the-token"), id="wrong-bearer"),
        pytest.param({"Authorization": AM_TOKEN}, id="token-without-scheme"),
        pytest.param(
            {"Authorization": "Basic " + base64.b64encode(b"alertmanager:wrong").decode()},
            id="basic-with-wrong-password",
        ),
        pytest.param({"Authorization": "Basic !!notbase64!!"}, id="basic-garbage"),
    ],
)
async def test_alertmanager_webhook_refuses_missing_or_wrong_token_with_401_json_error(
    bot: RunningBot, headers: dict[str, str]
) -> None:
    status, body = await post_alertmanager(bot, am_notification([am_alert("a1")]), headers=headers)

    assert status == 401
    assert "token" in one_line_error(body)
    assert (await list_alerts(bot))["total"] == 0


async def test_alertmanager_webhook_accepts_basic_auth_whose_password_is_the_token(
    bot: RunningBot,
) -> None:
    basic = base64.b64encode(f"alertmanager:{AM_TOKEN}".encode()).decode()

    status, body = await post_alertmanager(
        bot, am_notification([am_alert("b1")]), headers={"Authorization": f"Basic {basic}"}
    )

    assert status == 200
    assert body["status"] == "stored"
    assert [a["fingerprint"] for a in (await list_alerts(bot))["alerts"]] == ["b1"]


# --- Alertmanager: validation ----------------------------------------------------------------


async def test_alertmanager_webhook_rejects_a_body_that_is_not_json_with_400_saying_so(
    bot: RunningBot,
) -> None:
    status, body = await post_alertmanager(bot, None, raw=b"alertname=HighErrorRate&status=x")

    assert status == 400
    assert "not JSON" in one_line_error(body)


async def test_alertmanager_webhook_rejects_json_that_is_not_an_object(bot: RunningBot) -> None:
    status, body = await post_alertmanager(bot, [am_notification([am_alert("x")])])

    assert status == 400
    assert "object" in one_line_error(body)


@pytest.mark.parametrize(
    ("remove", "field_name"),
    [
        (lambda p: p.pop("groupKey"), "groupKey"),
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts.0.startsAt"),
    ],
    ids=["groupKey", "alerts", "alert-startsAt"],
)
async def test_alertmanager_webhook_rejects_a_payload_missing_a_field_with_400_naming_it(
    bot: RunningBot, remove: Callable[[dict[str, Any]], object], field_name: str
) -> None:
    payload = am_notification([am_alert("m1")])
    remove(payload)

    status, body = await post_alertmanager(bot, payload)

    assert status == 400
    assert field_name in one_line_error(body)
    assert (await list_alerts(bot))["total"] == 0


async def test_a_count_of_unseen_alerts_beyond_any_real_group_is_a_400_not_a_crash(
    bot: RunningBot,
) -> None:
    """Found by the OpenAPI fuzzer: 2**64 in truncatedAlerts overflowed SQLite's INTEGER."""
    payload = am_notification([am_alert("m1")])
    payload["truncatedAlerts"] = 2**64

    status, body = await post_alertmanager(bot, payload)

    assert status == 400
    assert "truncatedAlerts" in one_line_error(body)
    assert (await list_alerts(bot))["total"] == 0


async def test_alertmanager_webhook_rejects_a_body_over_32_mib_with_413(bot: RunningBot) -> None:
    payload = am_notification([am_alert("big")])
    payload["commonAnnotations"] = {"description": "x" * (32 * 1024 * 1024 + 10)}

    async with await bot.request(
        "POST",
        "/webhooks/alertmanager",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **bearer(AM_TOKEN)},
    ) as resp:
        assert resp.status == 413

    assert (await list_alerts(bot))["total"] == 0


# --- Alertmanager: storage, idempotency, listing ---------------------------------------------


async def test_alertmanager_redelivery_is_a_duplicate_and_each_alert_is_listed_once(
    bot: RunningBot,
) -> None:
    payload = am_notification([am_alert("fp-1"), am_alert("fp-2", service="export")])

    first_status, first = await post_alertmanager(bot, payload)
    again_status, again = await post_alertmanager(bot, payload)

    assert (first_status, first["status"]) == (200, "stored")
    assert (again_status, again["status"]) == (200, "duplicate")
    assert first["id"] == again["id"]
    listed = await list_alerts(bot)
    assert listed["total"] == 2
    assert sorted(a["fingerprint"] for a in listed["alerts"]) == ["fp-1", "fp-2"]
    by_fp = {a["fingerprint"]: a for a in listed["alerts"]}
    assert by_fp["fp-2"]["labels"]["service"] == "export"
    assert by_fp["fp-1"]["annotations"]["summary"] == "records error rate above 5%"
    assert by_fp["fp-1"]["status"] == "firing"


async def test_a_resolved_notification_updates_the_stored_alert_instead_of_adding_one(
    bot: RunningBot,
) -> None:
    await post_alertmanager(bot, am_notification([am_alert("fp-r")]))
    resolved = am_alert("fp-r", status="resolved", ends_at="2024-05-01T10:30:00Z")

    status, body = await post_alertmanager(bot, am_notification([resolved]))

    assert (status, body["status"]) == (200, "stored")
    listed = await list_alerts(bot)
    assert listed["total"] == 1
    assert listed["alerts"][0]["status"] == "resolved"


async def test_an_alert_that_fires_again_after_resolving_shows_its_new_start(
    bot: RunningBot,
) -> None:
    await post_alertmanager(bot, am_notification([am_alert("fp-again")]))
    await post_alertmanager(
        bot,
        am_notification([am_alert("fp-again", status="resolved", ends_at="2024-05-01T10:30:00Z")]),
    )

    await post_alertmanager(
        bot, am_notification([am_alert("fp-again", starts_at="2024-05-02T08:00:00Z")])
    )

    [alert] = (await list_alerts(bot))["alerts"]
    assert alert["status"] == "firing"
    assert alert["starts_at"] == "2024-05-02T08:00:00Z"


async def test_alerts_api_filters_by_status_and_paginates_with_a_total(bot: RunningBot) -> None:
    firing = [am_alert(f"f{i}", alertname="DiskFull") for i in range(5)]
    resolved = [
        am_alert(
            f"r{i}", alertname="PodRestarts", status="resolved", ends_at="2024-05-01T11:00:00Z"
        )
        for i in range(3)
    ]
    await post_alertmanager(bot, am_notification(firing, group_key="g-firing"))
    await post_alertmanager(bot, am_notification(resolved, group_key="g-resolved"))

    everything = await list_alerts(bot)
    only_firing = await list_alerts(bot, "?status=firing")
    only_resolved = await list_alerts(bot, "?status=resolved")
    page1 = await list_alerts(bot, "?status=firing&limit=2&offset=0")
    page2 = await list_alerts(bot, "?status=firing&limit=2&offset=2")
    page3 = await list_alerts(bot, "?status=firing&limit=2&offset=4")
    past_end = await list_alerts(bot, "?status=firing&limit=2&offset=10")

    assert everything["total"] == 8
    assert len(everything["alerts"]) == 8
    assert only_firing["total"] == 5
    assert {a["status"] for a in only_firing["alerts"]} == {"firing"}
    assert only_resolved["total"] == 3
    assert {a["fingerprint"] for a in only_resolved["alerts"]} == {"r0", "r1", "r2"}
    for page in (page1, page2, page3, past_end):
        assert page["total"] == 5
        assert page["limit"] == 2
    assert [len(p["alerts"]) for p in (page1, page2, page3, past_end)] == [2, 2, 1, 0]
    assert page2["offset"] == 2
    paged = [a["fingerprint"] for p in (page1, page2, page3) for a in p["alerts"]]
    assert sorted(paged) == ["f0", "f1", "f2", "f3", "f4"]


async def test_paging_by_cursor_during_a_storm_sees_each_alert_once(bot: RunningBot) -> None:
    stored = [am_alert(f"old{i}", alertname="NodeDown") for i in range(250)]
    await post_alertmanager(bot, am_notification(stored, group_key="g-storm"))

    seen: list[str] = []
    waves = 0
    page = await list_alerts(bot, "?limit=100")
    for wave in range(10):
        seen += [a["fingerprint"] for a in page["alerts"]]
        if page["next"] is None:
            break
        # The storm goes on between pages: new alerts land on top of the newest-first list.
        fresh = [am_alert(f"new{wave}-{i}", alertname="PodCrash") for i in range(40)]
        await post_alertmanager(bot, am_notification(fresh, group_key=f"g-wave-{wave}"))
        waves += 1
        page = await list_alerts(bot, f"?limit=100&cursor={page['next']}")

    assert len(seen) == len(set(seen)), "an alert was listed twice"
    assert {f"old{i}" for i in range(250)} <= set(seen), "an alert was skipped"
    assert page["next"] is None
    assert waves == 2
    assert page["total"] == 250 + 40 * waves


async def test_the_last_page_has_no_next_and_a_cursor_keeps_the_status_filter(
    bot: RunningBot,
) -> None:
    firing = [am_alert(f"f{i}", alertname="DiskFull") for i in range(3)]
    resolved = [
        am_alert(f"r{i}", alertname="Gone", status="resolved", ends_at="2024-05-01T11:00:00Z")
        for i in range(3)
    ]
    await post_alertmanager(bot, am_notification(firing, group_key="g-f"))
    await post_alertmanager(bot, am_notification(resolved, group_key="g-r"))

    first = await list_alerts(bot, "?status=firing&limit=2")
    second = await list_alerts(bot, f"?status=firing&limit=2&cursor={first['next']}")
    exact = await list_alerts(bot, "?status=firing&limit=3")

    assert first["next"] is not None
    assert [a["status"] for a in first["alerts"] + second["alerts"]] == ["firing"] * 3
    assert second["next"] is None
    assert exact["next"] is None  # a full last page does not promise another


@pytest.mark.parametrize("cursor", ["abc", "-1", "0", "1.5", "9" * 30, "", "٣"])
async def test_a_cursor_that_is_no_page_s_next_is_a_400(bot: RunningBot, cursor: str) -> None:
    async with await bot.request(
        "GET", "/api/alerts", params={"cursor": cursor}, headers=bearer(API_TOKEN)
    ) as resp:
        assert resp.status == 400
        one_line_error(await resp.json())


@pytest.mark.parametrize(
    "query",
    ["?status=open", "?status=FIRING", "?limit=abc", "?limit=-1", "?offset=x", "?limit=100000"],
)
async def test_alerts_api_rejects_a_bad_query_with_400(bot: RunningBot, query: str) -> None:
    async with await bot.request("GET", f"/api/alerts{query}", headers=bearer(API_TOKEN)) as resp:
        assert resp.status == 400
        one_line_error(await resp.json(content_type=None))


@pytest.mark.sqlite_only  # locks the SQLite file
async def test_alertmanager_webhook_answers_503_while_the_database_is_locked_then_stores_retry(
    bot: RunningBot, make_settings: Callable[..., Settings]
) -> None:
    payload = am_notification([am_alert("locked-1")])
    database = make_settings().database
    locker = sqlite3.connect(database, isolation_level=None, timeout=1)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        async with asyncio.timeout(20):
            status, body = await post_alertmanager(bot, payload)
            # Keep the lock past the store's 5 s busy timeout however fast the answer came.
            await asyncio.sleep(max(0.0, 6.0 - (time.monotonic() - locked_at)))
    finally:
        if locker.in_transaction:
            locker.execute("ROLLBACK")
        locker.close()

    assert status == 503
    one_line_error(body)

    async with asyncio.timeout(20):
        retry_status, retry = await post_alertmanager(bot, payload)
    assert (retry_status, retry["status"]) == (200, "stored")
    listed = await list_alerts(bot)
    assert [a["fingerprint"] for a in listed["alerts"]] == ["locked-1"]


# --- PagerDuty V3 ----------------------------------------------------------------------------


def pd_event(event_id: str = "01DEN4HPBQAAAG05V5QQS1Z4CN") -> dict[str, Any]:
    return {
        "event": {
            "id": event_id,
            "event_type": "incident.triggered",
            "resource_type": "incident",
            "occurred_at": "2024-05-01T10:02:03.169Z",
            "agent": {"html_url": "https://acme.pagerduty.com/users/PLH1HKV", "id": "PLH1HKV"},
            "client": None,
            "data": {
                "id": "PGR0VU2",
                "type": "incident",
                "title": "records-service 5xx above 5%",
                "status": "triggered",
                "urgency": "high",
                "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
            },
        }
    }


def pd_signature(body: bytes, secret: str = PD_SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_pagerduty(
    bot: RunningBot, body: bytes, signature: str | None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-PagerDuty-Signature"] = signature
    async with await bot.request("POST", "/webhooks/pagerduty", data=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_pagerduty_webhook_with_a_valid_signature_is_stored(bot: RunningBot) -> None:
    body = json.dumps(pd_event()).encode()

    status, answer = await post_pagerduty(bot, body, pd_signature(body))

    assert status == 200
    assert answer == {"status": "stored", "id": "01DEN4HPBQAAAG05V5QQS1Z4CN"}


async def test_pagerduty_webhook_accepts_when_only_the_second_of_several_signatures_matches(
    bot: RunningBot,
) -> None:
    body = json.dumps(pd_event("evt-rotated")).encode()
    old_secret = pd_signature(body, secret="the-old-rotated-out-secret")
    header = f"{old_secret}, {pd_signature(body)}"

    status, answer = await post_pagerduty(bot, body, header)

    assert status == 200
    assert answer["status"] == "stored"


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("v1=" + "0" * 64, id="wrong-digest"),
        pytest.param("v0=sig", id="unknown-version"),
        pytest.param("signed-with-another-secret", id="signed-with-another-secret"),
    ],
)
async def test_pagerduty_webhook_refuses_a_missing_or_wrong_signature_with_401(
    bot: RunningBot, signature: str | None
) -> None:
    body = json.dumps(pd_event()).encode()
    if signature == "signed-with-another-secret":
        signature = pd_signature(body, secret="someone-else")

    status, answer = await post_pagerduty(bot, body, signature)

    assert status == 401
    assert "X-PagerDuty-Signature" in one_line_error(answer)


async def test_pagerduty_signature_covers_the_raw_body_so_an_edited_body_is_refused(
    bot: RunningBot,
) -> None:
    body = json.dumps(pd_event()).encode()
    signature = pd_signature(body)
    edited = body.replace(b"triggered", b"resolved")

    status, _ = await post_pagerduty(bot, edited, signature)

    assert status == 401


@pytest.mark.parametrize(
    ("body", "named"),
    [
        pytest.param(b"{not json", "not JSON", id="not-json"),
        pytest.param(b'["event"]', "object", id="not-an-object"),
        pytest.param(b'{"messages": []}', "event", id="no-event"),
        pytest.param(
            json.dumps({"event": {**pd_event()["event"], "id": ""}}).encode(),
            "event.id",
            id="empty-id",
        ),
        pytest.param(
            json.dumps(
                {"event": {k: v for k, v in pd_event()["event"].items() if k != "occurred_at"}}
            ).encode(),
            "event.occurred_at",
            id="no-occurred_at",
        ),
    ],
)
async def test_pagerduty_webhook_rejects_a_malformed_event_with_400_naming_the_problem(
    bot: RunningBot, body: bytes, named: str
) -> None:
    status, answer = await post_pagerduty(bot, body, pd_signature(body))

    assert status == 400
    assert named in one_line_error(answer)


async def test_pagerduty_redelivery_of_the_same_event_id_is_a_duplicate(bot: RunningBot) -> None:
    body = json.dumps(pd_event("evt-dup")).encode()
    # PagerDuty retries with a new body serialisation; the event id is what identifies it.
    body_again = json.dumps(pd_event("evt-dup"), indent=2).encode()

    first = await post_pagerduty(bot, body, pd_signature(body))
    again = await post_pagerduty(bot, body_again, pd_signature(body_again))

    assert first == (200, {"status": "stored", "id": "evt-dup"})
    assert again == (200, {"status": "duplicate", "id": "evt-dup"})


# --- end to end with a real Alertmanager -----------------------------------------------------


async def wait_for_alert(
    bot: RunningBot, alertname: str, status: str, timeout: float = 15.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = [
            a
            for a in (await list_alerts(bot))["alerts"]
            if a["labels"].get("alertname") == alertname
        ]
        if seen and seen[0]["status"] == status:
            return seen[0]
        await asyncio.sleep(0.2)
    pytest.fail(f"no {status} {alertname} alert in /api/alerts within {timeout}s; saw {seen}")


async def test_a_real_alertmanager_delivers_firing_then_resolved_alerts_into_the_store(
    bot: RunningBot, alertmanager_factory: AlertmanagerFactory
) -> None:
    am = alertmanager_factory(bot.url + "/webhooks/alertmanager", bearer_token=AM_TOKEN)
    labels = {
        "alertname": "E2EServiceDown",
        "service": "caselaw",
        "severity": "critical",
        "namespace": "factsway-prod",
    }
    started = datetime.now(UTC) - timedelta(minutes=1)
    await am.post_alerts(
        [
            {
                "labels": labels,
                "annotations": {"summary": "caselaw-service is down"},
                "startsAt": started.isoformat(),
            }
        ]
    )

    firing = await wait_for_alert(bot, "E2EServiceDown", "firing")
    assert firing["labels"] == labels
    assert firing["annotations"]["summary"] == "caselaw-service is down"
    assert firing["fingerprint"]

    await am.post_alerts(
        [
            {
                "labels": labels,
                "annotations": {"summary": "caselaw-service is down"},
                "startsAt": started.isoformat(),
                "endsAt": (datetime.now(UTC) - timedelta(seconds=5)).isoformat(),
            }
        ]
    )

    resolved = await wait_for_alert(bot, "E2EServiceDown", "resolved")
    assert resolved["fingerprint"] == firing["fingerprint"]
    listed = await list_alerts(bot)
    assert listed["total"] == 1
    assert (await list_alerts(bot, "?status=firing"))["total"] == 0
