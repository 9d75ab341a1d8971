"""Which alert groups declare an incident by themselves (the config's auto_declare rules)."""

from __future__ import annotations

from datetime import timedelta

from bot.config import PlatformConfig
from bot.domain.alerts import GroupView
from bot.domain.clock import Clock
from bot.domain.incident import Severity
from bot.domain.problem import Problem
from bot.domain.timeline import EventKind, NewEvent
from bot.services.incidents import Lifecycle
from bot.store.base import Store
from bot.store.records import AlertGroupState

DECLARED_BY = "alertmanager"
STORM_WINDOW = timedelta(minutes=30)


class AutoDeclarePolicy:
    def __init__(
        self, config: PlatformConfig, store: Store, lifecycle: Lifecycle, clock: Clock
    ) -> None:
        self._clock = clock
        self._config = config
        self._store = store
        self._lifecycle = lifecycle

    def severity_for(self, view: GroupView) -> Severity | None:
        namespaces = {n.strip() for n in view.namespace.split(",") if n.strip()}
        for rule in self._config.auto_declare:
            if rule.alert_severity.lower() != view.severity:
                continue
            if rule.namespaces and not namespaces & set(rule.namespaces):
                continue
            return Severity(rule.incident_severity)
        return None

    async def __call__(self, group: AlertGroupState, view: GroupView) -> int | None:
        severity = self.severity_for(view)
        if severity is None:
            return None
        incident_id = await self._open_incident_for(view)
        if incident_id is None:
            title = f"{view.title}: {view.summary}" if view.summary else view.title
            outcome = await self._lifecycle.declare(
                title[:200],
                severity,
                DECLARED_BY,
                services=view.services,
                description=view.description,
            )
            if isinstance(outcome, Problem):
                return None
            self._lifecycle.open_later(outcome)
            incident_id = outcome.id
        await self._store.append_event(
            incident_id,
            NewEvent(
                EventKind.ALERT,
                DECLARED_BY,
                f"alert group linked: {view.title}",
                self._clock.now(),
                {"alert_group": group.group_id, "severity": view.severity, "firing": view.firing},
                key=True,
            ),
        )
        return incident_id

    async def _open_incident_for(self, view: GroupView) -> int | None:
        """One outage fires many groups: an open incident about the same thing, or one this
        policy declared in the last half hour (a storm is usually one outage)."""
        recent = self._clock.now() - STORM_WINDOW
        for incident in await self._store.list_incidents(open_only=True):
            if incident.declared_by == DECLARED_BY and incident.declared_at >= recent:
                return incident.id
            same_alert = incident.title == view.title or incident.title.startswith(
                f"{view.title}: "
            )
            if set(incident.services) & set(view.services) or same_alert:
                return incident.id
        return None
