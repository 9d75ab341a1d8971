"""`/incident <subcommand>` handlers: each takes the parsed command and answers the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import PlatformConfig
from bot.domain.clock import Clock
from bot.domain.commands import INCIDENT_USAGE, Parsed, parse_user, split_incident_ref
from bot.domain.incident import Incident, Severity, Status, format_duration
from bot.domain.problem import Problem
from bot.domain.report import Code, Line, Mark, Strong, User, line
from bot.domain.timeline import EventKind, NewEvent
from bot.playbooks.service import Playbooks
from bot.services.incidents import Changed, Lifecycle, in_channel
from bot.services.jobs import Jobs
from bot.services.outbox import Outbox
from bot.services.postmortems.drafts import PostMortems
from bot.services.publication import PublicRequest
from bot.slack.blocks import escape
from bot.slack.playbook_runs import post_run
from bot.slack.postmortem_upload import upload as upload_postmortem
from bot.slack.report import mrkdwn
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
    # The work after the ack, as durable jobs (None: run in this process only).
    jobs: Jobs | None = None


@dataclass(frozen=True)
class Invocation:
    parsed: Parsed
    user: str
    channel: str
    deps: CommandDeps
    # The request's identity (Slack's trigger_id): a rerun of the same command finds what
    # its first run did instead of doing it again.
    request: str | None = None


Handler = Callable[[Invocation, Incident], Awaitable[str]]


def said(outcome: Changed | Problem) -> str:
    """The caller sees what the channel was told, or what was wrong."""
    return escape(outcome.message) if isinstance(outcome, Problem) else mrkdwn(outcome.said)


def refusal(outcome: object) -> str | None:
    """A change the asker may not make is shown as the dangerous actions' refusals are."""
    if isinstance(outcome, Problem) and outcome.refused:
        return f":no_entry: {escape(outcome.message)}"
    return None


def warning(problem: Problem) -> str:
    return f":warning: {escape(problem.message)}"


def declared(incident: Incident, problems: list[str]) -> tuple[Line, ...]:
    """What the declarer is told: where the incident is, and what went wrong on the way."""
    return (
        line(
            f"Declared {incident.severity} incident #{incident.id}",
            *in_channel(incident),
            ".",
            mark=Mark.INCIDENT,
        ),
        *(line(p, mark=Mark.WARNING) for p in problems),
    )


async def answer(inv: Invocation) -> str:
    """The text to show the caller (ephemeral), after doing what was asked."""
    sub = inv.parsed.subcommand
    if sub == "help":
        return escape(INCIDENT_USAGE)
    if sub == "list":
        return await list_open(inv.deps.store)
    if sub == "run":
        return await run(inv)
    if sub == "declare":
        return await declare(inv)
    if sub == "maintenance":
        return await maintenance(inv)
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
        Parsed(sub, args, inv.parsed.options, inv.parsed.rest),
        inv.user,
        inv.channel,
        inv.deps,
        inv.request,
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
        listed = [
            line(Code(name), ": ", books.catalogue.playbooks[name].spec.description, bullet=True)
            for name in books.names()
        ]
        return mrkdwn([line("Usage: ", Code("/incident run PLAYBOOK [SERVICE]")), *listed])
    name = inv.parsed.args[0]
    service = inv.parsed.args[1] if len(inv.parsed.args) > 1 else None
    outcome = await books.run(name, service)
    if isinstance(outcome, Problem):
        return warning(outcome)
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
                outcome.evidence(),
            ),
        )
    return mrkdwn([line("Playbook ", Code(name), " ran; the results are posted in this channel.")])


async def list_open(store: Store) -> str:
    try:
        incidents = await store.list_incidents(open_only=True)
    except StoreUnavailable:
        return ":warning: The incident store is unavailable right now; try again in a moment."
    if not incidents:
        return "No open incidents."
    lines = [
        line(
            Strong(f"#{i.id}"),
            f" {i.severity} ",
            i.title,
            f" ({i.status})",
            *in_channel(i),
            bullet=True,
        )
        for i in incidents
    ]
    return mrkdwn([line(Strong("Open incidents")), *lines])


async def declare(inv: Invocation) -> str:
    title = " ".join(inv.parsed.args)
    severity = Severity.parse(inv.parsed.options.get("sev", "P2"))
    if severity is None:
        return "`--sev` must be P0, P1, P2 or P3."
    services = tuple(s for s in inv.parsed.options.get("service", "").split(",") if s)
    lifecycle = inv.deps.lifecycle
    outcome = await lifecycle.declare(
        title, severity, inv.user, services=services, request_key=inv.request
    )
    if isinstance(outcome, Problem):
        return warning(outcome)
    problems = await lifecycle.open(outcome)
    incident = await inv.deps.store.get_incident(outcome.id) or outcome
    return mrkdwn(declared(incident, problems))


UPDATE_USAGE = (
    "Usage: `/incident update <text> [--status S] [--public"
    ' [--public-title "…" --impact I --components a,b]]`'
)
MAINTENANCE_USAGE = (
    'Usage: `/incident maintenance "<public title>" --start 2026-12-05T02:00Z'
    " --end 2026-12-05T03:00Z --components a,b [--body <text>]`"
)


def public_request(options: dict[str, str]) -> PublicRequest:
    components = options.get("components")
    return PublicRequest(
        title=options.get("public-title"),
        impact=options.get("impact"),
        components=tuple(c for c in components.split(",") if c) if components is not None else None,
    )


async def update(inv: Invocation, incident: Incident) -> str:
    status = None
    options = inv.parsed.options
    if "status" in options:
        try:
            status = Status(options["status"].lower())
        except ValueError:
            return "`--status` must be investigating, identified or monitoring."
    public = "public" in options
    request = public_request(options)
    if not public and not request.empty:
        return (
            f":warning: the public title, impact and components go with `--public`. {UPDATE_USAGE}"
        )
    outcome = await inv.deps.lifecycle.update(
        incident.id, " ".join(inv.parsed.args), inv.user, status, public=public, request=request
    )
    if isinstance(outcome, Problem):
        return f"{warning(outcome)}. {UPDATE_USAGE}"
    if public:
        return f"Update posted to #{incident.id} and published on the status page."
    return f"Update posted to #{incident.id} (internal: add `--public` to publish one)."


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def maintenance(inv: Invocation) -> str:
    options = inv.parsed.options
    starts_at, ends_at = _moment(options.get("start")), _moment(options.get("end"))
    if starts_at is None or ends_at is None:
        return f":warning: `--start` and `--end` must be ISO times. {MAINTENANCE_USAGE}"
    components = tuple(c for c in options.get("components", "").split(",") if c)
    outcome = await inv.deps.lifecycle.publisher.schedule(
        options.get("title") or " ".join(inv.parsed.args).strip('"\u201c\u201d '),
        options.get("body", ""),
        components,
        starts_at,
        ends_at,
        inv.user,
    )
    if isinstance(outcome, Problem):
        return f"{warning(outcome)}. {MAINTENANCE_USAGE}"
    return (
        f"Maintenance “{escape(outcome.title)}” scheduled on the status page,"
        f" {outcome.starts_at:%Y-%m-%d %H:%M} to {outcome.ends_at:%Y-%m-%d %H:%M} UTC."
    )


async def status(inv: Invocation, incident: Incident) -> str:
    events = await inv.deps.store.timeline(incident.id)
    last = next((e for e in reversed(events) if e.kind == EventKind.STATUS_UPDATE), None)
    roles = [
        span
        for i, (name, user) in enumerate(sorted(incident.roles.items()))
        for span in (", " if i else "", f"{name} ", User(user))
    ]
    lines = [
        line(Strong(f"#{incident.id} {incident.title}")),
        line(
            f"{incident.severity} · {incident.status} · open for "
            f"{format_duration(incident.duration(inv.deps.clock.now()))}"
        ),
        line("Roles: ", *(roles or ["none"])),
        line(f"Services: {', '.join(incident.services) or 'none named'}"),
        line("Last update: ", last.text, f" ({last.at:%H:%M} UTC)")
        if last
        else line("No status update yet."),
    ]
    return mrkdwn(lines)


async def sev(inv: Invocation, incident: Incident) -> str:
    severity = Severity.parse(inv.parsed.args[0]) if inv.parsed.args else None
    if severity is None:
        return "Usage: `/incident sev P0|P1|P2|P3`"
    outcome = await inv.deps.lifecycle.set_severity(
        incident.id, severity, inv.user, asked_in=inv.channel
    )
    return refusal(outcome) or said(outcome)


async def role(inv: Invocation, incident: Incident) -> str:
    if len(inv.parsed.args) != 2 or parse_user(inv.parsed.args[1]) is None:
        return "Usage: `/incident role &lt;commander|comms|scribe|ops|liaison&gt; @user`"
    user = parse_user(inv.parsed.args[1])
    assert user is not None
    outcome = await inv.deps.lifecycle.set_role(
        incident.id, inv.parsed.args[0], user, inv.user, asked_in=inv.channel
    )
    return refusal(outcome) or said(outcome)


async def action(inv: Invocation, incident: Incident) -> str:
    words = list(inv.parsed.args)
    owner = parse_user(words[-1]) if words else None
    if owner is not None:
        words = words[:-1]
    if not words:
        return "Usage: `/incident action &lt;text&gt; [@owner]`"
    return said(
        await inv.deps.lifecycle.add_follow_up(incident.id, " ".join(words), owner, inv.user)
    )


async def resolve(inv: Invocation, incident: Incident) -> str:
    outcome = await inv.deps.lifecycle.resolve(
        incident.id, " ".join(inv.parsed.args), inv.user, asked_in=inv.channel
    )
    if isinstance(outcome, Problem):
        return refusal(outcome) or warning(outcome)
    return (
        f"#{incident.id} resolved. The runbook asks you to watch it for an hour; I will"
        " remind this channel then."
    )


async def close(inv: Invocation, incident: Incident) -> str:
    outcome = await inv.deps.lifecycle.close(incident.id, inv.user, asked_in=inv.channel)
    return refusal(outcome) or said(outcome)


async def postmortem(inv: Invocation, incident: Incident) -> str:
    drafts, outbox = inv.deps.postmortems, inv.deps.outbox
    if drafts is None or outbox is None:
        return "Post-mortem drafts are not available here."
    draft = await drafts.draft(incident.id)
    if draft is None:
        return f"No incident #{incident.id}."
    channel = incident.channel_id or inv.channel
    await upload_postmortem(draft, outbox, channel)
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
