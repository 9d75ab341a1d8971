"""Headers on every response the app sends: no software versions, and the browser hardening
that a page on the public internet needs (the status page widens the policy for its style)."""

from __future__ import annotations

from aiohttp import web

# Nothing the bot serves loads scripts, frames or other pages' content.
DEFAULT_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


async def harden(request: web.Request, response: web.StreamResponse) -> None:
    # aiohttp announces itself and the Python version; a banner only helps someone choosing an
    # exploit. aiohttp fills in its default before this hook runs, so removing it here sticks.
    response.headers.popall("Server", None)
    response.headers.setdefault("Content-Security-Policy", DEFAULT_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")


def install(app: web.Application) -> None:
    """On response prepare, so it also covers the 404s, 405s and 413s aiohttp raises itself."""
    app.on_response_prepare.append(harden)
