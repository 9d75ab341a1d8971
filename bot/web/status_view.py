"""What every public status route shows, read from the store at most once per publication: the
components with their status and 90-day bars, the published incidents and the maintenances.
A page hammered during an outage is answered from this view, not from the store."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.config import PlatformConfig
from bot.domain.clock import Clock
from bot.domain.publication import ComponentStatus, Maintenance, PublicIncident
from bot.domain.status_history import (
    HISTORY_DAYS,
    Day,
    Indicator,
    component_status,
    history,
    overall,
)
from bot.store.base import Store

# Seconds a view is used without asking the store whether anything was published since, and
# the most it is used even when nothing was (durations and maintenance windows move on).
FRESH_SECONDS = 2.0
LONGEST_SECONDS = 30.0
# Renderings kept per view (one per route and origin asked for): a bound, since the Host
# header is the caller's to choose.
RENDERINGS = 64


@dataclass(frozen=True)
class Component:
    id: str
    name: str
    description: str
    group: str | None
    position: int
    status: ComponentStatus
    days: tuple[Day, ...]


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str
    etag: str


@dataclass
class StatusView:
    platform: str
    page_id: str
    now: datetime
    version: str
    components: tuple[Component, ...]
    incidents: tuple[PublicIncident, ...]  # newest first: open ones and the last 90 days'
    maintenances: tuple[Maintenance, ...]  # not yet over, soonest first
    indicator: Indicator
    made_at: float = 0.0
    checked_at: float = 0.0
    rendered: dict[tuple[str, str], Rendered] = field(default_factory=dict)

    @property
    def open_incidents(self) -> list[PublicIncident]:
        return [i for i in self.incidents if i.is_open]

    @property
    def updated_at(self) -> datetime:
        """When anything on the page last changed, as readers' feeds want it."""
        moments = [i.updated_at for i in self.incidents] + [m.updated_at for m in self.maintenances]
        return max(moments, default=self.now.replace(microsecond=0))

    def incident(self, public_id: str) -> PublicIncident | None:
        return next((i for i in self.incidents if i.public_id == public_id), None)

    def component_name(self, name: str) -> str:
        return next((c.name for c in self.components if c.id == name), name)

    def render(self, key: tuple[str, str], make: Callable[[], tuple[bytes, str]]) -> Rendered:
        found = self.rendered.get(key)
        if found is None:
            body, content_type = make()
            found = Rendered(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
            if len(self.rendered) < RENDERINGS:
                self.rendered[key] = found
        return found


def page_id(platform: str) -> str:
    """A stable id for the page, as Statuspage gives each page one."""
    return hashlib.sha256(f"status:{platform}".encode()).hexdigest()[:12]


async def gather(store: Store, config: PlatformConfig, now: datetime) -> StatusView:
    version = await store.status_page_version()
    incidents = await store.public_incidents(now - timedelta(days=HISTORY_DAYS))
    maintenances = await store.maintenances(now)
    components = tuple(
        Component(
            id=service.name,
            name=service.public_name,
            description=service.description,
            group=service.group,
            position=position,
            status=component_status(service.name, incidents, maintenances, now),
            days=tuple(history(service.name, incidents, now)),
        )
        for position, service in enumerate(config.services, start=1)
    )
    open_count = sum(1 for i in incidents if i.is_open)
    return StatusView(
        platform=config.platform,
        page_id=page_id(config.platform),
        now=now,
        version=version,
        components=components,
        incidents=tuple(incidents),
        maintenances=tuple(maintenances),
        indicator=overall((c.status for c in components), open_count),
    )


class StatusViews:
    """The current view, remade only when something was published (or it grew old); callers
    arriving while it is remade wait for that one read instead of each reading the store."""

    def __init__(self, store: Store, config: PlatformConfig, clock: Clock) -> None:
        self._store = store
        self._config = config
        self._clock = clock
        self._view: StatusView | None = None
        self._lock = asyncio.Lock()
        self.reads = 0  # views made from the store, for the bench and the tests

    async def current(self) -> StatusView:
        view = self._view
        if view is not None and self._clock.monotonic() - view.checked_at < FRESH_SECONDS:
            return view
        async with self._lock:
            view = self._view
            started = self._clock.monotonic()
            if view is not None and started - view.checked_at < FRESH_SECONDS:
                return view  # another caller just checked
            if view is not None and started - view.made_at < LONGEST_SECONDS:
                version = await self._store.status_page_version()
                if version == view.version:
                    view.checked_at = started
                    return view
            made = await gather(self._store, self._config, self._clock.now())
            made.made_at = made.checked_at = started
            self.reads += 1
            self._view = made
            return made

    def forget(self) -> None:
        """Something was published here: the next reader gets it at once (other replicas'
        readers within FRESH_SECONDS)."""
        view = self._view
        if view is not None:
            view.checked_at = view.made_at = -LONGEST_SECONDS

    def stale(self) -> StatusView | None:
        """The last view made, for answering while the store is unavailable."""
        return self._view
