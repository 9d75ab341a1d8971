"""The API's bearer token (INCIDENT_BOT_API_TOKEN): it opens /api/* and /readyz's detail."""

from __future__ import annotations

import hmac

from aiohttp import web

from bot.web.keys import SETTINGS


def has_api_token(request: web.Request) -> bool:
    token = request.app[SETTINGS].api_token
    if token is None:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Undecodable header bytes arrive as lone surrogates: refused, not a 500.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(errors="surrogatepass"), token.get_secret_value().encode()
    )
