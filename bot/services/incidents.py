"""The incident lifecycle shared by Slack, the API and the CLI: declare, open the war room and
page, update, change severity and roles, record follow-ups, resolve and close."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.config import PlatformConfig
from bot.domain.clock import Clock
from bot.domain.incident import Incident, NewIncident, Severity, Status
from bot.domain.problem import Problem
from bot.domain.timeline import EventKind, NewEvent
from bot.services.outbox import Outbox
from bot.services.paging import Pager
from bot.services.war_room import WarRoom
from bot.store.base import Store

log = logging.getLogger(__name__)
ROLES = ("commander", "comms", "scribe", "ops", "liaison")


@dataclass(frozen=True)
class Changed:
    """A change made, and what the bot said about it in the incident's channels."""

    incident: Incident
    said: str


def mention(user: str) -> str:
    return f"<@{user}>" if user[:1] in ("U", "W") else user


def announcement_key(incident_id: int) -> str:
    return f"incident:{incident_id}:announcement"


class Lifecycle:
    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        clock: Clock,
        *,
        incidents_channel: str | None,
        config: PlatformConfig | None = None,
        war_room: WarRoom | None = None,
        pager: Pager | None = None,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._clock = clock
        self._incidents_channel = incidents_channel
        self._config = config
        self.war_room = war_room
        self._pager = pager
        self._opening: set[asyncio.Task[list[str]]] = set()

    # declare -------------------------------------------------------------------------------

    async def declare(
        self,
        title: str,
        severity: Severity,
        declared_by: str,
        *,
        services: tuple[str, ...] = (),
        description: str = "",
    ) -> Incident | Problem:
        """Records the incident; `open` does the slow part (channel, invites, paging)."""
        title = " ".join(title.split())
        if not title:
            return Problem("an incident needs a title")
        if len(title) > 200:
            return Problem("the title is over 200 characters")
        if self._config is not None:
            names = []
            for name in services:
                svc = self._config.service(name)
                if svc is None:
                    known = ", ".join(s.name for s in self._config.services)
                    return Problem(f"unknown service `{name}`; known services: {known}")
                names.append(svc.name)
            services = tuple(dict.fromkeys(names))
        return await self._store.create_incident(
            NewIncident(title, severity, declared_by, self._clock.now(), services, description)
        )

    def open_later(self, incident: Incident) -> asyncio.Task[list[str]]:
        """Runs `open` after the caller has answered (Slack wants its ack within 3 s)."""
        task = asyncio.create_task(self.open(incident), name=f"open-incident-{incident.id}")
        self._opening.add(task)
        task.add_done_callback(self._opened)
        return task

    def _opened(self, task: asyncio.Task[list[str]]) -> None:
        self._opening.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("opening the incident failed", exc_info=task.exception())

    async def open(self, incident: Incident) -> list[str]:
        """War room, announcement and paging; returns the problems met, for the declarer."""
        problems: list[str] = []
        # Paging first: a P0 pages even when Slack is slow to create the channel.
        page = await self._pager.apply(incident, incident.declared_by) if self._pager else None
        if self.war_room is not None:
            incident, problems = await self.war_room.open(incident)
        if self._incidents_channel:
            where = f" in <#{incident.channel_id}>" if incident.channel_id else ""
            await self._outbox.post(
                self._incidents_channel,
                f":rotating_light: *{incident.severity}* incident #{incident.id} declared: "
                f"{incident.title} (commander {mention(incident.commander)}){where}",
                message_key=announcement_key(incident.id),
                incident_id=incident.id,
            )
        notes = [
            f"*Incident #{incident.id}: {incident.title}*",
            f"Severity {incident.severity} · Commander {mention(incident.commander)}"
            + (f" · Services: {', '.join(incident.services)}" if incident.services else ""),
        ]
        if page is not None:
            notes.append(page)
        notes.extend(f":warning: {p}" for p in problems)
        notes.append("Post updates with `/incident update <text>`; `/incident help` for the rest.")
        if incident.channel_id:
            await self._outbox.post(incident.channel_id, "\n".join(notes), incident_id=incident.id)
        return problems

    # during --------------------------------------------------------------------------------

    async def _get(self, incident_id: int) -> Incident | Problem:
        incident = await self._store.get_incident(incident_id)
        return incident if incident is not None else Problem(f"no incident #{incident_id}")

    async def update(
        self, incident_id: int, text: str, actor: str, status: Status | None = None
    ) -> Incident | Problem:
        incident = await self._get(incident_id)
        if isinstance(incident, Problem):
            return incident
        text = text.strip()
        if not text:
            return Problem("an update needs some text")
        if status is not None and status != incident.status:
            if not status.is_open:
                return Problem("use `/incident resolve` to resolve")
            incident = await self._store.update_incident(incident_id, status=status)
            if self.war_room is not None:
                await self.war_room.set_topic(incident)
        await self._store.append_event(
            incident_id,
            NewEvent(
                EventKind.STATUS_UPDATE,
                actor,
                text,
                self._clock.now(),
                {"status": str(incident.status)},
                public=True,
                key=text.lower().startswith("root cause"),
            ),
        )
        await self._broadcast(
            incident, f":memo: *Update* on #{incident.id} ({incident.status}): {text}"
        )
        return incident

    async def set_severity(
        self, incident_id: int, severity: Severity, actor: str
    ) -> Changed | Problem:
        incident = await self._get(incident_id)
        if isinstance(incident, Problem):
            return incident
        if severity == incident.severity:
            return Problem(f"#{incident.id} is already {severity}.")
        old = incident.severity
        incident = await self._store.update_incident(incident_id, severity=severity)
        await self._store.append_event(
            incident_id,
            NewEvent(
                EventKind.SEVERITY_CHANGED,
                actor,
                f"severity {old} -> {severity}",
                self._clock.now(),
                {"from": str(old), "to": str(severity)},
                key=True,
            ),
        )
        if self.war_room is not None:
            await self.war_room.set_topic(incident)
        page = await self._pager.apply(incident, actor) if self._pager is not None else ""
        text = f":arrows_counterclockwise: Severity {old} → {severity} by {mention(actor)}."
        await self._broadcast(incident, f"{text} {page}".strip())
        return Changed(incident, text)

    async def set_role(
        self, incident_id: int, role: str, user: str, actor: str
    ) -> Changed | Problem:
        incident = await self._get(incident_id)
        if isinstance(incident, Problem):
            return incident
        role = role.lower()
        if role not in ROLES:
            return Problem(f"unknown role `{role}`; roles: {', '.join(ROLES)}")
        roles = {**incident.roles, role: user}
        changes: dict[str, object] = {"roles": roles}
        if role == "commander":
            changes["commander"] = user
        incident = await self._store.update_incident(incident_id, **changes)
        await self._store.append_event(
            incident_id,
            NewEvent(
                EventKind.ROLE_CHANGED,
                actor,
                f"{role}: {user}",
                self._clock.now(),
                {"role": role, "user": user},
                key=role == "commander",
            ),
        )
        if self.war_room is not None:
            await self.war_room.invite(incident, [user])
            if role == "commander":
                await self.war_room.set_topic(incident)
        text = f":bust_in_silhouette: {mention(user)} is now {role} (set by {mention(actor)})."
        if incident.channel_id:
            await self._outbox.post(incident.channel_id, text, incident_id=incident.id)
        return Changed(incident, text)

    async def add_follow_up(
        self, incident_id: int, text: str, owner: str | None, actor: str
    ) -> Changed | Problem:
        incident = await self._get(incident_id)
        if isinstance(incident, Problem):
            return incident
        if not text.strip():
            return Problem("a follow-up needs some text")
        await self._store.append_event(
            incident_id,
            NewEvent(EventKind.FOLLOW_UP, actor, text.strip(), self._clock.now(), {"owner": owner}),
        )
        who = f" (owner {mention(owner)})" if owner else ""
        return Changed(incident, f":white_check_mark: Follow-up recorded: {text.strip()}{who}")

    # after ---------------------------------------------------------------------------------

    async def resolve(self, incident_id: int, summary: str, actor: str) -> Incident | Problem:
        incident = await self._get(incident_id)
        if isinstance(incident, Problem):
            return incident
        if not incident.is_open:
            return Problem(f"incident #{incident_id} is already {incident.status}")
        now = self._clock.now()
        summary = summary.strip()
        incident = await self._store.update_incident(
            incident_id, status=Status.RESOLVED, resolved_at=now, summary=summary
        )
        await self._store.append_event(
            incident_id,
            NewEvent(EventKind.RESOLVED, actor, summary or "resolved", now, key=True, public=True),
        )
        page = await self._pager.resolve(incident, actor) if self._pager is not None else None
        if self.war_room is not None:
            await self.war_room.set_topic(incident)
        text = f":white_check_mark: #{incident.id} {incident.title} resolved by {mention(actor)}."
        if summary:
            text += f" {summary}"
        if page:
            text += f"\n{page}"
        await self._broadcast(incident, text)
        return incident

    async def close(self, incident_id: int, actor: str) -> Changed | Problem:
        incident = await self._get(incident_id)
        if isinstance(incident, Problem):
            return incident
        if incident.status != Status.RESOLVED:
            return Problem(
                f"#{incident.id} is {incident.status}: resolve it first (`/incident resolve`)."
            )
        incident = await self._store.update_incident(incident_id, status=Status.CLOSED)
        await self._store.append_event(
            incident_id,
            NewEvent(EventKind.CLOSED, actor, "closed", self._clock.now()),
        )
        if self.war_room is not None:
            await self.war_room.archive(incident)
        return Changed(incident, f"#{incident.id} closed; the channel is archived.")

    async def notify_user(self, user: str, text: str) -> None:
        """A direct message (posting to a user ID opens the DM)."""
        if user[:1] in ("U", "W"):
            await self._outbox.post(user, text)

    async def _broadcast(self, incident: Incident, text: str) -> None:
        """To the war room and to the announcement's thread."""
        if incident.channel_id:
            await self._outbox.post(incident.channel_id, text, incident_id=incident.id)
        if self._incidents_channel:
            await self._outbox.post(
                self._incidents_channel,
                text,
                thread_key=announcement_key(incident.id),
                incident_id=incident.id,
            )
