"""The fake PagerDuty refuses what PagerDuty refuses, with PagerDuty's documented answers, to
the real `pagerduty` client (REST API v2 over TLS) and to raw HTTP for bodies no client sends."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pagerduty
import pytest

from tests.fakes.pagerduty_api import FakePagerDuty


@pytest.fixture
async def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakePagerDuty]:
    server = FakePagerDuty()
    await server.start(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
    server.add_incident("PINC1")
    yield server
    await server.stop()


def client(fake: FakePagerDuty, token: str | None = None) -> pagerduty.RestApiV2Client:
    rest = pagerduty.RestApiV2Client(token or fake.token, default_from="alice@example.com")
    rest.url = fake.url
    rest.retry = {429: 1}  # the package would otherwise retry a 429 for ever
    rest.sleep_timer = 0.01
    return rest


async def put_status(
    fake: FakePagerDuty, status: str, *, incident: str = "PINC1", token: str | None = None
) -> dict[str, Any]:
    def call() -> dict[str, Any]:
        with client(fake, token) as rest:
            found = rest.rput(
                f"/incidents/{incident}", json={"type": "incident_reference", "status": status}
            )
            assert isinstance(found, dict)
            return found

    return await asyncio.to_thread(call)


async def refusal(
    fake: FakePagerDuty, status: str, **kw: Any
) -> tuple[int, dict[str, Any], dict[str, str]]:
    with pytest.raises(pagerduty.HttpError) as refused:
        await put_status(fake, status, **kw)
    response = refused.value.response
    assert response is not None
    body: dict[str, Any] = response.json()
    return response.status_code, body, dict(response.headers)


async def test_a_resolved_incident_cannot_be_acknowledged_or_resolved_again(
    fake: FakePagerDuty,
) -> None:
    assert (await put_status(fake, "acknowledged"))["status"] == "acknowledged"
    assert (await put_status(fake, "acknowledged"))["status"] == "acknowledged"  # re-ack is fine
    assert (await put_status(fake, "resolved"))["status"] == "resolved"
    for status in ("acknowledged", "resolved"):
        code, body, _ = await refusal(fake, status)
        assert code == 400
        assert body["error"]["code"] == 2001
        assert body["error"]["errors"] == ["Incident Already Resolved"]
    assert fake.incidents["PINC1"]["status"] == "resolved"


async def test_unknown_incidents_tokens_and_requesters_are_refused(fake: FakePagerDuty) -> None:
    code, body, _ = await refusal(fake, "acknowledged", incident="PNOPE")
    assert (code, body["error"]["code"]) == (404, 2100)
    code, body, _ = await refusal(fake, "acknowledged", token="not-the-token")
    assert (code, body["error"]["code"]) == (401, 2006)
    fake.users.clear()
    code, body, _ = await refusal(fake, "acknowledged")
    assert (code, body["error"]["errors"]) == (400, ["Requester User Not Found"])
    assert fake.incidents["PINC1"]["status"] == "triggered"


async def test_the_rate_limit_is_answered_as_pagerduty_documents_it(fake: FakePagerDuty) -> None:
    fake.rate_limit(requests=2)
    code, body, headers = await refusal(fake, "acknowledged")
    assert code == 429
    assert body == {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
    assert headers["ratelimit-remaining"] == "0" and headers["ratelimit-reset"] == "20"
    assert len(fake.requests) == 2  # the client's one retry was limited too
    assert (await put_status(fake, "acknowledged"))["status"] == "acknowledged"


async def test_a_body_that_is_not_json_is_a_400_with_the_error_object(
    fake: FakePagerDuty,
) -> None:
    assert fake.ca_file is not None
    context = ssl.create_default_context(cafile=str(fake.ca_file))
    headers = {
        "Authorization": f"Token token={fake.token}",
        "From": "alice@example.com",
        "Content-Type": "application/json",
    }
    async with aiohttp.ClientSession() as session:
        async with session.put(
            f"{fake.url}/incidents/PINC1", data=b'{"incident": ', headers=headers, ssl=context
        ) as response:
            assert response.status == 400
            error = (await response.json())["error"]
            assert error["code"] == 2001 and error["errors"]
        async with session.post(
            f"{fake.url}/v2/enqueue", data=b"not json", headers=headers, ssl=context
        ) as response:
            assert response.status == 400
            assert (await response.json())["status"] == "invalid event"
    assert fake.incidents["PINC1"]["status"] == "triggered"
