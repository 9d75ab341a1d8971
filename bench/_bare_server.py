"""The yardstick for webhook ingest: a bare aiohttp handler that reads the same body and answers
200, on the same event loop implementation the bot uses, with no parsing and no storage; and
for the status page, the bytes of a page saved from the bot, served as they are.

    python bench/_bare_server.py PORT [ROUTE=FILE ...]
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web


async def webhook(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({"status": "stored", "bytes": len(body)})


async def ready(request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


def static(body: bytes, content_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type, charset="utf-8")

    return handler


def main() -> None:
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/webhooks/alertmanager", webhook)
    app.router.add_get("/readyz", ready)
    for spec in sys.argv[2:]:
        route, _, file = spec.partition("=")
        kind = "application/json" if route.endswith(".json") else "text/html"
        app.router.add_get(route, static(Path(file).read_bytes(), kind))
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
