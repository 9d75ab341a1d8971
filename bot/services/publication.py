"""Publishing to the public status page: only what a person chose to publish, under the public
title, impact and components they chose; and the maintenances they schedule."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.config import PlatformConfig
from bot.domain.clock import Clock
from bot.domain.incident import Incident, Status
from bot.domain.problem import Problem
from bot.domain.publication import (
    IMPACTS,
    Maintenance,
    NewMaintenance,
    Opening,
    PublicIncident,
    PublicStatus,
    parse_impact,
)
from bot.store.base import Store

PUBLIC_TITLE_MAX = 120
PUBLISH_USAGE = (
    "cannot publish: a first public update needs a public title and impact chosen for"
    " customers, e.g."
    ' `--public-title "Exports are delayed" --impact partial_outage --components export`'
    f" (impact: {', '.join(IMPACTS)})"
)
# How every reason an update cannot be published begins (the API answers those with 400).
UNPUBLISHABLE = "cannot publish"
RESOLVED_TEXT = "This incident has been resolved."
# The longest a maintenance window may be scheduled for, and how far ahead.
MAINTENANCE_LONGEST_DAYS = 7
MAINTENANCE_AHEAD_DAYS = 365


@dataclass(frozen=True)
class PublicRequest:
    """The public title, impact and components as a person typed them (any may be missing)."""

    title: str | None = None
    impact: str | None = None
    components: tuple[str, ...] | None = None

    @property
    def empty(self) -> bool:
        return self.title is None and self.impact is None and self.components is None


def new_public_id() -> str:
    """Not the incident's number: nobody can walk the page's incidents by counting."""
    return secrets.token_urlsafe(12)


def public_status(status: Status) -> PublicStatus:
    return PublicStatus.RESOLVED if not status.is_open else PublicStatus(str(status))


class Publisher:
    def __init__(self, store: Store, clock: Clock, config: PlatformConfig | None) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        # Called after each publication (the status page's cached view is forgotten).
        self.listeners: list[Callable[[], None]] = []

    def _published(self) -> None:
        for listener in self.listeners:
            listener()

    def components(self, names: tuple[str, ...]) -> tuple[str, ...] | Problem:
        """The config's service names for what a person typed (a name or a deployment)."""
        if self._config is None:
            return names
        found = []
        for name in names:
            service = self._config.service(name)
            if service is None:
                known = ", ".join(s.name for s in self._config.services)
                return Problem(f"unknown component `{name}`; components: {known}")
            found.append(service.name)
        return tuple(dict.fromkeys(found))

    async def prepare(self, incident: Incident, request: PublicRequest) -> Opening | Problem | None:
        """What the publication will open or change: None when the incident is published
        already and nothing about it changes; a Problem (with the usage) when a first public
        update lacks the public title or impact. Never the internal title: it may name hosts."""
        published = await self._store.published_incident(incident.id)
        if published is not None and request.empty:
            return None
        title = " ".join((request.title or "").split()) or (published.title if published else "")
        if not title:
            return Problem(PUBLISH_USAGE)
        if len(title) > PUBLIC_TITLE_MAX:
            return Problem(
                f"{UNPUBLISHABLE}: the public title is over {PUBLIC_TITLE_MAX} characters"
            )
        if request.impact is not None:
            impact = parse_impact(request.impact)
            if impact is None:
                return Problem(f"{UNPUBLISHABLE}: `--impact` must be one of {', '.join(IMPACTS)}")
        elif published is not None:
            impact = published.impact
        else:
            return Problem(PUBLISH_USAGE)
        names = request.components
        if names is None:
            names = published.components if published is not None else incident.services
        components = self.components(names)
        if isinstance(components, Problem):
            return Problem(f"{UNPUBLISHABLE}: {components.message}")
        public_id = published.public_id if published is not None else new_public_id()
        return Opening(public_id, title, impact, components)

    async def publish(
        self, incident: Incident, text: str, opening: Opening | None
    ) -> PublicIncident | None:
        published = await self._store.publish(
            incident.id, public_status(incident.status), text, self._clock.now(), opening
        )
        self._published()
        return published

    async def resolved(self, incident: Incident) -> PublicIncident | None:
        """A published incident's resolution is said publicly in fixed words (the resolve
        summary is internal: it is often the root cause); an unpublished one stays unseen."""
        if await self._store.published_incident(incident.id) is None:
            return None
        published = await self._store.publish(
            incident.id, PublicStatus.RESOLVED, RESOLVED_TEXT, self._clock.now()
        )
        self._published()
        return published

    async def schedule(
        self,
        title: str,
        body: str,
        components: tuple[str, ...],
        starts_at: datetime,
        ends_at: datetime,
        actor: str,
    ) -> Maintenance | Problem:
        title = " ".join(title.split())
        if not title:
            return Problem("a maintenance needs a public title")
        if len(title) > PUBLIC_TITLE_MAX:
            return Problem(f"the public title is over {PUBLIC_TITLE_MAX} characters")
        if starts_at.tzinfo is None or ends_at.tzinfo is None:
            return Problem("the window's times need a time zone (or Z for UTC)")
        now = self._clock.now()
        if ends_at <= starts_at:
            return Problem("the window ends before it starts")
        if ends_at <= now:
            return Problem("the window is over already")
        if (ends_at - starts_at).days >= MAINTENANCE_LONGEST_DAYS:
            return Problem(f"a window is at most {MAINTENANCE_LONGEST_DAYS} days")
        if (starts_at - now).days > MAINTENANCE_AHEAD_DAYS:
            return Problem(f"a window starts within {MAINTENANCE_AHEAD_DAYS} days")
        names = self.components(components)
        if isinstance(names, Problem):
            return names
        if not names:
            return Problem("a maintenance needs the components it affects (`--components`)")
        new = NewMaintenance(new_public_id(), title, body.strip(), names, starts_at, ends_at, actor)
        made = await self._store.add_maintenance(new, now)
        self._published()
        return made
