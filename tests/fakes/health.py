"""Services' health endpoints: some answer 200, some fail with a reason, some never answer."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class HealthServer:
    """Answers /{service}/health: 200, 503 with a reason, or never (until released)."""

    failing: dict[str, int] = field(default_factory=lambda: {"ingestion": 503})
    silent: set[str] = field(default_factory=lambda: {"export"})
    seen: list[dict[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.seen.append({"name": name, **request.query})
        if name in self.silent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 30)
        if name in self.failing:
            return web.json_response(
                {"status": "down", "postgres": "connection refused"}, status=self.failing[name]
            )
        return web.json_response({"status": "ok"})
