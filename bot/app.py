"""The aiohttp application factory: builds every component and owns their start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import socket
from collections.abc import AsyncIterator

from aiohttp import web

from bot.config import PlatformConfig, Settings
from bot.domain.clock import Clock, SystemClock
from bot.integrations.alertmanager import AlertmanagerAPI
from bot.integrations.pagerduty import PagerDutyAPI, PagerDutyEvents
from bot.observability.metrics import Metrics
from bot.services.actions.approvals import DangerousActions, Operators
from bot.services.auto_declare import AutoDeclarePolicy
from bot.services.incident_access import IncidentAccess
from bot.services.incidents import Lifecycle
from bot.services.jobs import Jobs
from bot.services.leadership import Leadership
from bot.services.outbox import Outbox
from bot.services.paging import Pager
from bot.services.platform import build_platform
from bot.services.postmortems.drafts import PostMortems
from bot.services.readiness import integration_states, startup_report
from bot.services.reminders import ReminderScheduler
from bot.services.retention import Retention
from bot.slack.action_commands import ActionCommands, SlackActionBoard, SlackUserGroups
from bot.slack.alert_actions import AlertActionDeps, AlertActions
from bot.slack.alert_threads import AlertThreads, Routing
from bot.slack.bolt_app import build_bolt_app, socket_mode_handler
from bot.slack.channel_events import register_channel_events
from bot.slack.client import CountingWebClient
from bot.slack.commands import job_kinds, register_commands
from bot.slack.directory import SlackDirectory
from bot.slack.http_endpoint import SlackEndpoint
from bot.slack.incident_commands import CommandDeps
from bot.slack.outbox_sender import OutboxSender
from bot.slack.pagerduty_actions import register_pagerduty_actions
from bot.slack.pagerduty_threads import PagerDutyThreads
from bot.slack.playbook_runs import PlaybookEnricher
from bot.slack.war_room import SlackWarRoom
from bot.store.factory import open_store
from bot.web import api, headers, health, status_page, webhooks
from bot.web.keys import (
    CLOCK,
    CONFIG,
    INTEGRATIONS,
    LEADERSHIP,
    LIFECYCLE,
    METRICS,
    OUTBOX,
    PLATFORM,
    POSTMORTEMS,
    REMINDERS,
    SETTINGS,
    SLACK_STATE,
    STORE,
    WEBHOOK_WAKEUPS,
)
from bot.web.middleware import observe
from bot.web.server_log import server_log

SLACK_ENDPOINT = web.AppKey("slack_endpoint", SlackEndpoint)

log = logging.getLogger(__name__)
SOCKET_RETRY_SECONDS = 5.0
# aiohttp's keep-alive timer starts when a connection opens and again after each answer, and
# closes a connection still waiting for a whole request then: it bounds a client that sends
# its headers slowly as well as an idle one. (Bodies have their own deadline, BODY_SECONDS.)
HEADER_SECONDS = 10.0


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = open_store(app[SETTINGS].database)
    await store.open()
    app[STORE] = store
    app[LEADERSHIP] = Leadership(store, app[METRICS])
    yield
    await store.close()


async def _leadership_ctx(app: web.Application) -> AsyncIterator[None]:
    """Last to start, first to stop: the work the contexts before registered runs while this
    replica holds the lease, and a clean stop gives the lease up for another to take at once."""
    task = asyncio.create_task(app[LEADERSHIP].run(), name="leadership")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _retention_ctx(app: web.Application) -> AsyncIterator[None]:
    """Prunes old webhook bodies and sent messages in the background, unless told to keep all."""
    days = app[SETTINGS].retention_days
    if days:
        app[LEADERSHIP].add("retention", Retention(app[STORE], app[CLOCK], days).run)
    yield


async def _platform_ctx(app: web.Application) -> AsyncIterator[None]:
    platform = await build_platform(app[SETTINGS], app[CONFIG], app[CLOCK])
    app[PLATFORM] = platform
    yield
    await platform.close()


async def _slack_ctx(app: web.Application) -> AsyncIterator[None]:
    """Builds the Slack side and the workers that feed it, and stops them in reverse."""
    settings, config, store = app[SETTINGS], app[CONFIG], app[STORE]
    clock, metrics, platform = app[CLOCK], app[METRICS], app[PLATFORM]
    outbox = Outbox(store)
    incidents_channel = settings.slack_incidents_channel or config.channels.incidents
    alerts_channel = settings.slack_alerts_channel or config.channels.alerts
    client = None
    if settings.slack_bot_token is not None and settings.slack_enabled:
        client = CountingWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            metrics=metrics,
        )
    pagerduty = (
        PagerDutyAPI(settings.pagerduty_api_token.get_secret_value(), settings.pagerduty_api_url)
        if settings.pagerduty_api_token is not None
        else None
    )
    events = (
        PagerDutyEvents(
            settings.pagerduty_routing_key.get_secret_value(), settings.pagerduty_events_url
        )
        if settings.pagerduty_routing_key is not None
        else None
    )
    app[POSTMORTEMS] = PostMortems(
        store,
        config,
        clock,
        platform.integrations.get("prometheus"),
        directory=SlackDirectory(client) if client is not None else None,
    )
    war_room = SlackWarRoom(store, outbox, client, config, pagerduty=pagerduty) if client else None
    operators = tuple(dict.fromkeys([*config.operators, *settings.operator_list]))
    lifecycle = Lifecycle(
        store,
        outbox,
        clock,
        incidents_channel=incidents_channel,
        config=config,
        war_room=war_room,
        pager=Pager(config, store, clock, events),
        access=IncidentAccess(store, clock, operators, SlackUserGroups(client)) if client else None,
    )
    policy = AutoDeclarePolicy(config, store, lifecycle, clock)
    enricher = (
        PlaybookEnricher(platform.playbooks, config, clock, platform.kube)
        if platform.playbooks is not None
        else None
    )
    threads = AlertThreads(
        store,
        config,
        Routing(config, alerts_channel),
        clock,
        enricher=enricher,
        auto_declare=policy,
        outbox_wakeup=outbox.wakeup,
    )
    pd_threads = PagerDutyThreads(store, alerts_channel, clock, outbox_wakeup=outbox.wakeup)
    reminders = ReminderScheduler(store, outbox, config, clock, incidents_channel=incidents_channel)
    jobs = Jobs(store, app[LEADERSHIP].holder)
    app[OUTBOX], app[LIFECYCLE], app[REMINDERS] = outbox, lifecycle, reminders
    app[WEBHOOK_WAKEUPS] = {
        "alertmanager": threads.wakeup,
        "grafana": threads.wakeup,
        "pagerduty": pd_threads.wakeup,
    }
    if client is not None:
        alertmanager = (
            AlertmanagerAPI(settings.alertmanager_url) if settings.alertmanager_url else None
        )
        actions = AlertActions(
            AlertActionDeps(
                store,
                outbox,
                threads,
                lifecycle,
                policy,
                clock,
                alertmanager,
                pagerduty,
                client,
                platform.playbooks,
            )
        )
        deps = CommandDeps(
            store,
            lifecycle,
            config,
            clock,
            outbox,
            platform.playbooks,
            app[POSTMORTEMS],
            client,
            jobs,
        )
        jobs.handlers.update(job_kinds(deps))
        assert platform.actions is not None
        dangerous_actions = DangerousActions(
            store,
            platform.actions,
            clock,
            SlackActionBoard(outbox),
            SlackUserGroups(client),
            Operators(operators, config.two_person_p0_rollbacks),
            jobs=jobs,
        )
        if store.backend == "sqlite":
            # One process owns the file: whatever is still running, a stop left so (actions
            # from before they ran as jobs included). On PostgreSQL each running action is a
            # job: the lease holder fails it once the claim of the replica running it expires.
            await dangerous_actions.fail_interrupted()
        dangerous = ActionCommands(store, dangerous_actions)
        app[SLACK_ENDPOINT].store = store
        app[SLACK_ENDPOINT].bolt = build_bolt_app(
            settings,
            client,
            lambda bolt: register_commands(bolt, deps, pagerduty),
            lambda bolt: register_channel_events(bolt, store, outbox, metrics),
            actions.register,
            dangerous.register,
            lambda bolt: register_pagerduty_actions(bolt, pagerduty),
        )
        app[SLACK_STATE].update(state="configured", detail="HTTP mode at /slack/events")
    leadership = app[LEADERSHIP]
    sender = OutboxSender(
        store,
        outbox,
        client,
        clock,
        metrics,
        fallback_channel=incidents_channel,
        fence=leadership.fence,
    )
    leadership.add("outbox-sender", sender.run)
    leadership.add("alert-threads", threads.run)
    leadership.add("pagerduty-threads", pd_threads.run)
    leadership.add("reminders", reminders.run)
    if jobs.handlers:
        leadership.add("jobs", jobs.recover)
    tasks = []
    if client is not None and settings.socket_mode:
        tasks.append(asyncio.create_task(_run_socket_mode(app), name="slack-socket-mode"))
    yield
    for task in reversed(tasks):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await jobs.close()


async def _run_socket_mode(app: web.Application) -> None:
    """Keeps a Socket Mode connection open; failures are shown in /readyz, then retried."""
    bolt = app[SLACK_ENDPOINT].bolt
    assert bolt is not None  # started only once the Bolt app exists
    handler = socket_mode_handler(app[SETTINGS], bolt)
    state = app[SLACK_STATE]
    try:
        while True:
            try:
                state.update(state="connecting", detail="Socket Mode")
                await handler.connect_async()  # type: ignore[no-untyped-call]
                state.update(state="ok", detail="Socket Mode connected")
                # The client reconnects by itself from here; this task lives to close it.
                await asyncio.Event().wait()
            except Exception as exc:
                state.update(state="down", detail=f"Socket Mode: {type(exc).__name__}")
                log.warning("socket mode connection failed", extra={"error": str(exc)})
                await asyncio.sleep(SOCKET_RETRY_SECONDS)
    except asyncio.CancelledError:
        await handler.close_async()  # type: ignore[no-untyped-call]
        raise


def create_app(
    settings: Settings, config: PlatformConfig, *, clock: Clock | None = None
) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_body_bytes, middlewares=[observe, api.require_token]
    )
    app[SETTINGS] = settings
    app[CONFIG] = config
    app[CLOCK] = clock or SystemClock()
    app[METRICS] = Metrics()
    app[INTEGRATIONS] = integration_states(settings, config.operators)
    app[SLACK_STATE] = {
        "state": "offline",
        "detail": "no SLACK_BOT_TOKEN: messages kept in timelines",
    }
    headers.install(app)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_retention_ctx)
    app.cleanup_ctx.append(_platform_ctx)
    app.cleanup_ctx.append(_slack_ctx)
    app.cleanup_ctx.append(_leadership_ctx)

    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    app.router.add_post("/webhooks/alertmanager", webhooks.alertmanager_webhook)
    app.router.add_post("/webhooks/pagerduty", webhooks.pagerduty_webhook)
    app[SLACK_ENDPOINT] = SlackEndpoint(settings)
    app.router.add_post("/slack/events", app[SLACK_ENDPOINT].handle)
    status_page.install(app)
    api.add_routes(app)
    return app


def announce(app: web.Application, address: str) -> None:
    """Once, when the server starts: where it listens, the Slack mode, the store, what is not
    configured, and a warning for each webhook anyone can call."""

    async def on_startup(app: web.Application) -> None:
        report = startup_report(
            app[SETTINGS], app[INTEGRATIONS], address, importlib.metadata.version("incident-bot")
        )
        log.info(report.message, extra=report.fields)
        for warning in report.warnings:
            log.warning(warning)

    app.on_startup.append(on_startup)


def serve(app: web.Application, host: str, port: int) -> None:
    """`incident-bot serve`: the app on one server, with deadlines for slow clients. The socket
    is bound first, so a port in use fails before anything says the bot is listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.create_server((host, port), family=family, backlog=128)
    address = f"http://[{host}]:{port}" if family == socket.AF_INET6 else f"http://{host}:{port}"
    announce(app, address)
    web.run_app(
        app,
        sock=listening,
        print=None,
        keepalive_timeout=HEADER_SECONDS,
        logger=server_log(),
    )
