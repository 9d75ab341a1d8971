"""New Sentry issues of the platform's projects, read through Sentry's web API.

This reads the platform's Sentry (an auth token with ``project:read``); reporting the bot's own
errors is ``bot.observability.error_reporting`` and uses a DSN instead.

Uses ``GET /api/0/projects/{org}/{project}/issues/`` with the search
``is:unresolved firstSeen:-2h`` sorted by date (newest first). Sentry documents this endpoint
as superseded by the organization issues endpoint, but it still answers, and selects projects
by slug, which is what SENTRY_PROJECTS holds.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bot.observability.redaction import scrub_text


class SentryIssuesError(Exception):
    """Sentry could not list issues; the message is one line, without the token."""


def _since(hours: float) -> str:
    """Sentry's relative date for the search: whole hours, or minutes for fractions."""
    if float(hours).is_integer():
        return f"-{int(hours)}h"
    return f"-{max(1, round(hours * 60))}m"


def _seen(value: str) -> datetime:
    """firstSeen as a time; projects' lists are merged by it (precision of the text varies)."""
    try:
        seen = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return seen if seen.tzinfo else seen.replace(tzinfo=UTC)


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _int(value: Any) -> int:
    # Sentry sends "count" as a string (it may exceed a JavaScript number) and userCount
    # as a number.
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class SentryIssues:
    """Lists issues first seen recently in the configured projects."""

    def __init__(
        self, api_url: str, token: str, org: str, projects: list[str], *, timeout: float = 10
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._token = token
        self._org = org
        self._projects = list(projects)
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"<SentryIssues {self._api_url} {self._org}: {', '.join(self._projects)}>"

    def _error(self, text: str) -> SentryIssuesError:
        return SentryIssuesError(scrub_text(_one_line(text), (self._token,)))

    async def new_issues(self, since_hours: float = 2) -> list[dict[str, Any]]:
        """Unresolved issues first seen within the window, newest first, across projects."""
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        params = {
            "query": f"is:unresolved firstSeen:{_since(since_hours)}",
            "sort": "date",
            # No per-issue event-count timelines: only the totals are shown.
            "statsPeriod": "",
        }
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            # Every request ends before the session closes, even when one of them fails.
            pages = await asyncio.gather(
                *(self._project(session, project, params) for project in self._projects),
                return_exceptions=True,
            )
        issues: list[dict[str, Any]] = []
        for page in pages:
            if isinstance(page, BaseException):
                raise page
            issues += page
        issues.sort(key=lambda i: _seen(i["firstSeen"]), reverse=True)
        return issues

    async def _project(
        self, session: aiohttp.ClientSession, project: str, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        url = f"{self._api_url}/api/0/projects/{self._org}/{project}/issues/"
        try:
            async with session.get(url, params=params) as response:
                if response.status != 200:
                    text = await response.text(errors="replace")
                    raise self._error(
                        f"Sentry answered HTTP {response.status} for {self._org}/{project}:"
                        f" {_detail(text)}"
                    )
                body = await response.json(content_type=None)
        except TimeoutError:
            raise self._error(
                f"Sentry did not answer within {self._timeout:g} s for {self._org}/{project}"
            ) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise self._error(
                f"cannot list Sentry issues of {self._org}/{project}: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(body, list):
            raise self._error(f"Sentry sent no issue list for {self._org}/{project}")
        return [
            {
                # Sentry's own field names; count and userCount made numbers.
                "project": project,
                "id": str(issue.get("id", "")),
                "shortId": issue.get("shortId") or "",
                "title": issue.get("title") or "(no title)",
                "culprit": issue.get("culprit") or "",
                "level": issue.get("level") or "error",
                "count": _int(issue.get("count")),
                "userCount": _int(issue.get("userCount")),
                "firstSeen": issue.get("firstSeen") or "",
                "lastSeen": issue.get("lastSeen") or "",
                "permalink": issue.get("permalink") or "",
            }
            for issue in body
            if isinstance(issue, dict)
        ]


def _detail(text: str) -> str:
    """Sentry's error bodies are {"detail": "..."}; anything else is shown as it came."""
    try:
        body = json.loads(text)
    except ValueError:
        return text or "(empty body)"
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])
    return text
