"""A local PagerDuty REST API v2 over TLS, for the real `pagerduty` client to talk to.

The client insists on https, so the fake serves TLS with a throwaway certificate authority
(trustme) whose certificate the test trusts through SSL_CERT_FILE.

It refuses what PagerDuty refuses, with PagerDuty's own answers (tests/fixtures/pagerduty/rest,
written from PagerDuty's Errors and Rate Limits pages): a wrong token (401), a request that is
not JSON or not an incident update (400), a From email that is no PagerDuty user (400), an
unknown incident (404), a status change out of a resolved incident (400), and, when a test asks
for it, the rate limit (429 with the ratelimit-* headers).
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pagerduty"
NOT_JSON = object()  # a request body that did not parse


def webhook(event_type: str) -> dict[str, Any]:
    """A V3 webhook delivery as PagerDuty documents it, from tests/fixtures/pagerduty/webhooks."""
    body: dict[str, Any] = json.loads((FIXTURES / "webhooks" / f"{event_type}.json").read_text())
    return body


def rest_answer(name: str) -> web.Response:
    """One of PagerDuty's documented REST answers, from tests/fixtures/pagerduty/rest."""
    answer = json.loads((FIXTURES / "rest" / f"{name}.json").read_text())
    return web.json_response(answer["body"], status=answer["status"], headers=answer["headers"])


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakePagerDuty:
    token: str = "pd-token"
    users: dict[str, str] = field(default_factory=lambda: {"alice@example.com": "PUSER1"})
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    routing_key: str = "pd-routing-key"
    events: list[dict[str, Any]] = field(default_factory=list)
    # escalation policy id -> [(level, name, email)]
    oncall: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    url: str = ""
    ca_file: Path | None = None
    rate_limited: int = 0  # the next this many REST requests are answered 429

    async def start(self, tmp_dir: Path) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.ca_file = tmp_dir / "pagerduty-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        app = web.Application()
        app.router.add_put("/incidents/{id}", self._put_incident)
        app.router.add_post("/v2/enqueue", self._enqueue)
        app.router.add_get("/oncalls", self._oncalls)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.url = f"https://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    def add_incident(self, incident_id: str, status: str = "triggered") -> None:
        self.incidents[incident_id] = {"id": incident_id, "type": "incident", "status": status}

    def rate_limit(self, requests: int = 1) -> None:
        """Answer the next `requests` REST requests as PagerDuty does past its rate limit."""
        self.rate_limited = requests

    @staticmethod
    def _error(status: int, message: str, code: int, *errors: str) -> web.Response:
        error: dict[str, Any] = {"message": message, "code": code}
        if errors:
            error["errors"] = list(errors)
        return web.json_response({"error": error}, status=status)

    @staticmethod
    async def _body(request: web.Request) -> Any:
        if not request.can_read_body:
            return None
        try:
            return json.loads(await request.read())
        except ValueError:
            return NOT_JSON

    def _refused(self, request: web.Request) -> web.Response | None:
        """What PagerDuty answers to any REST request before it looks at what is asked."""
        if request.headers.get("Authorization") != f"Token token={self.token}":
            return rest_answer("401-authentication-failed")
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return rest_answer("429-rate-limit-exceeded")
        return None

    async def _put_incident(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.requests.append(Request("PUT", request.path, dict(request.headers), body))
        if (refused := self._refused(request)) is not None:
            return refused
        if body is NOT_JSON or not isinstance(body, dict):
            return rest_answer("400-invalid-input")
        if request.headers.get("From") not in self.users:
            # PagerDuty acts as the From user: an email it does not know is refused.
            return rest_answer("400-requester-user-not-found")
        incident = self.incidents.get(request.match_info["id"])
        if incident is None:
            return rest_answer("404-not-found")
        update = body.get("incident")
        if not isinstance(update, dict) or update.get("type") not in (
            "incident",
            "incident_reference",
        ):
            return self._error(
                400, "Invalid Input Provided", 2001, "Incident must be an incident reference"
            )
        if update.get("status") not in ("acknowledged", "resolved"):
            return self._error(
                400, "Invalid Input Provided", 2001, "Status must be acknowledged or resolved"
            )
        if incident["status"] == "resolved":
            # A resolved incident stays resolved: neither acknowledged nor resolved again.
            return rest_answer("400-incident-already-resolved")
        incident["status"] = update["status"]
        return web.json_response({"incident": incident})

    async def _enqueue(self, request: web.Request) -> web.Response:
        """Events API v2: validated as PagerDuty does, 202 with the dedup key."""
        event = await self._body(request)
        self.requests.append(Request("POST", request.path, dict(request.headers), event))
        if not isinstance(event, dict):
            # "400 Bad Request - Check that the JSON is valid."
            return web.json_response(
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["Body is not a JSON object"],
                },
                status=400,
            )
        if event.get("routing_key") != self.routing_key:
            return web.json_response(
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["Invalid routing key"],
                },
                status=400,
            )
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            return web.json_response(
                {"status": "invalid event", "errors": ["event_action"]}, status=400
            )
        payload = event.get("payload") or {}
        if action == "trigger" and not (
            payload.get("summary") and payload.get("source") and payload.get("severity")
        ):
            return web.json_response({"status": "invalid event", "errors": ["payload"]}, status=400)
        if action != "trigger" and not event.get("dedup_key"):
            return web.json_response(
                {"status": "invalid event", "errors": ["dedup_key"]}, status=400
            )
        self.events.append(event)
        key = event.get("dedup_key") or f"key-{len(self.events)}"
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": key}, status=202
        )

    async def _oncalls(self, request: web.Request) -> web.Response:
        self.requests.append(Request("GET", request.path_qs, dict(request.headers), None))
        if (refused := self._refused(request)) is not None:
            return refused
        wanted = request.query.getall("escalation_policy_ids[]", [])
        found = []
        for policy, people in self.oncall.items():
            if wanted and policy not in wanted:
                continue
            for level, name, email in people:
                found.append(
                    {
                        "escalation_policy": {
                            "id": policy,
                            "summary": f"Policy {policy}",
                            "type": "escalation_policy_reference",
                        },
                        "escalation_level": level,
                        "user": {
                            "id": f"P{name.upper()}",
                            "name": name,
                            "email": email,
                            "type": "user",
                            "summary": name,
                        },
                    }
                )
        offset = int(request.query.get("offset", 0))
        limit = int(request.query.get("limit", 25))
        page = found[offset : offset + limit]
        return web.json_response(
            {
                "oncalls": page,
                "limit": limit,
                "offset": offset,
                "more": offset + limit < len(found),
                "total": None,
            }
        )
