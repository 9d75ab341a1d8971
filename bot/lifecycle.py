"""Declare, update, resolve: the incident lifecycle shared by Slack, the API and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.clock import Clock
from bot.domain.incident import Incident, NewIncident, Severity, Status
from bot.domain.timeline import EventKind, NewEvent
from bot.slack.outbox import Outbox
from bot.store.base import Store


@dataclass(frozen=True)
class Problem:
    """An error a person caused, with a message for them."""

    message: str


class Lifecycle:
    def __init__(
        self, store: Store, outbox: Outbox, clock: Clock, *, incidents_channel: str | None
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._clock = clock
        self._incidents_channel = incidents_channel

    async def declare(
        self,
        title: str,
        severity: Severity,
        declared_by: str,
        *,
        services: tuple[str, ...] = (),
        description: str = "",
    ) -> Incident | Problem:
        title = " ".join(title.split())
        if not title:
            return Problem("an incident needs a title")
        if len(title) > 200:
            return Problem("the title is over 200 characters")
        incident = await self._store.create_incident(
            NewIncident(title, severity, declared_by, self._clock.now(), services, description)
        )
        if self._incidents_channel:
            who = f"<@{declared_by}>" if declared_by[:1] in ("U", "W") else declared_by
            await self._outbox.post(
                self._incidents_channel,
                f":rotating_light: *{severity}* incident #{incident.id} declared: {title}"
                f" (commander {who})",
                message_key=f"incident:{incident.id}:announcement",
                incident_id=incident.id,
            )
        return incident

    async def update(self, incident_id: int, text: str, actor: str) -> Incident | Problem:
        incident = await self._store.get_incident(incident_id)
        if incident is None:
            return Problem(f"no incident #{incident_id}")
        text = text.strip()
        if not text:
            return Problem("an update needs some text")
        await self._store.append_event(
            incident_id,
            NewEvent(EventKind.STATUS_UPDATE, actor, text, self._clock.now(), public=True),
        )
        for channel, thread in self._destinations(incident):
            await self._outbox.post(
                channel,
                f":memo: Update on #{incident.id} {incident.title}: {text}",
                thread_key=thread,
                incident_id=incident.id,
            )
        return incident

    async def resolve(self, incident_id: int, summary: str, actor: str) -> Incident | Problem:
        incident = await self._store.get_incident(incident_id)
        if incident is None:
            return Problem(f"no incident #{incident_id}")
        if not incident.is_open:
            return Problem(f"incident #{incident_id} is already {incident.status}")
        now = self._clock.now()
        incident = await self._store.update_incident(
            incident_id, status=Status.RESOLVED, resolved_at=now, summary=summary.strip()
        )
        await self._store.append_event(
            incident_id,
            NewEvent(
                EventKind.RESOLVED, actor, summary.strip() or "resolved", now, key=True, public=True
            ),
        )
        for channel, thread in self._destinations(incident):
            await self._outbox.post(
                channel,
                f":white_check_mark: #{incident.id} {incident.title} resolved."
                + (f" {summary.strip()}" if summary.strip() else ""),
                thread_key=thread,
                incident_id=incident.id,
            )
        return incident

    def _destinations(self, incident: Incident) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        if incident.channel_id:
            found.append((incident.channel_id, None))
        if self._incidents_channel:
            found.append((self._incidents_channel, f"incident:{incident.id}:announcement"))
        return found
