"""Slack's request signature, checked on the raw bytes before Bolt sees the request.

Bolt's own check raises on a timestamp that is not a whole number (`abc`, `1e9`, 5,000 digits)
and on a signature that is not ASCII, which the server answers with a 500; anyone can send
those, so a malformed header is refused here as an unsigned request.
"""

from __future__ import annotations

import hashlib
import hmac
import re

# Slack's window: a request signed more than five minutes ago (or ahead) is refused.
WINDOW_SECONDS = 300
# Seconds since 1970 in ASCII digits only ([0-9], not \d: that matches other scripts' digits).
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def signed_timestamp(
    raw: bytes, timestamp: str | None, signature: str | None, secret: str, now: float
) -> int | None:
    """The request's timestamp when Slack signed this body within the window, else None."""
    if timestamp is None or signature is None:
        return None
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return None
    at = int(timestamp)
    if abs(now - at) > WINDOW_SECONDS:
        return None
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return at if hmac.compare_digest(expected, signature) else None
