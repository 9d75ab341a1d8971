"""The JSON API under /api/, for tools and scripts that do not go through Slack."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated, Any

from aiohttp import web
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from bot.domain.incident import Incident, Severity, Status
from bot.domain.incident_json import event_json, incident_json
from bot.domain.problem import Problem
from bot.intake import Rejected, one_line
from bot.intake.body import read_body
from bot.services.postmortems.drafts import CONTENT_TYPES, FORMATS
from bot.services.publication import UNPUBLISHABLE, PublicRequest
from bot.store.base import StoreUnavailable
from bot.web.auth import has_api_token
from bot.web.keys import LIFECYCLE, POSTMORTEMS, SETTINGS, STORE

MAX_PAGE = 500
PUBLIC_PREFIX = "/api/v2/"
MAX_ID = 2**63 - 1  # SQLite's largest INTEGER; a bigger id cannot name an incident
MAX_ERROR = 1000
_CURSOR = re.compile(r"[0-9]{1,19}")


def _error(status: int, message: str) -> web.Response:
    # One line, whatever the request held: an unknown service or an extra key is quoted.
    return web.json_response({"error": one_line(message, MAX_ERROR)}, status=status)


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=json.dumps({"error": one_line(message, MAX_ERROR)}), content_type="application/json"
    )


class _Unread(Exception):
    """The body never arrived whole (too big, too slow, the client gone)."""

    def __init__(self, rejected: Rejected) -> None:
        self.rejected = rejected


@web.middleware
async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
    # /api/v2/ is the public status page's Statuspage-shaped JSON: no token, like the page.
    if not request.path.startswith("/api/") or request.path.startswith(PUBLIC_PREFIX):
        response: web.StreamResponse = await handler(request)
        return response
    if request.app[SETTINGS].api_token is None:
        return _error(401, "the API is disabled: set INCIDENT_BOT_API_TOKEN to enable it")
    if not has_api_token(request):
        return _error(401, "missing or wrong bearer token")
    try:
        response = await handler(request)
    except StoreUnavailable:
        return _error(503, "the incident store is unavailable; retry shortly")
    except _Unread as exc:
        return _error(exc.rejected.status, exc.rejected.reason)
    return response


def _incident_id(request: web.Request) -> int:
    try:
        value = int(request.match_info["id"])
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_ID:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no such incident"}), content_type="application/json"
        )
    return value


def _int_query(request: web.Request, name: str, default: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request(f"{name} must be a whole number") from None
    if not 0 <= value <= high:
        raise _bad_request(f"{name} must be between 0 and {high}")
    return value


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    raw = await read_body(request, request.app[SETTINGS].max_body_bytes)
    if isinstance(raw, Rejected):
        raise _Unread(raw)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise _bad_request(f"{where}: {err['msg']}" if where else str(err["msg"])) from None


class DeclareBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    severity: Severity = Severity.P2
    services: list[str] = []
    description: str = ""
    declared_by: str = Field("api", min_length=1)
    # The person leading it; without one the draft asks the review to name them rather than
    # call the API the incident commander.
    commander: str | None = Field(None, min_length=1, max_length=200)


class UpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Stripped first: a blank update is a bad request, not a conflict with the incident.
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=3000)]
    actor: str = Field("api", min_length=1)
    status: Status | None = None
    # Internal unless true; the first public update names the public title and impact.
    public: bool = False
    public_title: str | None = Field(None, max_length=200)
    impact: str | None = Field(None, max_length=40)
    components: list[str] | None = Field(None, max_length=50)


class MaintenanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    body: str = Field("", max_length=3000)
    components: list[str] = Field(min_length=1, max_length=50)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: str = Field("api", min_length=1)


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = Field("", max_length=3000)
    actor: str = Field("api", min_length=1)


async def list_incidents(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status not in (None, "open", "all"):
        return _error(400, "status must be open or all")
    open_only = status == "open"
    incidents = await request.app[STORE].list_incidents(
        open_only=open_only, limit=_int_query(request, "limit", 100, MAX_PAGE)
    )
    return web.json_response({"incidents": [incident_json(i) for i in incidents]})


async def get_incident(request: web.Request) -> web.Response:
    incident = await request.app[STORE].get_incident(_incident_id(request))
    if incident is None:
        return _error(404, "no such incident")
    return web.json_response(incident_json(incident))


async def get_timeline(request: web.Request) -> web.Response:
    incident_id = _incident_id(request)
    if await request.app[STORE].get_incident(incident_id) is None:
        return _error(404, "no such incident")
    events = await request.app[STORE].timeline(incident_id)
    return web.json_response(
        {"incident_id": incident_id, "events": [event_json(e) for e in events]}
    )


async def get_postmortem(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "md")
    kind = next((f for f in FORMATS if f == fmt), None)
    if kind is None:
        return _error(400, f"format must be one of {', '.join(FORMATS)}")
    draft = await request.app[POSTMORTEMS].draft(_incident_id(request))
    if draft is None:
        return _error(404, "no such incident")
    if kind == "png" and draft.chart is None:
        return _error(404, "no metrics chart for this incident (no Prometheus, or no data)")
    # A long timeline takes a good part of a second to lay out in Word: not on the event loop.
    body = await asyncio.to_thread(draft.render, kind)
    content_type = CONTENT_TYPES[kind]
    return web.Response(
        body=body,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{draft.filename(kind)}"',
        },
    )


def _cursor(request: web.Request) -> int | None:
    """`cursor` is the `next` of the page before: the id the listing continues below."""
    raw = request.query.get("cursor")
    if raw is None:
        return None
    if not _CURSOR.fullmatch(raw) or not 1 <= int(raw) <= MAX_ID:
        raise _bad_request("cursor must be the `next` of an earlier page")
    return int(raw)


async def list_alerts(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status not in (None, "firing", "resolved"):
        return _error(400, "status must be firing or resolved")
    limit = _int_query(request, "limit", 100, MAX_PAGE)
    offset = _int_query(request, "offset", 0, 10**9)
    before = _cursor(request)
    # One row more than asked says whether another page follows.
    alerts, total = await request.app[STORE].alert_page(
        status=status, limit=limit + 1, before=before, offset=offset
    )
    more = len(alerts) > limit
    alerts = alerts[:limit]
    following = str(alerts[-1]["id"]) if more and alerts else None
    return web.json_response(
        {"alerts": alerts, "total": total, "limit": limit, "offset": offset, "next": following}
    )


def _result(outcome: Incident | Problem, status: int = 200) -> web.Response:
    if isinstance(outcome, Problem):
        return _error(404 if outcome.message.startswith("no incident") else 409, outcome.message)
    return web.json_response(incident_json(outcome), status=status)


async def declare(request: web.Request) -> web.Response:
    body: DeclareBody = await _body(request, DeclareBody)
    outcome = await request.app[LIFECYCLE].declare(
        body.title,
        body.severity,
        body.declared_by,
        services=tuple(body.services),
        description=body.description,
        commander=body.commander,
    )
    if isinstance(outcome, Problem):
        return _error(400, outcome.message)
    request.app[LIFECYCLE].open_later(outcome)
    return _result(outcome, status=201)


async def post_update(request: web.Request) -> web.Response:
    incident_id = _incident_id(request)
    body: UpdateBody = await _body(request, UpdateBody)
    asked = PublicRequest(
        body.public_title,
        body.impact,
        tuple(body.components) if body.components is not None else None,
    )
    if not body.public and not asked.empty:
        return _error(400, 'public_title, impact and components go with "public": true')
    outcome = await request.app[LIFECYCLE].update(
        incident_id, body.text, body.actor, body.status, public=body.public, request=asked
    )
    if isinstance(outcome, Problem) and outcome.message.startswith(UNPUBLISHABLE):
        return _error(400, outcome.message)
    return _result(outcome)


async def schedule_maintenance(request: web.Request) -> web.Response:
    body: MaintenanceBody = await _body(request, MaintenanceBody)
    outcome = await request.app[LIFECYCLE].publisher.schedule(
        body.title,
        body.body,
        tuple(body.components),
        body.starts_at,
        body.ends_at,
        body.created_by,
    )
    if isinstance(outcome, Problem):
        return _error(400, outcome.message)
    return web.json_response(
        {
            "id": outcome.public_id,
            "title": outcome.title,
            "components": list(outcome.components),
            "starts_at": outcome.starts_at.isoformat(),
            "ends_at": outcome.ends_at.isoformat(),
        },
        status=201,
    )


async def resolve(request: web.Request) -> web.Response:
    incident_id = _incident_id(request)
    body: ResolveBody = await _body(request, ResolveBody)
    return _result(await request.app[LIFECYCLE].resolve(incident_id, body.summary, body.actor))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/incidents", list_incidents)
    app.router.add_post("/api/incidents", declare)
    app.router.add_get("/api/incidents/{id}", get_incident)
    app.router.add_get("/api/incidents/{id}/timeline", get_timeline)
    app.router.add_get("/api/incidents/{id}/postmortem", get_postmortem)
    app.router.add_post("/api/incidents/{id}/updates", post_update)
    app.router.add_post("/api/incidents/{id}/resolve", resolve)
    app.router.add_get("/api/alerts", list_alerts)
    app.router.add_post("/api/maintenances", schedule_maintenance)
