"""Clients that misbehave on purpose: they hang up mid-body, send broken framing, trickle bytes
to hold connections open, or read the headers for what software answers. None of it is the
bot's error: no 5xx, no ERROR line, and no connection held for ever."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import HEADER_SECONDS
from bot.config import Settings
from bot.intake.body import BODY_SECONDS
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory, RunningBot
from tests.harness.ports import free_tcp_port, tail

AM_TOKEN = "am-token-hostile"
API_TOKEN = "api-token-hostile"


@pytest.fixture
async def bot(start_bot: BotFactory, make_settings: Callable[..., Settings]) -> RunningBot:
    return await start_bot(
        make_settings(
            ALERTMANAGER_TOKEN=AM_TOKEN,
            INCIDENT_BOT_API_TOKEN=API_TOKEN,
            PAGERDUTY_WEBHOOK_SECRET="pd-secret",
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            # Nothing listens there; a request that never completes makes no Slack call.
            SLACK_API_URL="http://127.0.0.1:9/api/",
        )
    )


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def server_errors(bot: RunningBot) -> dict[str, float]:
    async with await bot.request("GET", "/metrics") as resp:
        text = await resp.text()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            status = sample.labels.get("status", "")
            if sample.name == "incident_bot_http_requests_total" and status.startswith("5"):
                found[sample.labels["route"]] = sample.value
    return found


async def send_raw(
    bot: RunningBot, data: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = bot.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    return reader, writer


GRAFANA_START = b'{"receiver":"incident-bot","status":"firing","orgId":1,"alerts":[{"sta'
AM_START = b'{"version":"4","groupKey":"g","status":"firing","alerts":[{"status":"fi'


@pytest.mark.parametrize(
    ("path", "headers", "start"),
    [
        pytest.param(
            "/webhooks/alertmanager",
            f"Authorization: Bearer {AM_TOKEN}",
            AM_START,
            id="alertmanager",
        ),
        pytest.param(
            "/webhooks/alertmanager",
            f"Authorization: Bearer {AM_TOKEN}",
            GRAFANA_START,
            id="grafana",
        ),
        pytest.param(
            "/webhooks/pagerduty", "X-PagerDuty-Signature: v1=00", b'{"event":{"id"', id="pagerduty"
        ),
        pytest.param(
            "/slack/events",
            "X-Slack-Signature: v0=00",
            b"command=%2Fincident&text=dec",
            id="slack",
        ),
        pytest.param(
            "/api/incidents", f"Authorization: Bearer {API_TOKEN}", b'{"title":"Rec', id="api"
        ),
    ],
)
async def test_a_client_that_hangs_up_mid_body_is_not_an_error(
    bot: RunningBot,
    caplog: pytest.LogCaptureFixture,
    path: str,
    headers: str,
    start: bytes,
) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n{headers}\r\n"
        "Content-Length: 5000\r\n\r\n"
    ).encode()
    _, writer = await send_raw(bot, head + start)
    await asyncio.sleep(0.2)  # the handler is reading the body now
    writer.close()
    await asyncio.sleep(0.5)

    assert await server_errors(bot) == {}
    assert errors_logged(caplog) == []
    async with await bot.request("GET", "/healthz") as resp:
        assert resp.status == 200


@pytest.mark.parametrize(
    "path", ["/webhooks/alertmanager", "/webhooks/pagerduty", "/slack/events", "/api/incidents"]
)
async def test_broken_chunked_framing_is_a_400(bot: RunningBot, path: str) -> None:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {AM_TOKEN if 'webhooks' in path else API_TOKEN}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    reader, writer = await send_raw(bot, head + b'5\r\n{"a":\r\nzz\r\n')
    try:
        async with asyncio.timeout(10):
            status_line = await reader.readline()
    finally:
        writer.close()

    assert status_line.split()[1] == b"400"
    assert await server_errors(bot) == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/api/incidents"),  # 401
        ("GET", "/no/such/page"),  # 404 from aiohttp's router
        ("GET", "/webhooks/pagerduty"),  # 405
        ("POST", "/webhooks/pagerduty"),  # 401
        ("POST", "/slack/events"),  # 401
    ],
)
async def test_no_response_carries_a_server_banner(bot: RunningBot, method: str, path: str) -> None:
    async with await bot.request(method, path) as resp:
        assert "Server" not in resp.headers, resp.headers["Server"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


# --- slow clients against `incident-bot serve` -----------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`incident-bot serve` as `make run` starts it, offline."""
    port = free_tcp_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "INCIDENT_BOT_DATABASE": str(tmp_path / "bot.db"),
    }
    script = Path(sys.executable).with_name("incident-bot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"serve did not start:\n{tail(log_path)}")
                    time.sleep(0.1)
            yield port, log_path
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


SLOW_CONNECTIONS = 5
GIVE_UP = HEADER_SECONDS + BODY_SECONDS + 15


async def held_open(port: int, start: bytes, trickle: bytes) -> float:
    """Seconds until the server closes a connection fed one byte every half second."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    opened = time.monotonic()
    writer.write(start)
    try:
        for byte in trickle:
            try:
                async with asyncio.timeout(0.5):
                    if await reader.read(4096) == b"":
                        break
            except TimeoutError:
                pass
            if time.monotonic() - opened > GIVE_UP:
                break
            writer.write(bytes([byte]))
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.monotonic() - opened


async def test_slow_clients_are_cut_off_and_others_still_get_answers(
    served: tuple[int, Path],
) -> None:
    port, log_path = served
    slow_headers = [
        held_open(port, b"POST /webhooks/pagerduty HTTP/1.1\r\nHost: bot\r\n", b"X" * 10_000)
        for _ in range(SLOW_CONNECTIONS)
    ]
    slow_bodies = [
        held_open(
            port,
            b"POST /webhooks/pagerduty HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json"
            b"\r\nContent-Length: 10000\r\n\r\n",
            b" " * 10_000,
        )
        for _ in range(SLOW_CONNECTIONS)
    ]
    trickling = asyncio.gather(*slow_headers, *slow_bodies)

    await asyncio.sleep(1)
    answered = await asyncio.to_thread(
        lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status
    )
    held = await trickling

    assert answered == 200
    headers_held, bodies_held = held[:SLOW_CONNECTIONS], held[SLOW_CONNECTIONS:]
    assert max(headers_held) < HEADER_SECONDS + 3, headers_held
    assert max(bodies_held) < BODY_SECONDS + 3, bodies_held
    assert logged_errors(log_path) == []


def logged_errors(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if json.loads(line).get("level") in ("error", "critical")]


MALFORMED = [
    b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: bot\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'5\r\n{"a":\r\nzz\r\n',
    b"POST /webhooks/pagerduty HTTP/1.1\r\nHost: bot\r\nContent-Type: a\r\nContent-Type: b\r\n"
    b"Content-Length: 2\r\n\r\n{}",
    b"GET / HTTP/1.1\r\nHost: bot\r\nBad Header Name: x\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: bot\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello to the plain port
    b"GET / HTTP/1.1\r\nHost: bot\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n",
]


async def test_a_request_the_server_cannot_parse_is_refused_without_an_error_line(
    served: tuple[int, Path],
) -> None:
    port, log_path = served
    for request in MALFORMED:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        try:
            async with asyncio.timeout(10):
                answer = await reader.read(100)
        finally:
            writer.close()
        if answer:
            status = int(answer.split()[1])
            assert 400 <= status < 500, (request[:60], answer)
    await asyncio.sleep(0.5)

    assert logged_errors(log_path) == []
