"""HTTP health checks: one GET, its status and how long it took; failures are results."""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp

DETAIL_LIMIT = 200


@dataclass(frozen=True)
class HealthResult:
    url: str
    status: int | None  # None: no HTTP answer at all
    ok: bool
    latency_ms: float
    detail: str  # "HTTP 200", the start of an error body, or the connection error


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= DETAIL_LIMIT else line[: DETAIL_LIMIT - 1] + "…"


class HealthChecker:
    """Checks health endpoints; never raises for a service that is down, it reports it."""

    def __init__(self, timeout: float = 5) -> None:
        self._timeout = timeout

    async def check(self, url: str) -> HealthResult:
        started = time.monotonic()

        def elapsed() -> float:
            return round((time.monotonic() - started) * 1000, 1)

        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            # A session per check: checks are rare, and nothing is kept open between them.
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url) as response,
            ):
                body = await response.text(errors="replace")
                status = response.status
        except TimeoutError:
            return HealthResult(
                url, None, False, elapsed(), f"no answer within {self._timeout:g} s"
            )
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # Connection refused, DNS failure, TLS, a malformed URL: no HTTP status to show.
            detail = type(exc).__name__ + (f": {exc}" if str(exc) else "")
            return HealthResult(url, None, False, elapsed(), _one_line(detail))
        ok = 200 <= status < 300
        detail = f"HTTP {status}"
        if not ok and body.strip():
            # The body of a failing health check often says which dependency is down.
            detail += f": {body}"
        return HealthResult(url, status, ok, elapsed(), _one_line(detail))
