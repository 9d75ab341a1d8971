"""The incident channel: created with a unique valid name, topic, bookmarks and responders."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import PlatformConfig
from bot.domain.channel_names import channel_name
from bot.domain.incident import Incident
from bot.integrations.pagerduty import PagerDutyAPI, PagerDutyError
from bot.services.outbox import Outbox
from bot.store.base import Store
from bot.store.records import OutboxState

log = logging.getLogger(__name__)
# Writes that are not in any channel yet still need a queue of their own in the outbox.
WORKSPACE = "workspace"
NAME_ATTEMPTS = 10
CREATE_TIMEOUT = 60.0


def topic(incident: Incident) -> str:
    commander = f"<@{incident.commander}>" if incident.commander[:1] in "UW" else incident.commander
    return f"{incident.severity} · {incident.status} · Commander: {commander}"[:250]


class SlackWarRoom:
    """The `WarRoom` the incident services use, as a Slack channel."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        client: AsyncWebClient,
        config: PlatformConfig,
        *,
        pagerduty: PagerDutyAPI | None = None,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._client = client
        self._config = config
        self._pagerduty = pagerduty
        self._bot_user: str | None = None

    async def open(self, incident: Incident) -> tuple[Incident, list[str]]:
        """Creates and prepares the channel; returns the incident and what went wrong."""
        problems: list[str] = []
        channel_id = name = None
        for attempt in range(NAME_ATTEMPTS):
            name = channel_name(incident.declared_at.date(), incident.id, incident.title, attempt)
            row_id = await self._outbox.call(
                "conversations.create", WORKSPACE, {"name": name, "is_private": False}
            )
            try:
                row = await self._outbox.wait(row_id, timeout=CREATE_TIMEOUT)
            except TimeoutError:
                return incident, [
                    f"Slack did not create the incident channel within {CREATE_TIMEOUT:g} s"
                    " (it is queued and will appear); follow the incident in the announcement"
                ]
            if row.state == OutboxState.SENT:
                channel_id = str((row.result.get("channel") or {}).get("id", ""))
                break
            if "name_taken" not in (row.last_error or ""):
                return incident, [f"could not create the incident channel: {row.last_error}"]
        if not channel_id or name is None:
            return incident, ["could not find a free channel name"]
        incident = await self._store.update_incident(
            incident.id, channel_id=channel_id, channel_name=name
        )
        await self._outbox.call(
            "conversations.setTopic", channel_id, {"channel": channel_id, "topic": topic(incident)}
        )
        for title, link in self._bookmarks():
            await self._outbox.call(
                "bookmarks.add",
                channel_id,
                {"channel_id": channel_id, "title": title, "type": "link", "link": link},
            )
        users, missing = await self.responders(incident)
        problems.extend(missing)
        if users:
            await self._outbox.call(
                "conversations.invite",
                channel_id,
                {"channel": channel_id, "users": ",".join(users)},
                incident_id=incident.id,
            )
        return incident, problems

    def _bookmarks(self) -> list[tuple[str, str]]:
        links = self._config.links
        found = [
            ("Grafana dashboard", links.grafana),
            ("Runbook", links.runbook),
            ("Status page", links.status_page),
        ]
        return [(title, str(url)) for title, url in found if url is not None]

    async def set_topic(self, incident: Incident) -> None:
        if incident.channel_id:
            await self._outbox.call(
                "conversations.setTopic",
                incident.channel_id,
                {"channel": incident.channel_id, "topic": topic(incident)},
            )

    async def archive(self, incident: Incident) -> None:
        if incident.channel_id:
            await self._outbox.call(
                "conversations.archive",
                incident.channel_id,
                {"channel": incident.channel_id},
                incident_id=incident.id,
            )

    async def invite(self, incident: Incident, users: Iterable[str]) -> None:
        wanted = [u for u in dict.fromkeys(users) if u != await self._bot_id()]
        if incident.channel_id and wanted:
            await self._outbox.call(
                "conversations.invite",
                incident.channel_id,
                {"channel": incident.channel_id, "users": ",".join(wanted)},
                incident_id=incident.id,
            )

    async def responders(self, incident: Incident) -> tuple[list[str], list[str]]:
        """The declarer, the services' owners and who is on call; and who could not be found."""
        users: list[str] = []
        problems: list[str] = []
        principals = [incident.declared_by, incident.commander]
        services = [s for s in (self._config.service(n) for n in incident.services) if s]
        for svc in services:
            principals.extend(svc.owners)
        for principal in principals:
            if principal.startswith("@"):
                members = await self._usergroup(principal)
                if members is None:
                    problems.append(f"user group {principal} not found")
                users.extend(members or [])
            elif principal[:1] in ("U", "W"):
                users.append(principal)
        oncall, oncall_problems = await self._oncall_users(
            [s.escalation_policy for s in services if s.escalation_policy]
            or self._config.escalation_policies
        )
        users.extend(oncall)
        problems.extend(oncall_problems)
        bot = await self._bot_id()
        return [u for u in dict.fromkeys(users) if u != bot], problems

    async def _bot_id(self) -> str | None:
        if self._bot_user is None:
            try:
                self._bot_user = str((await self._client.auth_test()).get("user_id") or "")
            except SlackApiError:
                return None
        return self._bot_user

    async def _usergroup(self, handle: str) -> list[str] | None:
        try:
            groups = (await self._client.usergroups_list()).get("usergroups") or []
            match = next((g for g in groups if g.get("handle") == handle.lstrip("@")), None)
            if match is None:
                return None
            found = await self._client.usergroups_users_list(usergroup=match["id"])
        except SlackApiError as exc:
            log.warning("usergroup lookup failed", extra={"handle": handle, "error": str(exc)})
            return None
        return [str(u) for u in found.get("users") or []]

    async def _oncall_users(self, policies: list[str]) -> tuple[list[str], list[str]]:
        if self._pagerduty is None or not policies:
            return [], []
        try:
            oncalls = await self._pagerduty.oncalls(policies)
        except PagerDutyError as exc:
            return [], [f"on-call lookup failed: {exc}"]
        users, problems = [], []
        for person in oncalls:
            try:
                found = await self._client.users_lookupByEmail(email=person.email)
                users.append(str(found["user"]["id"]))
            except SlackApiError:
                problems.append(f"on-call {person.name} has no Slack account for {person.email}")
        return users, problems
