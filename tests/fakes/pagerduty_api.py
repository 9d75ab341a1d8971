"""A local PagerDuty REST API v2 over TLS, for the real `pagerduty` client to talk to.

The client insists on https, so the fake serves TLS with a throwaway certificate authority
(trustme) whose certificate the test trusts through SSL_CERT_FILE.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web


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

    @staticmethod
    def _error(status: int, message: str, code: int) -> web.Response:
        return web.json_response({"error": {"message": message, "code": code}}, status=status)

    async def _put_incident(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.requests.append(Request("PUT", request.path, dict(request.headers), body))
        if request.headers.get("Authorization") != f"Token token={self.token}":
            return self._error(401, "Unauthorized", 2006)
        if request.headers.get("From") not in self.users:
            # PagerDuty's answer when the From header names nobody it knows.
            return self._error(400, "Requester User Not Found", 2100)
        incident = self.incidents.get(request.match_info["id"])
        if incident is None:
            return self._error(404, "Not Found", 2100)
        update = (body or {}).get("incident") or {}
        if update.get("type") not in ("incident", "incident_reference"):
            return self._error(400, "Invalid Input Provided", 2001)
        if update.get("status") not in ("acknowledged", "resolved"):
            return self._error(400, "Invalid Input Provided", 2001)
        incident["status"] = update["status"]
        return web.json_response({"incident": incident})

    async def _enqueue(self, request: web.Request) -> web.Response:
        """Events API v2: validated as PagerDuty does, 202 with the dedup key."""
        event = await request.json()
        self.requests.append(Request("POST", request.path, dict(request.headers), event))
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
        if request.headers.get("Authorization") != f"Token token={self.token}":
            return self._error(401, "Unauthorized", 2006)
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
