"""The public status routes: `/`, `/incidents/{public_id}`, `/feed.atom` and the Statuspage-shaped
`/api/v2/*.json`. Only what a person published; cached for a page hammered during an outage
(one store read per publication, conditional GETs answered 304); under headers that let a
browser do nothing with them but show them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from bot.store.base import StoreUnavailable
from bot.web.keys import CLOCK, CONFIG, LIFECYCLE, STATUS_VIEWS, STORE
from bot.web.status_feeds import atom_feed, incidents_json, status_json, summary_json
from bot.web.status_html import POLICY, incident_page, not_found_page, status_page
from bot.web.status_view import Rendered, StatusView, StatusViews

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
# Browsers and shared caches may keep a copy for 15 s and serve it 30 s more while fetching
# the next (and 10 minutes more if the bot cannot answer): an outage's flood of readers
# mostly never reaches the bot.
CACHE_CONTROL = "public, max-age=15, stale-while-revalidate=30, stale-if-error=600"
NOT_FOUND_CACHE = "public, max-age=10"
REFERRER = "strict-origin-when-cross-origin"
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The Host header is the caller's: an absolute link is built only from a plain host name.
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")

Make = Callable[[StatusView, str], bytes]


def _origin(request: web.Request) -> str:
    host = request.host if _HOST.fullmatch(request.host or "") else "localhost"
    return f"{request.scheme}://{host}"


def _not_modified(request: web.Request, rendered: Rendered, view: StatusView) -> bool:
    tags = request.headers.get("If-None-Match")
    if tags is not None:
        return tags.strip() == "*" or rendered.etag in {t.strip() for t in tags.split(",")}
    since = request.headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        asked = parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    return asked.tzinfo is not None and asked >= view.now.replace(microsecond=0)


def _send(
    request: web.Request,
    rendered: Rendered,
    view: StatusView,
    *,
    status: int = 200,
    cache: str = CACHE_CONTROL,
) -> web.Response:
    headers = {
        "Cache-Control": cache,
        "ETag": rendered.etag,
        "Last-Modified": format_datetime(view.now.replace(microsecond=0), usegmt=True),
        "Content-Security-Policy": POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": REFERRER,
    }
    if rendered.content_type != HTML:
        # Statuspage's widgets read its JSON from other sites' pages.
        headers["Access-Control-Allow-Origin"] = "*"
    if status == 200 and _not_modified(request, rendered, view):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = rendered.content_type
    return web.Response(status=status, body=rendered.body, headers=headers)


async def _view(request: web.Request) -> StatusView | None:
    views = request.app[STATUS_VIEWS]
    try:
        return await views.current()
    except StoreUnavailable:
        return views.stale()  # what was last published, while the store cannot answer


def _unavailable() -> web.Response:
    return web.Response(
        status=503,
        text="Status temporarily unavailable.",
        headers={"Retry-After": "5", "Cache-Control": "no-store"},
    )


def _route(
    name: str, make: Make, content_type: str, absolute: bool
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        view = await _view(request)
        if view is None:
            return _unavailable()
        origin = _origin(request) if absolute else ""
        rendered = view.render((name, origin), lambda: (make(view, origin), content_type))
        return _send(request, rendered, view)

    return handler


async def incident(request: web.Request) -> web.Response:
    view = await _view(request)
    if view is None:
        return _unavailable()
    public_id = request.match_info["public_id"]
    found = view.incident(public_id) if PUBLIC_ID.fullmatch(public_id) else None
    if found is None and PUBLIC_ID.fullmatch(public_id):
        try:  # published more than the page's 90 days ago
            found = await request.app[STORE].public_incident(public_id)
        except StoreUnavailable:
            return _unavailable()
    if found is None:
        missing = view.render(("404", ""), lambda: (not_found_page(view), HTML))
        return _send(request, missing, view, status=404, cache=NOT_FOUND_CACHE)
    shown = found
    rendered = view.render(("incident", public_id), lambda: (incident_page(view, shown), HTML))
    return _send(request, rendered, view)


async def _views_ctx(app: web.Application) -> AsyncIterator[None]:
    views = StatusViews(app[STORE], app[CONFIG], app[CLOCK])
    app[STATUS_VIEWS] = views
    app[LIFECYCLE].publisher.listeners.append(views.forget)
    yield


def install(app: web.Application) -> None:
    """After the store's and the lifecycle's cleanup contexts: the views need both."""
    app.cleanup_ctx.append(_views_ctx)
    app.router.add_get("/", _route("page", lambda v, _: status_page(v), HTML, False))
    app.router.add_get("/incidents/{public_id}", incident)
    app.router.add_get("/feed.atom", _route("atom", atom_feed, ATOM, True))
    app.router.add_get("/api/v2/status.json", _route("status", status_json, JSON, True))
    app.router.add_get("/api/v2/summary.json", _route("summary", summary_json, JSON, True))
    app.router.add_get("/api/v2/incidents.json", _route("incidents", incidents_json, JSON, True))
