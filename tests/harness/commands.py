"""The worlds the Slack command tests drive: a bot started against the fake Slack and the fake
Kubernetes (dangerous actions) or the fake PagerDuty (the incident lifecycle), with what a person
in Slack does (type a command, click a button) and what they would see once the bot settled.

The fixtures that build these worlds are in tests/slack/conftest.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from bot.config import PlatformConfig, Settings
from bot.domain.actions import ActionState
from bot.domain.clock import Clock, ManualClock
from bot.domain.incident import NewIncident, Severity
from bot.domain.timeline import TimelineEvent
from bot.web.keys import STORE
from tests.fakes.kube_api import FakeKubernetes
from tests.fakes.pagerduty_api import FakePagerDuty
from tests.fakes.slack_api import FakeSlack, Message
from tests.harness.alerts import settled
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, RunningBot

NS = "factsway-prod"
TUESDAY_10AM_NEW_YORK = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)

C = TypeVar("C", bound=Clock)


def slack_env(fake: FakeSlack) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.url,
        "SLACK_ALERTS_CHANNEL": "C_ALERTS",
    }


async def answered(
    bot: RunningBot, slack: FakeSlack, command: str, text: str, *, user: str, channel: str
) -> str:
    """Runs a slash command and returns the final answer its caller sees: the ack's, or, after
    an ":hourglass…" ack, the one sent to the response_url."""
    before = len(slack.responses)
    response = await bot.slack_command(
        command, text, user_id=user, channel_id=channel, response_url=slack.issue_response_url()
    )
    assert response.status == 200
    ack = await response.json() if response.content_length else {}
    if not str(ack.get("text", "")).startswith(":hourglass"):
        return str(ack.get("text", ""))
    async with asyncio.timeout(20):
        while len(slack.responses) == before:
            await asyncio.sleep(0.02)
    return str(slack.responses[-1]["text"])


@dataclass
class ActionWorld(Generic[C]):
    """Operators U1 and @sre (U5, erin); U6 (frank) is no operator."""

    bot: RunningBot
    slack: FakeSlack
    kube: FakeKubernetes
    clock: C
    settings: Settings

    async def command(
        self, command: str, text: str, *, user: str = "U1", channel: str = "C_ALERTS"
    ) -> str:
        return await answered(self.bot, self.slack, command, text, user=user, channel=channel)

    async def settled(self) -> None:
        await settled(self.bot)

    def confirmation(self, channel: str = "C_ALERTS") -> Message:
        return [m for m in self.slack.messages[channel] if "requested by" in repr(m.blocks)][-1]

    async def click(
        self, action: str, message: Message, *, user: str = "U1", value: str | None = None
    ) -> str | None:
        """Clicks the message's button; the answer the clicker got, if any."""
        value = value or next(
            e["value"]
            for b in message.blocks or []
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == action
        )
        before = len(self.slack.responses)
        response = await self.bot.slack_action(
            action,
            value,
            user_id=user,
            channel_id=message.channel,
            message_ts=message.ts,
            response_url=self.slack.issue_response_url(),
        )
        assert response.status == 200
        await asyncio.sleep(0.3)
        await self.settled()
        return str(self.slack.responses[-1]["text"]) if len(self.slack.responses) > before else None

    async def finished(self, channel: str = "C_ALERTS", timeout: float = 30) -> Message:
        async with asyncio.timeout(timeout):
            while True:
                await self.settled()
                message = self.confirmation(channel)
                if any(word in message.text for word in (": done", ": failed")):
                    return message
                await asyncio.sleep(0.1)

    async def until(self, action_id: int, state: ActionState) -> None:
        async with asyncio.timeout(30):
            while True:
                action = await self.bot.app[STORE].get_action(action_id)
                if action is not None and action.state == state:
                    return
                await asyncio.sleep(0.1)

    async def results(self, incident_id: int) -> list[TimelineEvent]:
        """The incident's action-result events once there is one: an action's state turns
        done or failed a moment before its result reaches the timeline."""
        async with asyncio.timeout(30):
            while True:
                events = await self.bot.app[STORE].timeline(incident_id)
                if found := [e for e in events if "succeeded" in e.data]:
                    return found
                await asyncio.sleep(0.1)

    def patches(self) -> list[str]:
        return [path for method, path, _ in self.kube.requests if method == "PATCH"]

    async def incident_channel(
        self, severity: Severity, *, declared_by: str = "U1", channel: str = "C_WAR"
    ) -> int:
        """An incident (declared by `declared_by`) whose channel is `channel`."""
        store = self.bot.app[STORE]
        incident = await store.create_incident(
            NewIncident("Records 500s", severity, declared_by, self.clock.now())
        )
        await store.update_incident(incident.id, channel_id=channel)
        return incident.id


class ActionWorlds(Protocol):
    """The `action_world` fixture: starts a bot whose operators are `operators`, with `env`
    besides the Slack and Kubernetes settings."""

    async def __call__(
        self,
        clock: C,
        *,
        config: PlatformConfig | None = None,
        operators: str = "U1,@sre",
        env: Mapping[str, str] | None = None,
    ) -> ActionWorld[C]: ...


@dataclass
class IncidentWorld:
    bot: RunningBot
    slack: FakeSlack
    pagerduty: FakePagerDuty
    clock: ManualClock

    async def command(self, text: str, *, channel: str = "C_ALERTS", user: str = "U1") -> str:
        """Runs `/incident <text>` and returns the final answer the caller sees."""
        return await answered(self.bot, self.slack, "/incident", text, user=user, channel=channel)

    async def settled(self) -> None:
        await settled(self.bot, timeout=20)

    def channel(self, name_prefix: str = "inc-") -> dict[str, Any]:
        return next(c for c in self.slack.channels.values() if c["name"].startswith(name_prefix))

    def texts(self, channel_id: str) -> list[str]:
        return [m.text for m in self.slack.messages.get(channel_id, [])]

    async def declared(self, text: str, *, user: str = "U1") -> str:
        """Declares from the alerts channel; the war room's channel ID."""
        await self.command(f"declare {text}", channel="C_ALERTS", user=user)
        await self.settled()
        incident = (await self.bot.app[STORE].list_incidents())[0]
        assert incident.channel_id
        return incident.channel_id

    async def refusals(self, incident_id: int = 1) -> list[str]:
        """Who was refused a change to the incident, in order."""
        timeline = await self.bot.app[STORE].timeline(incident_id)
        return [e.actor for e in timeline if e.kind == "refused"]


class IncidentWorlds(Protocol):
    """The `incident_world` fixture: starts a bot at `now` that pages the fake PagerDuty;
    `users` (id: name, mailed at name@example.com) are in the fake Slack."""

    async def __call__(
        self,
        *,
        now: datetime = TUESDAY_10AM_NEW_YORK,
        users: Mapping[str, str] | None = None,
        config: PlatformConfig | None = None,
        **env: str,
    ) -> IncidentWorld: ...
