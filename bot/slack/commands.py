"""Slash-command handlers: parse, answer inside Slack's 3 s, hand long work to the background."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.config import PlatformConfig
from bot.domain.commands import INCIDENT_USAGE, Parsed, UsageProblem, parse_incident
from bot.lifecycle import Lifecycle
from bot.store.base import Store, StoreUnavailable

ACTION_USAGE = {
    "/rollback": "`/rollback SERVICE [--to-revision N]`: roll a deployment back",
    "/scale": "`/scale SERVICE REPLICAS`: set a deployment's replica count",
    "/restart": "`/restart SERVICE`: rolling restart of a deployment",
    "/oncall": "`/oncall [service]`: who is on call now",
}


@dataclass(frozen=True)
class CommandDeps:
    store: Store
    lifecycle: Lifecycle
    config: PlatformConfig


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


async def _list_open(deps: CommandDeps) -> str:
    try:
        incidents = await deps.store.list_incidents(open_only=True)
    except StoreUnavailable:
        return ":warning: The incident store is unavailable right now; try again in a moment."
    if not incidents:
        return "No open incidents."
    lines = [
        f"• *#{i.id}* {i.severity} {i.title} ({i.status})"
        + (f" in <#{i.channel_id}>" if i.channel_id else "")
        for i in incidents
    ]
    return "*Open incidents*\n" + "\n".join(lines)


def register_commands(app: AsyncApp, deps: CommandDeps) -> None:
    @app.command("/incident")
    async def incident(ack: AsyncAck, command: dict[str, Any]) -> None:
        parsed = parse_incident(str(command.get("text", "")))
        if isinstance(parsed, UsageProblem):
            await ack(**_ephemeral(f":warning: {parsed.message}\n\n{INCIDENT_USAGE}"))
            return
        await ack(**_ephemeral(await _answer(parsed, deps)))

    for name, usage in ACTION_USAGE.items():
        app.command(name)(_unavailable(name, usage))


async def _answer(parsed: Parsed, deps: CommandDeps) -> str:
    if parsed.subcommand == "help":
        return INCIDENT_USAGE
    if parsed.subcommand == "list":
        return await _list_open(deps)
    return (
        f"`/incident {parsed.subcommand}` is not available in this version of incident-bot yet."
        f"\n\n{INCIDENT_USAGE}"
    )


def _unavailable(name: str, usage: str) -> Any:
    async def handler(ack: AsyncAck) -> None:
        await ack(**_ephemeral(f"`{name}` is not available in this version yet.\nUsage: {usage}"))

    return handler
