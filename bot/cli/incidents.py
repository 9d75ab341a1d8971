"""`incident-bot incidents …`: what `/incident` does in Slack, from a terminal or a script,
through the same lifecycle service, recorded in the timeline the same way with the person
running it (`--actor`, default $USER) as the actor."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from bot.cli.incident_view import incident_text, incident_with, summary_line
from bot.cli.runtime import cli_user, known_id, lifecycle, load_settings, with_store
from bot.cli.terminal import Failed, UsageError, emit_json, say
from bot.domain.commands import parse_user
from bot.domain.incident import Incident
from bot.domain.incident_json import incident_json
from bot.domain.problem import Problem
from bot.domain.report import Line, Mark, line, plain_line
from bot.domain.timeline import EventKind, verify_chain
from bot.services.incidents import Changed, Lifecycle
from bot.services.publication import PublicRequest
from bot.store.base import Store

Work = Callable[[Store, Lifecycle], Awaitable[int]]


def _session(args: argparse.Namespace, work: Work) -> int:
    settings, config = load_settings(args.config)

    async def with_lifecycle(store: Store) -> int:
        return await work(store, lifecycle(store, settings, config))

    return asyncio.run(with_store(settings, with_lifecycle))


def _actor(args: argparse.Namespace) -> str:
    return str(args.actor or cli_user())


def person(text: str) -> str:
    """A person as the timeline records them: a Slack user id when given one (`U123`,
    `@U123`, `<@U123>`), otherwise the name as written, without a leading @."""
    who = parse_user(text) or text.strip().lstrip("@").strip()
    if not who:
        raise UsageError(f"{text!r} names nobody")
    return who


async def _last_seq(store: Store, incident_id: int) -> int:
    events = await store.timeline(incident_id)
    return events[-1].seq if events else 0


async def _report(
    store: Store,
    args: argparse.Namespace,
    outcome: Incident | Changed | Problem,
    since: int,
    said: Sequence[Line] | None = None,
) -> int:
    """What the command did: the incident, what the bot said about it, and the paging outcome
    this command recorded; or, with --json, the incident and the events recorded."""
    if isinstance(outcome, Problem):
        raise Failed(outcome.message)
    incident = outcome.incident if isinstance(outcome, Changed) else outcome
    if said is None:
        said = outcome.said if isinstance(outcome, Changed) else ()
    recorded = [e for e in await store.timeline(incident.id) if e.seq > since]
    if args.json:
        emit_json(incident_with(incident, "recorded", recorded))
        return 0
    say(summary_line(incident))
    for ln in said:
        say(plain_line(ln))
    for event in recorded:
        if event.kind == EventKind.PAGE:
            say(event.text)
    return 0


def _change(
    args: argparse.Namespace,
    incident_id: int,
    act: Callable[[Lifecycle], Awaitable[Incident | Changed | Problem]],
) -> int:
    """One change through the lifecycle, reported with the events it recorded."""

    async def work(store: Store, incidents: Lifecycle) -> int:
        since = await _last_seq(store, incident_id)
        return await _report(store, args, await act(incidents), since)

    return _session(args, work)


def list_incidents(args: argparse.Namespace) -> int:
    async def work(store: Store, _: Lifecycle) -> int:
        incidents = await store.list_incidents(open_only=not args.all)
        if args.json:
            emit_json({"incidents": [incident_json(i) for i in incidents]})
        for incident in () if args.json else incidents:
            say(summary_line(incident))
        return 0

    return _session(args, work)


def declare(args: argparse.Namespace) -> int:
    actor = _actor(args)

    async def work(store: Store, incidents: Lifecycle) -> int:
        outcome = await incidents.declare(
            " ".join(args.title),
            args.sev,
            actor,
            services=tuple(args.service or ()),
            commander=person(args.commander) if args.commander else actor,
        )
        if isinstance(outcome, Problem):
            raise Failed(outcome.message)
        problems = await incidents.open(outcome)
        incident = await store.get_incident(outcome.id) or outcome
        return await _report(
            store, args, incident, 0, [line(p, mark=Mark.WARNING) for p in problems]
        )

    return _session(args, work)


def update(args: argparse.Namespace) -> int:
    components = args.components
    request = PublicRequest(
        args.public_title,
        args.impact,
        tuple(c for c in components.split(",") if c) if components is not None else None,
    )
    if not args.public and not request.empty:
        raise UsageError("--public-title, --impact and --components go with --public")
    incident_id = known_id(args.id)

    return _change(
        args,
        incident_id,
        lambda incidents: incidents.update(
            incident_id,
            " ".join(args.text),
            _actor(args),
            args.status,
            public=args.public,
            request=request,
        ),
    )


def severity(args: argparse.Namespace) -> int:
    incident_id = known_id(args.id)

    return _change(
        args,
        incident_id,
        lambda incidents: incidents.set_severity(incident_id, args.severity, _actor(args)),
    )


def role(args: argparse.Namespace) -> int:
    incident_id, who = known_id(args.id), person(args.person)

    return _change(
        args,
        incident_id,
        lambda incidents: incidents.set_role(incident_id, args.role, who, _actor(args)),
    )


def action(args: argparse.Namespace) -> int:
    incident_id = known_id(args.id)
    owner = person(args.owner) if args.owner else None

    return _change(
        args,
        incident_id,
        lambda incidents: incidents.add_follow_up(
            incident_id, " ".join(args.text), owner, _actor(args)
        ),
    )


def resolve(args: argparse.Namespace) -> int:
    incident_id = known_id(args.id)

    return _change(
        args,
        incident_id,
        lambda incidents: incidents.resolve(incident_id, " ".join(args.summary), _actor(args)),
    )


def close(args: argparse.Namespace) -> int:
    incident_id = known_id(args.id)

    async def work(store: Store, incidents: Lifecycle) -> int:
        since = await _last_seq(store, incident_id)
        outcome = await incidents.close(incident_id, _actor(args))
        if isinstance(outcome, Problem):
            raise Failed(outcome.message)
        # The CLI has no war room: the channel's archiving is left to Slack, and said so.
        channel = outcome.incident.channel_name or outcome.incident.channel_id
        note = [line(f"Archive #{channel} in Slack.", mark=Mark.INFO)] if channel else []
        return await _report(store, args, outcome, since, note)

    return _session(args, work)


def show(args: argparse.Namespace) -> int:
    incident_id = known_id(args.id)

    async def work(store: Store, _: Lifecycle) -> int:
        incident = await store.get_incident(incident_id)
        if incident is None:
            raise Failed(f"no incident #{incident_id}")
        events = await store.timeline(incident_id)
        if args.json:
            emit_json(incident_with(incident, "timeline", events))
        else:
            say(incident_text(incident, events, datetime.now(UTC)))
        return 0

    return _session(args, work)


def verify(args: argparse.Namespace) -> int:
    incident_id = known_id(args.id)

    async def work(store: Store, _: Lifecycle) -> int:
        if await store.get_incident(incident_id) is None:
            raise Failed(f"no incident #{incident_id}")
        events = await store.timeline(incident_id)
        problems = verify_chain(events)
        if args.json:
            emit_json(
                {
                    "incident_id": incident_id,
                    "events": len(events),
                    "intact": not problems,
                    "problems": [{"seq": p.seq, "reason": p.reason} for p in problems],
                }
            )
        elif not problems:
            say(f"incident #{incident_id}: timeline intact ({len(events)} events)")
        for problem in () if args.json else problems:
            say(f"incident #{incident_id}: event #{problem.seq}: {problem.reason}")
        return 1 if problems else 0

    return _session(args, work)
