"""Applies `domain.access` to a person asking from Slack: answers whether they may change an
incident, and records each refusal in the incident's timeline."""

from __future__ import annotations

import logging

from bot.domain.access import Asker, Change, allowed_without_operator, refusal
from bot.domain.actions import is_operator
from bot.domain.clock import Clock
from bot.domain.incident import Incident
from bot.domain.problem import Problem
from bot.domain.timeline import EventKind, NewEvent
from bot.services.actions.approvals import UserGroups
from bot.store.base import Store

log = logging.getLogger(__name__)


class IncidentAccess:
    def __init__(
        self, store: Store, clock: Clock, operators: tuple[str, ...], groups: UserGroups
    ) -> None:
        self._store = store
        self._clock = clock
        self._operators = operators
        self._groups = groups

    async def _is_operator(self, user: str) -> bool:
        if not self._operators:
            return False
        handles = self._operators
        groups = await self._groups.groups_of(user) if any(n[:1] == "@" for n in handles) else []
        return is_operator(user, handles, groups)

    async def check(self, incident: Incident, asker: Asker, change: Change) -> Problem | None:
        """None when the asker may make the change; otherwise why not, already recorded."""
        if allowed_without_operator(incident, asker, change) or await self._is_operator(asker.user):
            return None
        reason = refusal(incident, asker, change)
        log.info(
            "incident change refused",
            extra={"incident": incident.id, "user": asker.user, "change": str(change)},
        )
        await self._store.append_event(
            incident.id,
            NewEvent(
                EventKind.REFUSED,
                asker.user,
                f"refused: {asker.user} may not {change}",
                self._clock.now(),
                {"change": str(change), "channel": asker.channel, "reason": reason},
            ),
        )
        return Problem(reason, refused=True)
