"""Sentry's web API for a project's issues, as GET /api/0/projects/{org}/{project}/issues/
answers it: 401 for a wrong token, 404 for an unknown organization or project."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

SENTRY_TOKEN = "sntrys_" + secrets.token_hex(16)


def sentry_issue(
    project: str, number: int, level: str, first_seen: str, count: str
) -> dict[str, Any]:
    """An issue as GET /api/0/projects/{org}/{project}/issues/ returns it (abridged)."""
    short_id = f"{project.upper()}-{number}"
    return {
        "id": str(4000 + number),
        "shortId": short_id,
        "title": f"TypeError: cannot read 'caseId' of undefined <{number}>",
        "culprit": "app/routes/records.ts in getRecord",
        "permalink": f"https://acme.sentry.io/issues/{4000 + number}/",
        "level": level,
        "status": "unresolved",
        "isUnhandled": True,
        "count": count,  # a string in Sentry's API
        "userCount": 7,
        "firstSeen": first_seen,
        "lastSeen": "2026-01-01T11:59:00.000000Z",
        "project": {"id": "2", "name": project, "slug": project},
        "stats": {},
    }


@dataclass
class FakeSentry:
    issues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        org, project = request.match_info["org"], request.match_info["project"]
        self.requests.append(
            (f"{org}/{project}", dict(request.query), request.headers["Authorization"])
        )
        if request.headers["Authorization"] != f"Bearer {SENTRY_TOKEN}":
            return web.json_response({"detail": "Invalid token"}, status=401)
        if org != "acme" or project not in self.issues:
            return web.json_response(
                {"detail": "The requested resource does not exist"}, status=404
            )
        return web.json_response(self.issues[project])
