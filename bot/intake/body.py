"""Reading a request's body from the network: within a deadline, and with every way a sender
can fail (too big, too slow, gone, malformed framing) as a `Rejected`, never an exception."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.intake import Rejected, one_line

# A slow client may not hold a connection for ever: 1.7 MB (a 2,000-alert group) in this
# time needs under 100 kB/s, and the largest body allowed (32 MiB) under 2 MB/s.
BODY_SECONDS = 20.0
# Not a status any client sees (it has gone); nginx's number, so that metrics and logs keep a
# dropped connection apart from the bot's own errors.
CLIENT_GONE = 499
TOO_SLOW = 408


async def read_body(
    request: web.Request, limit: int, *, seconds: float = BODY_SECONDS
) -> bytes | Rejected:
    """The whole body; `limit` is the application's client_max_size, named in the 413."""
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        size = request.content_length or f"more than {limit}"
        return Rejected(
            413,
            f"body of {size} bytes is over the {limit} byte limit (INCIDENT_BOT_MAX_BODY_BYTES)",
        )
    except TimeoutError:
        # Lingering for the rest of a body that trickles in would hold the connection on.
        if request.transport is not None:
            request.transport.close()
        return Rejected(TOO_SLOW, f"the body did not arrive within {seconds:g} s")
    except web.RequestPayloadError as exc:
        # Broken chunked framing or compression: the sender's fault, not the bot's.
        return Rejected(400, one_line(f"the body could not be read: {exc}"))
    except ConnectionResetError:
        return Rejected(CLIENT_GONE, "the client closed the connection before the body ended")
