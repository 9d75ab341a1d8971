"""The incident lifecycle shared by Slack, the API and the CLI: declare, open the war room and
page, update, change severity and roles, record follow-ups, resolve and close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.config import PlatformConfig
from bot.domain.access import Asker, Change, severity_change
from bot.domain.channel_names import channel_name
from bot.domain.clock import Clock
from bot.domain.incident import Incident, NewIncident, Severity, Status
from bot.domain.problem import Problem
from bot.domain.report import Channel, Code, Line, Mark, Span, Strong, User, is_user_id, line
from bot.domain.timeline import EventKind, NewEvent
from bot.services.incident_access import IncidentAccess
from bot.services.outbox import Outbox
from bot.services.paging import Pager
from bot.services.publication import PublicRequest, Publisher
from bot.services.war_room import WarRoom
from bot.store.base import Store
from bot.store.records import OutboxRow, OutboxState

log = logging.getLogger(__name__)
ROLES = ("commander", "comms", "scribe", "ops", "liaison")
# How an open interrupted by a stop is resumed: the outbox queue the war room creates channels
# in, the names it tries, and how long to wait for a create it queued before the stop.
CREATE_QUEUE = "workspace"
CREATE_NAMES = 10
CREATE_WAIT = 60.0
CREATE_POLL = 0.5
UNFINISHED = (OutboxState.PENDING, OutboxState.IN_FLIGHT)


@dataclass(frozen=True)
class Changed:
    """A change made, and what the bot said about it in the incident's channels."""

    incident: Incident
    said: tuple[Line, ...]


def in_channel(incident: Incident) -> tuple[Span, ...]:
    """The words " in #channel", when the incident has one."""
    return (" in ", Channel(incident.channel_id)) if incident.channel_id else ()


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
        access: IncidentAccess | None = None,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._clock = clock
        self._incidents_channel = incidents_channel
        self._config = config
        self.war_room = war_room
        self._pager = pager
        self._access = access
        self.publisher = Publisher(store, clock, config)
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
        request_key: str | None = None,
        commander: str | None = None,
    ) -> Incident | Problem:
        """Records the incident; `open` does the slow part (channel, invites, paging).
        `request_key` (a slash command's trigger_id) is recorded in the `declared` event: the
        same request declared again (rerun after a stop) gets the incident it made."""
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
        new = NewIncident(
            title, severity, declared_by, self._clock.now(), services, description, commander
        )
        if request_key is None:
            return await self._store.create_incident(new)
        incident, created = await self._store.declare_once(new, request_key)
        if not created:
            log.info("declaration resumed", extra={"incident": incident.id, "request": request_key})
        return incident

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
        """War room, announcement and paging; returns the problems met, for the declarer.
        Safe to run again for an incident whose opening a stop interrupted: what was done
        (the page, the channel, the announcement) is found and not done twice."""
        problems: list[str] = []
        events = await self._store.timeline(incident.id)
        paged = next((e for e in events if e.kind == EventKind.PAGE), None)
        # Paging first: a P0 pages even when Slack is slow to create the channel.
        page: str | None = paged.text if paged is not None else None
        if paged is None and self._pager is not None:
            page = await self._pager.apply(incident, incident.declared_by)
        had_channel = bool(incident.channel_id)
        if self.war_room is not None and not had_channel:
            incident, problems = await self._open_war_room(incident)
        if self._incidents_channel:
            key = announcement_key(incident.id)
            if await self._store.latest_post(key) is not None:
                return problems  # announced, and the channel's first message queued with it
            announcement = line(
                Strong(str(incident.severity)),
                f" incident #{incident.id} declared: ",
                incident.title,
                " (commander ",
                User(incident.commander),
                ")",
                *in_channel(incident),
                mark=Mark.INCIDENT,
            )
            await self._outbox.say(
                self._incidents_channel, [announcement], message_key=key, incident_id=incident.id
            )
        elif had_channel:
            return problems  # the channel was made, and its first message queued, before
        services = (" · Services: ", ", ".join(incident.services)) if incident.services else ()
        notes = [
            line(Strong(f"Incident #{incident.id}: {incident.title}")),
            line(f"Severity {incident.severity} · Commander ", User(incident.commander), *services),
        ]
        if page is not None:
            notes.append(line(page))
        notes.extend(line(p, mark=Mark.WARNING) for p in problems)
        notes.append(
            line(
                "Post updates with ",
                Code("/incident update <text>"),
                "; ",
                Code("/incident help"),
                " for the rest.",
            )
        )
        if incident.channel_id:
            await self._outbox.say(incident.channel_id, notes, incident_id=incident.id)
        return problems

    async def _open_war_room(self, incident: Incident) -> tuple[Incident, list[str]]:
        """The war room; when an interrupted open already asked Slack for the channel, the
        channel that create made (or is making) is the incident's, never a second one."""
        assert self.war_room is not None
        names = {
            channel_name(incident.declared_at.date(), incident.id, incident.title, attempt)
            for attempt in range(CREATE_NAMES)
        }
        since = incident.declared_at - timedelta(minutes=1)
        earlier = [
            row
            for row in await self._store.calls_since("conversations.create", CREATE_QUEUE, since)
            if row.args.get("name") in names
        ]
        for row in earlier:
            done = await self._finished(row)
            if done is None:
                return incident, [
                    f"Slack did not create the incident channel within {CREATE_WAIT:g} s"
                    " (it is queued and will appear); follow the incident in the announcement"
                ]
            channel_id = str((done.result.get("channel") or {}).get("id") or "")
            if done.state == OutboxState.SENT and channel_id:
                incident = await self._store.update_incident(
                    incident.id, channel_id=channel_id, channel_name=str(done.args["name"])
                )
                await self.war_room.set_topic(incident)
                people = [u for u in (incident.declared_by, incident.commander) if is_user_id(u)]
                await self.war_room.invite(incident, people)
                return incident, [
                    "the incident channel was created before a restart interrupted the"
                    " declaration: add its bookmarks and invite the responders by hand"
                ]
        return await self.war_room.open(incident)

    async def _finished(self, row: OutboxRow) -> OutboxRow | None:
        """The row once the sender (on whichever replica leads) has finished it."""
        deadline = asyncio.get_running_loop().time() + CREATE_WAIT
        current: OutboxRow | None = row
        while current is not None and current.state in UNFINISHED:
            if asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(CREATE_POLL)
            current = await self._store.outbox_row(row.id)
        return current

    # during --------------------------------------------------------------------------------

    async def _get(self, incident_id: int) -> Incident | Problem:
        incident = await self._store.get_incident(incident_id)
        return incident if incident is not None else Problem(f"no incident #{incident_id}")

    async def update(
        self,
        incident_id: int,
        text: str,
        actor: str,
        status: Status | None = None,
        *,
        public: bool = False,
        request: PublicRequest | None = None,
    ) -> Incident | Problem:
        """Internal (war room, announcement thread, timeline) unless `public`: then also on
        the status page, under the public title and impact of `request` or of the incident's
        earlier publication."""
        incident = await self._get(incident_id)
        if isinstance(incident, Problem):
            return incident
        text = text.strip()
        if not text:
            return Problem("an update needs some text")
        if status is not None and status != incident.status and not status.is_open:
            return Problem("use `/incident resolve` to resolve")
        opening = None
        if public:
            prepared = await self.publisher.prepare(incident, request or PublicRequest())
            if isinstance(prepared, Problem):
                return prepared
            opening = prepared
        if status is not None and status != incident.status:
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
                public=public,
                key=text.lower().startswith("root cause"),
            ),
        )
        if public:
            await self.publisher.publish(incident, text, opening)
        where = " (also on the status page)" if public else ""
        await self._broadcast(
            incident,
            [
                line(
                    Strong("Update"),
                    f" on #{incident.id} ({incident.status}){where}: ",
                    text,
                    mark=Mark.UPDATE,
                )
            ],
        )
        return incident

    async def _refused(
        self, incident: Incident, actor: str, asked_in: str | None, change: Change
    ) -> Problem | None:
        """`asked_in` is the Slack channel a person typed the command in: their right to make
        the change is checked there. The API (behind its token) and the CLI pass none."""
        if asked_in is None or self._access is None:
            return None
        return await self._access.check(incident, Asker(actor, asked_in), change)

    async def set_severity(
        self, incident_id: int, severity: Severity, actor: str, *, asked_in: str | None = None
    ) -> Changed | Problem:
        incident = await self._get(incident_id)
        if isinstance(incident, Problem):
            return incident
        if severity == incident.severity:
            return Problem(f"#{incident.id} is already {severity}.")
        change = severity_change(incident.severity, severity)
        if refused := await self._refused(incident, actor, asked_in, change):
            return refused
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
        said = line(f"Severity {old} → {severity} by ", User(actor), ".", mark=Mark.CHANGE)
        told = Line((*said.spans, f" {page}"), said.mark) if page else said
        await self._broadcast(incident, [told])
        return Changed(incident, (said,))

    async def set_role(
        self, incident_id: int, role: str, user: str, actor: str, *, asked_in: str | None = None
    ) -> Changed | Problem:
        incident = await self._get(incident_id)
        if isinstance(incident, Problem):
            return incident
        if refused := await self._refused(incident, actor, asked_in, Change.SET_ROLE):
            return refused
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
        said = (line(User(user), f" is now {role} (set by ", User(actor), ").", mark=Mark.PERSON),)
        if incident.channel_id:
            await self._outbox.say(incident.channel_id, said, incident_id=incident.id)
        return Changed(incident, said)

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
        who = (" (owner ", User(owner), ")") if owner else ()
        return Changed(incident, (line("Follow-up recorded: ", text.strip(), *who, mark=Mark.OK),))

    # after ---------------------------------------------------------------------------------

    async def resolve(
        self, incident_id: int, summary: str, actor: str, *, asked_in: str | None = None
    ) -> Incident | Problem:
        incident = await self._get(incident_id)
        if isinstance(incident, Problem):
            return incident
        if not incident.is_open:
            return Problem(f"incident #{incident_id} is already {incident.status}")
        if refused := await self._refused(incident, actor, asked_in, Change.RESOLVE):
            return refused
        now = self._clock.now()
        summary = summary.strip()
        incident = await self._store.update_incident(
            incident_id, status=Status.RESOLVED, resolved_at=now, summary=summary
        )
        await self._store.append_event(
            incident_id,
            NewEvent(EventKind.RESOLVED, actor, summary or "resolved", now, key=True, public=True),
        )
        await self.publisher.resolved(incident)
        page = await self._pager.resolve(incident, actor) if self._pager is not None else None
        if self.war_room is not None:
            await self.war_room.set_topic(incident)
        told = [
            line(
                f"#{incident.id} ",
                incident.title,
                " resolved by ",
                User(actor),
                ".",
                f" {summary}" if summary else "",
                mark=Mark.OK,
            )
        ]
        if page:
            told.append(line(page))
        await self._broadcast(incident, told)
        return incident

    async def close(
        self, incident_id: int, actor: str, *, asked_in: str | None = None
    ) -> Changed | Problem:
        incident = await self._get(incident_id)
        if isinstance(incident, Problem):
            return incident
        if refused := await self._refused(incident, actor, asked_in, Change.CLOSE):
            return refused
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
        return Changed(incident, (line(f"#{incident.id} closed; the channel is archived."),))

    async def notify_user(self, user: str, lines: Sequence[Line]) -> None:
        """A direct message (posting to a user ID opens the DM)."""
        if is_user_id(user):
            await self._outbox.say(user, lines)

    async def _broadcast(self, incident: Incident, lines: Sequence[Line]) -> None:
        """To the war room and to the announcement's thread."""
        if incident.channel_id:
            await self._outbox.say(incident.channel_id, lines, incident_id=incident.id)
        if self._incidents_channel:
            await self._outbox.say(
                self._incidents_channel,
                lines,
                thread_key=announcement_key(incident.id),
                incident_id=incident.id,
            )
