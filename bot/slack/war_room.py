"""The incident channel: created with a unique valid name, topic, bookmarks and responders."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import PlatformConfig
from bot.domain.channel_names import channel_name
from bot.domain.incident import Incident
from bot.domain.report import User, line
from bot.integrations.pagerduty import PagerDutyAPI, PagerDutyError
from bot.services.outbox import Outbox
from bot.slack.report import mrkdwn_line
from bot.store.base import Store
from bot.store.records import OutboxRow, OutboxState

log = logging.getLogger(__name__)
# Writes that are not in any channel yet still need a queue of their own in the outbox.
WORKSPACE = "workspace"
NAME_ATTEMPTS = 10
CREATE_TIMEOUT = 60.0
LIST_PAGES = 10  # of 1,000 channels each, looking for one a lost answer created
CLOCK_SKEW = 60.0


MAX_TOPIC = 250
# What cutting escaped text can leave at its end: part of an entity (`&am`).
_CUT_ENTITY = re.compile(r"&[a-z]*$")


def topic(incident: Incident) -> str:
    text = mrkdwn_line(
        line(f"{incident.severity} · {incident.status} · Commander: ", User(incident.commander))
    )
    # A mention is a short id, so only escaped text (never a `<@…>`) is ever cut here.
    return text if len(text) <= MAX_TOPIC else _CUT_ENTITY.sub("", text[:MAX_TOPIC])


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
            # A retried create (the first answer was lost) finds its own channel taking the
            # name: that one is the incident's, and another name would leave it orphaned.
            channel_id = await self._created_by_row(name, row) if row.attempts > 1 else None
            if channel_id:
                break
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

    async def _created_by_row(self, name: str, row: OutboxRow) -> str | None:
        """The channel called `name` if this bot created it since the row was queued and no
        incident has it; Slack has no idempotency key for conversations.create."""
        bot, since = await self._bot_id(), row.created_at.timestamp() - CLOCK_SKEW
        cursor: str | None = None
        try:
            for _ in range(LIST_PAGES):
                page = await self._client.conversations_list(
                    types="public_channel", exclude_archived=True, limit=1000, cursor=cursor
                )
                for channel in page.get("channels") or []:
                    if channel.get("name") != name:
                        continue
                    ours = channel.get("creator") == bot and channel.get("created", 0) >= since
                    found = str(channel.get("id") or "")
                    if ours and found and await self._store.incident_by_channel(found) is None:
                        return found
                    return None
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if cursor is None:
                    return None
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not look for the channel", extra={"name": name, "error": str(exc)})
        return None

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
