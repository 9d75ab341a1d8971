"""The `incident-bot` command: serve, check-config, incidents, playbooks, postmortem, store."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from bot.config import ConfigError, PlatformConfig, Settings, load_platform_config
from bot.domain.clock import SystemClock
from bot.domain.incident import Incident, Severity
from bot.domain.problem import Problem
from bot.domain.timeline import verify_chain
from bot.integrations.pagerduty import PagerDutyEvents
from bot.services.incidents import Lifecycle
from bot.services.outbox import Outbox
from bot.services.paging import Pager
from bot.services.publication import PublicRequest
from bot.services.readiness import integration_states, playbook_state, secret_values
from bot.store.base import Store, StoreUnavailable
from bot.store.factory import open_store

EXIT_USAGE = 2
ACTOR_HELP = "the person doing this, as the timeline records it (default: $USER)"
MAX_ID = 2**63 - 1  # SQLite's largest INTEGER


class CliError(Exception):
    """A problem to print on one line, with no traceback."""


def _settings(config_override: str | None = None) -> tuple[Settings, PlatformConfig]:
    try:
        settings = Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        reason = err["msg"].removeprefix("Value error, ")
        raise CliError(f"environment: {err['loc'][0]}: {reason}") from None
    path = Path(config_override) if config_override else settings.config_file
    try:
        config = load_platform_config(path)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    return settings, config


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.app import create_app, serve
    from bot.observability.error_reporting import init_sentry
    from bot.observability.logs import setup_logging

    settings, config = _settings(args.config)
    secrets = secret_values(settings)
    setup_logging(settings.log_level, secrets)
    if settings.sentry_dsn is not None:
        init_sentry(settings.sentry_dsn.get_secret_value(), secrets=secrets)

    async def usable(store: Store) -> int:
        return 0

    # Fail here, on one line, rather than with a traceback from inside the server's startup.
    asyncio.run(_with_store(settings, usable))
    try:
        serve(create_app(settings, config), args.host, args.port)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from bot.playbooks.loader import load_directory
    from bot.playbooks.registry import STEP_KINDS

    settings, config = _settings(args.config)
    print(
        f"platform config: ok ({config.platform}, {len(config.services)} services, "
        f"namespace {config.namespace})"
    )
    worst = 0
    catalogue = load_directory(config.playbooks_dir, STEP_KINDS)
    books = playbook_state(config.playbooks_dir, catalogue)
    for state in [*integration_states(settings, config.operators), books]:
        print(f"  {state.name:<22} {state.state:<11} {state.detail}")
        if state.state == "invalid":
            worst = 1
    return worst


async def _with_store(settings: Settings, work: Callable[[Store], Awaitable[int]]) -> int:
    try:
        store = open_store(settings.database)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        await store.open()
    except Exception as exc:
        raise CliError(f"cannot open the store {settings.database}: {exc}") from None
    try:
        return await work(store)
    except StoreUnavailable as exc:
        raise CliError(str(exc)) from None
    finally:
        await store.close()


def cli_user() -> str:
    """Who runs the command: the person a CLI change is recorded as, unless --actor names
    someone else. $USER first (what a shell session says), then the OS account."""
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):  # no such account in the password database (a container)
        return "cli"


def _print_incident(incident: Incident) -> None:
    print(f"#{incident.id} {incident.severity} {incident.status:<13} {incident.title}")


def cmd_incidents(args: argparse.Namespace) -> int:
    settings, config = _settings(args.config)
    actor = getattr(args, "actor", None) or cli_user()
    incident_id = getattr(args, "id", None)
    if incident_id is not None and not 1 <= incident_id <= MAX_ID:
        raise CliError(f"no incident #{incident_id}")

    async def work(store: Store) -> int:
        events = (
            PagerDutyEvents(
                settings.pagerduty_routing_key.get_secret_value(), settings.pagerduty_events_url
            )
            if settings.pagerduty_routing_key is not None
            else None
        )
        lifecycle = Lifecycle(
            store,
            Outbox(store),
            SystemClock(),
            incidents_channel=settings.slack_incidents_channel or config.channels.incidents,
            config=config,
            # The CLI works when Slack is down: a P0 declared here must still page.
            pager=Pager(config, store, SystemClock(), events),
        )
        outcome: Incident | Problem
        if args.action == "list":
            for incident in await store.list_incidents(open_only=not args.all):
                _print_incident(incident)
            return 0
        if args.action == "declare":
            severity = Severity.parse(args.sev)
            if severity is None:
                raise CliError(f"--sev must be P0, P1, P2 or P3, not {args.sev!r}")
            outcome = await lifecycle.declare(
                " ".join(args.title),
                severity,
                actor,
                services=tuple(args.service or ()),
                commander=args.commander or actor,
            )
            if not isinstance(outcome, Problem):
                await lifecycle.open(outcome)
        elif args.action == "update":
            public = PublicRequest(
                args.public_title,
                args.impact,
                tuple(c for c in args.components.split(",") if c)
                if args.components is not None
                else None,
            )
            if not args.public and not public.empty:
                raise CliError("--public-title, --impact and --components go with --public")
            outcome = await lifecycle.update(
                args.id, " ".join(args.text), actor, public=args.public, request=public
            )
        elif args.action == "resolve":
            outcome = await lifecycle.resolve(args.id, " ".join(args.summary), actor)
        else:
            return await _verify(store, args.id)
        if isinstance(outcome, Problem):
            raise CliError(outcome.message)
        _print_incident(outcome)
        return 0

    return asyncio.run(_with_store(settings, work))


async def _verify(store: Store, incident_id: int) -> int:
    if await store.get_incident(incident_id) is None:
        raise CliError(f"no incident #{incident_id}")
    events = await store.timeline(incident_id)
    problems = verify_chain(events)
    if not problems:
        print(f"incident #{incident_id}: timeline intact ({len(events)} events)")
        return 0
    for problem in problems:
        print(f"incident #{incident_id}: event #{problem.seq}: {problem.reason}")
    return 1


def cmd_playbooks(args: argparse.Namespace) -> int:
    from bot.playbooks.loader import load_directory
    from bot.playbooks.registry import STEP_KINDS

    settings, config = _settings(args.config)
    catalogue = load_directory(config.playbooks_dir, STEP_KINDS)
    if args.action == "validate":
        for error in catalogue.errors:
            print(error)
        print(f"{len(catalogue.playbooks)} playbooks valid, {len(catalogue.errors)} errors")
        return 1 if catalogue.errors else 0
    if args.action == "list":
        for name, book in sorted(catalogue.playbooks.items()):
            steps = ", ".join(step.kind for step in book.spec.steps)
            print(f"{name}: {book.spec.description} [{steps}]")
        return 0
    if not args.name:
        raise CliError("playbooks run needs a playbook name")
    return asyncio.run(_run_playbook(settings, config, args.name, args.service, args.quick))


async def _run_playbook(
    settings: Settings, config: PlatformConfig, name: str, service: str | None, quick: bool
) -> int:
    from bot.domain.report import plain_line
    from bot.services.platform import build_platform

    platform = await build_platform(settings, config, SystemClock())
    try:
        assert platform.playbooks is not None
        outcome = await platform.playbooks.run(name, service, quick_only=quick)
    finally:
        await platform.close()
    if isinstance(outcome, Problem):
        raise CliError(outcome.message)
    attention = 0
    for result in outcome.results:
        attention += result.outcome != "ok"
        print(f"[{result.outcome}] {result.title} ({result.seconds:.1f} s)")
        for line in result.lines:
            print(f"    {plain_line(line)}")
        if result.details:
            print("    " + result.details.replace("\n", "\n    "))
    return 1 if attention else 0


def cmd_postmortem(args: argparse.Namespace) -> int:
    from bot.services.platform import other_integrations
    from bot.services.postmortems.drafts import PostMortems

    settings, config = _settings(args.config)

    async def work(store: Store) -> int:
        prometheus = other_integrations(settings).get("prometheus")
        drafts = PostMortems(store, config, SystemClock(), prometheus)
        to_stdout = args.output in (None, "-")
        if to_stdout and args.format != "md":
            raise CliError(f"a {args.format} file needs a name: -o FILE")
        # Markdown on stdout has nowhere to put its chart beside it.
        draft = await drafts.draft(args.id, chart=not to_stdout)
        if draft is None:
            raise CliError(f"no incident #{args.id}")
        if args.format == "png" and draft.chart is None:
            raise CliError("no metrics chart: Prometheus is not configured or had no data")
        body = draft.render(args.format)
        if to_stdout:
            sys.stdout.write(body.decode())
            return 0
        output = Path(args.output)
        await asyncio.to_thread(output.write_bytes, body)
        print(f"wrote {output} ({len(body)} bytes)", file=sys.stderr)
        if args.format == "md" and draft.chart is not None:
            # Beside the Markdown, under the name it refers to.
            chart = output.parent / draft.filename("png")
            await asyncio.to_thread(chart.write_bytes, draft.chart)
            print(f"wrote {chart} ({len(draft.chart)} bytes)", file=sys.stderr)
        return 0

    return asyncio.run(_with_store(settings, work))


def cmd_store(args: argparse.Namespace) -> int:
    from bot.store.copy import CopyError, copy_sqlite_to_postgres

    # The URL holds a password: from the environment it stays out of the process list.
    target = str(args.to or os.environ.get("INCIDENT_BOT_DATABASE", ""))
    if not target.startswith(("postgresql://", "postgres://")):
        raise CliError("--to (or INCIDENT_BOT_DATABASE) must be a postgresql:// URL")
    try:
        report = asyncio.run(copy_sqlite_to_postgres(Path(args.source), target))
    except CopyError as exc:
        raise CliError(str(exc)) from None
    for table, count in report.rows.items():
        print(f"  {table:<22} {count}")
    print(f"copied {report.total} rows; point INCIDENT_BOT_DATABASE at the new store")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incident-bot", description=__doc__)
    parser.add_argument("--config", help="platform config YAML (default: INCIDENT_BOT_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the bot's HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--config", default=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate config; show each integration's state")
    check.add_argument("--config", default=argparse.SUPPRESS)
    check.set_defaults(func=cmd_check_config)

    incidents = sub.add_parser("incidents", help="declare, update, resolve, list, verify")
    isub = incidents.add_subparsers(dest="action", required=True)
    lst = isub.add_parser("list", help="open incidents (--all for every one)")
    lst.add_argument("--all", action="store_true")
    declare = isub.add_parser("declare", help="declare an incident")
    declare.add_argument("title", nargs="+")
    declare.add_argument("--sev", default="P2")
    declare.add_argument("--service", action="append")
    declare.add_argument("--actor", help=ACTOR_HELP)
    declare.add_argument("--commander", help="who leads the incident (default: the actor)")
    update = isub.add_parser("update", help="post a status update")
    update.add_argument("id", type=int)
    update.add_argument("text", nargs="+")
    update.add_argument("--actor", help=ACTOR_HELP)
    update.add_argument("--public", action="store_true", help="also publish it on the status page")
    update.add_argument("--public-title", help="the status page's title (first public update)")
    update.add_argument("--impact", help="degraded_performance, partial_outage or major_outage")
    update.add_argument("--components", help="affected services, comma-separated")
    resolve = isub.add_parser("resolve", help="resolve an incident")
    resolve.add_argument("id", type=int)
    resolve.add_argument("summary", nargs="*")
    resolve.add_argument("--actor", help=ACTOR_HELP)
    verify = isub.add_parser("verify", help="check the timeline's hash chain")
    verify.add_argument("id", type=int)
    incidents.set_defaults(func=cmd_incidents)

    playbooks = sub.add_parser("playbooks", help="validate, list or run playbooks")
    playbooks.add_argument("action", choices=["validate", "list", "run"])
    playbooks.add_argument("name", nargs="?")
    playbooks.add_argument("--service", help="the service to run it for")
    playbooks.add_argument("--quick", action="store_true", help="only the quick steps")
    playbooks.set_defaults(func=cmd_playbooks)

    postmortem = sub.add_parser("postmortem", help="write an incident's post-mortem draft")
    postmortem.add_argument("id", type=int)
    postmortem.add_argument("--format", choices=["md", "docx", "png", "zip"], default="md")
    postmortem.add_argument("-o", "--output")
    postmortem.set_defaults(func=cmd_postmortem)

    store = sub.add_parser("store", help="move the store to PostgreSQL")
    ssub = store.add_subparsers(dest="action", required=True)
    copy = ssub.add_parser("copy", help="copy a SQLite store into an empty PostgreSQL database")
    copy.add_argument("--from", dest="source", required=True, help="the SQLite file")
    copy.add_argument(
        "--to",
        help="postgresql://USER:PASS@HOST:PORT/DB (default: INCIDENT_BOT_DATABASE, which keeps"
        " the password out of the process list)",
    )
    store.set_defaults(func=cmd_store)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except CliError as exc:
        print(f"incident-bot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
