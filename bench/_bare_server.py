"""The yardstick for webhook ingest: a bare aiohttp handler that reads the same body and answers
200, on the same event loop implementation the bot uses, with no parsing and no storage.

    python bench/_bare_server.py PORT
"""

from __future__ import annotations

import sys

from aiohttp import web


async def webhook(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({"status": "stored", "bytes": len(body)})


async def ready(request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


def main() -> None:
    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/webhooks/alertmanager", webhook)
    app.router.add_get("/readyz", ready)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
