"""What the incident services need from the chat workspace: the incident's own channel.

The services own this protocol; the Slack adapter implements it, so nothing here knows Slack.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from bot.domain.incident import Incident


class WarRoom(Protocol):
    async def open(self, incident: Incident) -> tuple[Incident, list[str]]:
        """Creates and prepares the incident's channel; returns the incident (with its channel)
        and the problems met, for the declarer."""
        ...

    async def set_topic(self, incident: Incident) -> None: ...

    async def invite(self, incident: Incident, users: Iterable[str]) -> None: ...

    async def archive(self, incident: Incident) -> None: ...
