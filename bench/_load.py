"""A light asyncio load generator (aiohttp client) and the Alertmanager bodies it sends.

Closed loop: N connections, each sending its next request when the last one is answered,
until a fixed count is done or a deadline passes. Open loop: a steady rate, whatever the
answers' pace, with a cap on requests in flight. Both stop by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bench._harness import SIGNING_SECRET
from tests.fakes.alertmanager_payloads import alert, notification

JSON = {"Content-Type": "application/json"}


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)  # perf_counter at each answer
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    wall: float = 0.0
    sent: int = 0
    began: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    def record(self, status: int, latency: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(latency)
        self.done_at.append(time.perf_counter())

    def rate_by_part(self, began: float, parts: int = 4) -> list[float]:
        """Requests per second in each successive part (by answer order) of the run."""
        done = sorted(self.done_at)
        size = len(done) // parts
        rates, start = [], began
        for k in range(parts):
            chunk = done[k * size : (k + 1) * size]
            if not chunk:
                break
            rates.append(len(chunk) / max(1e-9, chunk[-1] - start))
            start = chunk[-1]
        return rates


def webhook_body(tag: str, i: int, *, alerts: int = 1) -> bytes:
    """An Alertmanager v4 notification for a group of its own: nothing is a duplicate."""
    group = f"{tag}-{i}"
    items = [
        alert(f"{tag}{i:06d}x{k}", alertname=f"BenchIngest{i % 50:02d}", instance=f"{group}-{k}")
        for k in range(alerts)
    ]
    return json.dumps(notification(group, items, alertname=f"BenchIngest{i % 50:02d}")).encode()


def session(connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30), trust_env=False
    )


async def closed_loop(
    url: str,
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    deadline_s: float,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    result = LoadResult()
    counter = itertools.count()
    stop_at = time.monotonic() + deadline_s
    hdrs = {**JSON, **(headers or {})}

    async with session(concurrency) as http:

        async def worker() -> None:
            while time.monotonic() < stop_at:
                i = next(counter)
                if i >= len(bodies):
                    return
                t0 = time.perf_counter()
                try:
                    async with http.post(url, data=bodies[i], headers=hdrs) as resp:
                        await resp.read()
                        result.record(resp.status, time.perf_counter() - t0)
                except (aiohttp.ClientError, TimeoutError):
                    result.errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.wall = time.perf_counter() - began
        result.began = began
    result.sent = result.ok + result.errors + sum(n for s, n in result.statuses.items() if s != 200)
    return result


async def get_loop(
    url: str, *, concurrency: int, seconds: float, headers: dict[str, str] | None = None
) -> LoadResult:
    """GET `url` on `concurrency` connections, each asking again once answered, for `seconds`:
    readers of a page, as many as the connections, none waiting between reads."""
    result = LoadResult()
    stop_at = time.monotonic() + seconds

    async with session(concurrency) as http:

        async def reader() -> None:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                try:
                    async with http.get(url, headers=headers) as resp:
                        await resp.read()
                        result.record(resp.status, time.perf_counter() - t0)
                except (aiohttp.ClientError, TimeoutError):
                    result.errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(reader() for _ in range(concurrency)))
        result.wall = time.perf_counter() - began
        result.began = began
    result.sent = len(result.latencies) + result.errors
    return result


async def open_loop(
    http: aiohttp.ClientSession,
    url: str,
    make_body: Callable[[int], bytes],
    *,
    rate: float,
    duration_s: float,
    max_in_flight: int = 64,
    stop: asyncio.Event | None = None,
) -> LoadResult:
    """`rate` requests per second for `duration_s` (or until `stop` is set)."""
    result = LoadResult()
    in_flight: set[asyncio.Task[None]] = set()
    interval = 1.0 / rate

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        try:
            async with http.post(url, data=make_body(i), headers=JSON) as resp:
                await resp.read()
                result.record(resp.status, time.perf_counter() - t0)
        except (aiohttp.ClientError, TimeoutError):
            result.errors += 1

    began = time.monotonic()
    i = 0
    while time.monotonic() - began < duration_s and not (stop is not None and stop.is_set()):
        due = began + i * interval
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) < max_in_flight:
            task = asyncio.create_task(one(i))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            result.sent += 1
        i += 1
    if in_flight:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*in_flight, return_exceptions=True), 30)
    result.wall = time.monotonic() - began
    return result


def signed_slash_command(command: str, text: str, *, n: int = 0) -> tuple[bytes, dict[str, str]]:
    """A slash command as Slack sends it over HTTP, signed with the bot's signing secret."""
    body = urlencode(
        {
            "token": "unused",
            "team_id": "T1",
            "team_domain": "acme",
            "channel_id": "C_ALERTS",
            "channel_name": "alerts",
            "user_id": "U1",
            "user_name": "alice",
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "response_url": "http://127.0.0.1:9/response",
            "trigger_id": f"1.2.{n}",
        }
    )
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256)
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return body.encode(), headers


def summary(latencies: Sequence[float]) -> dict[str, Any]:
    from bench._harness import percentile

    if not latencies:
        return {"n": 0}
    return {
        "n": len(latencies),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
    }
