"""`/incident <subcommand>` handlers: each takes the parsed command and answers the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import PlatformConfig
from bot.domain.clock import Clock
from bot.domain.commands import INCIDENT_USAGE, Parsed, parse_user, split_incident_ref
from bot.domain.incident import Incident, Severity, Status, format_duration
from bot.domain.problem import Problem
from bot.domain.timeline import EventKind, NewEvent
from bot.playbooks.service import Playbooks
from bot.services.incidents import Changed, Lifecycle, mention
from bot.services.outbox import Outbox
from bot.services.postmortems.drafts import PostMortems
from bot.slack.playbook_runs import post_run
from bot.slack.postmortem_upload import upload as upload_postmortem
from bot.store.base import Store, StoreUnavailable


@dataclass(frozen=True)
class CommandDeps:
    store: Store
    lifecycle: Lifecycle
    config: PlatformConfig
    clock: Clock
    outbox: Outbox | None = None
    playbooks: Playbooks | None = None
    postmortems: PostMortems | None = None
    client: AsyncWebClient | None = None


@dataclass(frozen=True)
class Invocation:
    parsed: Parsed
    user: str
    channel: str
    deps: CommandDeps


Handler = Callable[[Invocation, Incident], Awaitable[str]]


def said(outcome: Changed | Problem) -> str:
    """The caller sees what the channel was told, or what was wrong."""
    return outcome.message if isinstance(outcome, Problem) else outcome.said


async def answer(inv: Invocation) -> str:
    """The text to show the caller (ephemeral), after doing what was asked."""
    sub = inv.parsed.subcommand
    if sub == "help":
        return INCIDENT_USAGE
    if sub == "list":
        return await list_open(inv.deps.store)
    if sub == "run":
        return await run(inv)
    if sub == "declare":
        return await declare(inv)
    ref, args = split_incident_ref(inv.parsed.args)
    store = inv.deps.store
    incident = (
        await store.get_incident(ref)
        if ref is not None
        else await store.incident_by_channel(inv.channel)
    )
    if incident is None:
        return (
            f"No incident #{ref}."
            if ref is not None
            else f"`/incident {sub}` works in an incident channel, or name one: "
            f"`/incident {sub} #ID …`."
        )
    inv = Invocation(
        Parsed(sub, args, inv.parsed.options, inv.parsed.rest), inv.user, inv.channel, inv.deps
    )
    await store.append_event(
        incident.id,
        NewEvent(
            EventKind.COMMAND,
            inv.user,
            f"/incident {sub} {' '.join(args)}".strip(),
            inv.deps.clock.now(),
            {"options": dict(inv.parsed.options)},
        ),
    )
    return await HANDLERS[sub](inv, incident)


async def run(inv: Invocation) -> str:
    books, outbox = inv.deps.playbooks, inv.deps.outbox
    if books is None or outbox is None or not books.names():
        return "No playbooks are loaded (see `incident-bot playbooks validate`)."
    if not inv.parsed.args:
        listed = "\n".join(
            f"• `{name}`: {books.catalogue.playbooks[name].spec.description}"
            for name in books.names()
        )
        return f"Usage: `/incident run PLAYBOOK [SERVICE]`\n{listed}"
    name = inv.parsed.args[0]
    service = inv.parsed.args[1] if len(inv.parsed.args) > 1 else None
    outcome = await books.run(name, service)
    if isinstance(outcome, Problem):
        return f":warning: {outcome.message}"
    incident = await inv.deps.store.incident_by_channel(inv.channel)
    incident_id = incident.id if incident else None
    await post_run(outbox, inv.channel, outcome, incident_id=incident_id)
    if incident_id is not None:
        attention = sum(r.outcome != "ok" for r in outcome.results)
        await inv.deps.store.append_event(
            incident_id,
            NewEvent(
                EventKind.ACTION,
                inv.user,
                f"ran playbook {name}{' for ' + service if service else ''}:"
                f" {len(outcome.results)} steps, {attention} need attention",
                inv.deps.clock.now(),
                {"playbook": name, "service": service},
            ),
        )
    return f"Playbook `{name}` ran; the results are posted in this channel."


async def list_open(store: Store) -> str:
    try:
        incidents = await store.list_incidents(open_only=True)
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


async def declare(inv: Invocation) -> str:
    title = " ".join(inv.parsed.args)
    severity = Severity.parse(inv.parsed.options.get("sev", "P2"))
    if severity is None:
        return "`--sev` must be P0, P1, P2 or P3."
    services = tuple(s for s in inv.parsed.options.get("service", "").split(",") if s)
    outcome = await inv.deps.lifecycle.declare(title, severity, inv.user, services=services)
    if isinstance(outcome, Problem):
        return f":warning: {outcome.message}"
    problems = await inv.deps.lifecycle.open(outcome)
    incident = await inv.deps.store.get_incident(outcome.id) or outcome
    where = f" in <#{incident.channel_id}>" if incident.channel_id else ""
    text = f":rotating_light: Declared {severity} incident #{incident.id}{where}."
    return text + "".join(f"\n:warning: {p}" for p in problems)


async def update(inv: Invocation, incident: Incident) -> str:
    status = None
    if "status" in inv.parsed.options:
        try:
            status = Status(inv.parsed.options["status"].lower())
        except ValueError:
            return "`--status` must be investigating, identified or monitoring."
    outcome = await inv.deps.lifecycle.update(
        incident.id, " ".join(inv.parsed.args), inv.user, status
    )
    if isinstance(outcome, Problem):
        return f":warning: {outcome.message}. Usage: `/incident update <text> [--status S]`"
    return f"Update posted to #{incident.id}."


async def status(inv: Invocation, incident: Incident) -> str:
    events = await inv.deps.store.timeline(incident.id)
    last = next((e for e in reversed(events) if e.kind == EventKind.STATUS_UPDATE), None)
    roles = ", ".join(f"{r} {mention(u)}" for r, u in sorted(incident.roles.items()))
    lines = [
        f"*#{incident.id} {incident.title}*",
        f"{incident.severity} · {incident.status} · open for "
        f"{format_duration(incident.duration(inv.deps.clock.now()))}",
        f"Roles: {roles or 'none'}",
        f"Services: {', '.join(incident.services) or 'none named'}",
        f"Last update: {last.text} ({last.at:%H:%M} UTC)" if last else "No status update yet.",
    ]
    return "\n".join(lines)


async def sev(inv: Invocation, incident: Incident) -> str:
    severity = Severity.parse(inv.parsed.args[0]) if inv.parsed.args else None
    if severity is None:
        return "Usage: `/incident sev P0|P1|P2|P3`"
    return said(await inv.deps.lifecycle.set_severity(incident.id, severity, inv.user))


async def role(inv: Invocation, incident: Incident) -> str:
    if len(inv.parsed.args) != 2 or parse_user(inv.parsed.args[1]) is None:
        return "Usage: `/incident role <commander|comms|scribe|ops|liaison> @user`"
    user = parse_user(inv.parsed.args[1])
    assert user is not None
    return said(await inv.deps.lifecycle.set_role(incident.id, inv.parsed.args[0], user, inv.user))


async def action(inv: Invocation, incident: Incident) -> str:
    words = list(inv.parsed.args)
    owner = parse_user(words[-1]) if words else None
    if owner is not None:
        words = words[:-1]
    if not words:
        return "Usage: `/incident action <text> [@owner]`"
    return said(
        await inv.deps.lifecycle.add_follow_up(incident.id, " ".join(words), owner, inv.user)
    )


async def resolve(inv: Invocation, incident: Incident) -> str:
    outcome = await inv.deps.lifecycle.resolve(incident.id, " ".join(inv.parsed.args), inv.user)
    if isinstance(outcome, Problem):
        return f":warning: {outcome.message}"
    return (
        f"#{incident.id} resolved. The runbook asks you to watch it for an hour; I will"
        " remind this channel then."
    )


async def close(inv: Invocation, incident: Incident) -> str:
    return said(await inv.deps.lifecycle.close(incident.id, inv.user))


async def postmortem(inv: Invocation, incident: Incident) -> str:
    drafts, outbox = inv.deps.postmortems, inv.deps.outbox
    if drafts is None or outbox is None:
        return "Post-mortem drafts are not available here."
    draft = await drafts.draft(incident.id)
    if draft is None:
        return f"No incident #{incident.id}."
    channel = incident.channel_id or inv.channel
    await upload_postmortem(draft, outbox, inv.deps.client, channel)
    chart = " with the metrics chart" if draft.chart else ""
    note = "" if not incident.is_open else " (still open: the draft covers it so far)"
    return f"Post-mortem draft for #{incident.id} uploaded as Markdown and Word{chart}{note}."


HANDLERS: dict[str, Handler] = {
    "postmortem": postmortem,
    "update": update,
    "status": status,
    "sev": sev,
    "role": role,
    "action": action,
    "resolve": resolve,
    "close": close,
}
