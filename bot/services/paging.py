"""Applies the severity policy: pages through PagerDuty when it says so, and records why not."""

from __future__ import annotations

import logging

from bot.config import PlatformConfig
from bot.domain.clock import Clock
from bot.domain.incident import Incident, Severity
from bot.domain.paging import BusinessHours, decide
from bot.domain.timeline import EventKind, NewEvent
from bot.integrations.pagerduty import PagerDutyError, PagerDutyEvents
from bot.store.base import Store

log = logging.getLogger(__name__)
RESOLVED_NOTE = "PagerDuty page resolved"
PD_SEVERITY = {
    Severity.P0: "critical",
    Severity.P1: "error",
    Severity.P2: "warning",
    Severity.P3: "info",
}


def dedup_key(incident: Incident) -> str:
    return f"incident-bot-{incident.id}"


class Pager:
    def __init__(
        self, config: PlatformConfig, store: Store, clock: Clock, events: PagerDutyEvents | None
    ) -> None:
        hours = config.business_hours
        self._hours = BusinessHours(hours.timezone, hours.days, hours.start, hours.end)
        self._config = config
        self._store = store
        self._clock = clock
        self._events = events

    async def apply(self, incident: Incident, actor: str) -> str:
        """Pages if the policy says so; returns what happened, for the channel."""
        policy = self._config.severities[incident.severity.value]
        decision = decide(incident.severity, policy.page, self._hours, self._clock.now())
        if not decision.page:
            await self._note(incident, actor, f"Not paged: {decision.reason}", paged=False)
            said = f":no_bell: Not paged: {decision.reason}"
            # Lowered below the policy: the on-call paged for the higher severity is released.
            resolved = await self.resolve(incident, actor)
            return f"{said}\n{resolved}" if resolved else said
        if self._events is None:
            text = (
                f"Should page ({decision.reason}) but PagerDuty is not configured"
                " (PAGERDUTY_ROUTING_KEY): page the on-call by hand."
            )
            await self._note(incident, actor, text, paged=False)
            return f":warning: {text}"
        links = (
            [("Incident channel", f"https://slack.com/app_redirect?channel={incident.channel_id}")]
            if incident.channel_id
            else []
        )
        try:
            await self._events.trigger(
                dedup_key(incident),
                f"[{incident.severity}] {incident.title}",
                severity=PD_SEVERITY[incident.severity],
                source="incident-bot",
                links=links,
                details={"incident": incident.id, "services": list(incident.services)},
            )
        except PagerDutyError as exc:
            log.warning("paging failed", extra={"incident": incident.id, "error": str(exc)})
            await self._note(incident, actor, f"Paging failed: {exc}", paged=False)
            return f":warning: Paging failed: {exc}. Page the on-call by hand."
        await self._note(incident, actor, f"Paged the on-call: {decision.reason}", paged=True)
        return f":pager: Paged the on-call ({decision.reason})."

    async def resolve(self, incident: Incident, actor: str) -> str | None:
        """Resolves the page if one went out and is not resolved yet."""
        if self._events is None or not await self._page_open(incident):
            return None
        try:
            await self._events.resolve(dedup_key(incident))
        except PagerDutyError as exc:
            return f":warning: Could not resolve the PagerDuty page: {exc}"
        await self._note(incident, actor, RESOLVED_NOTE, paged=False, resolved=True)
        return ":pager: PagerDuty page resolved."

    async def _page_open(self, incident: Incident) -> bool:
        """Whether the last page sent for the incident is still open, by its timeline."""
        open_page = False
        for event in await self._store.timeline(incident.id):
            if event.kind != EventKind.PAGE:
                continue
            if event.data.get("paged"):
                open_page = True
            elif event.data.get("page_resolved") or event.text == RESOLVED_NOTE:
                open_page = False  # the text: resolutions recorded before the flag existed
        return open_page

    async def _note(
        self, incident: Incident, actor: str, text: str, *, paged: bool, resolved: bool = False
    ) -> None:
        data: dict[str, object] = {"paged": paged, "severity": str(incident.severity)}
        if resolved:
            data["page_resolved"] = True
        await self._store.append_event(
            incident.id,
            NewEvent(EventKind.PAGE, actor, text, self._clock.now(), data, key=paged),
        )
