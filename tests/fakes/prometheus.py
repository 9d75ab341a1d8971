"""Prometheus' HTTP query API as Prometheus answers it (GET /api/v1/query for instant vectors,
/api/v1/query_range for matrices), recording what it was asked."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.http import serve


def preset_of(query: str) -> str:
    """Which of the bot's preset queries this PromQL is."""
    if "histogram_quantile" in query:
        return "p95_latency"
    if 'status=~"5.."' in query:
        return "error_rate"
    return "request_rate"


@dataclass
class FakePrometheus:
    # Instant queries: each preset's sample value (as a string, like Prometheus).
    values: dict[str, str] = field(default_factory=dict)
    # Range queries: the value of a query at a Unix time.
    at: Callable[[str, float], str] = lambda query, t: "0"
    empty: bool = False  # no series at all
    nan: bool = False  # series whose every range value is NaN (0/0: no requests)
    error: tuple[int, str, str] | None = None  # status, errorType, error
    queries: list[str] = field(default_factory=list)
    params: list[dict[str, str]] = field(default_factory=list)

    def _asked(self, request: web.Request) -> web.Response | None:
        self.queries.append(request.query["query"])
        self.params.append(dict(request.query))
        if self.error is None:
            return None
        status, kind, message = self.error
        return web.json_response(
            {"status": "error", "errorType": kind, "error": message}, status=status
        )

    async def instant(self, request: web.Request) -> web.Response:
        refused = self._asked(request)
        if refused is not None:
            return refused
        value = self.values[preset_of(request.query["query"])]
        result = [] if self.empty else [{"metric": {}, "value": [1700000000, value]}]
        return web.json_response(
            {"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    async def range(self, request: web.Request) -> web.Response:
        refused = self._asked(request)
        if refused is not None:
            return refused
        q = request.query
        start, end, step = float(q["start"]), float(q["end"]), float(q["step"])
        result: list[dict[str, Any]] = []
        if not self.empty:
            values = []
            t = start
            while t <= end:
                values.append([t, "NaN" if self.nan else self.at(q["query"], t)])
                t += step
            result.append({"metric": {}, "values": values})
        return web.json_response(
            {"status": "success", "data": {"resultType": "matrix", "result": result}}
        )


@contextlib.asynccontextmanager
async def served(fake: FakePrometheus) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/api/v1/query", fake.instant)
    app.router.add_get("/api/v1/query_range", fake.range)
    async with serve(app) as url:
        yield url
