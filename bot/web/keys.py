"""Typed keys for what the app factory puts on the aiohttp application."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.config import PlatformConfig, Settings
from bot.domain.clock import Clock
from bot.observability.metrics import Metrics
from bot.services.incidents import Lifecycle
from bot.services.leadership import Leadership
from bot.services.outbox import Outbox
from bot.services.platform import Platform
from bot.services.postmortems.drafts import PostMortems
from bot.services.readiness import IntegrationState
from bot.services.reminders import ReminderScheduler
from bot.store.base import Store
from bot.web.status_view import StatusViews

SETTINGS = web.AppKey("settings", Settings)
CONFIG = web.AppKey("config", PlatformConfig)
STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
CLOCK = web.AppKey("clock", Clock)
OUTBOX = web.AppKey("outbox", Outbox)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
INTEGRATIONS = web.AppKey("integrations", list[IntegrationState])
SLACK_STATE = web.AppKey("slack_state", dict[str, str])
# A new delivery wakes the worker that turns it into Slack threads, by source.
WEBHOOK_WAKEUPS = web.AppKey("webhook_wakeups", dict[str, asyncio.Event])
REMINDERS = web.AppKey("reminders", ReminderScheduler)
PLATFORM = web.AppKey("platform", Platform)
POSTMORTEMS = web.AppKey("postmortems", PostMortems)
# Which replica does the work that must happen once (outbox, thread sync, reminders).
LEADERSHIP = web.AppKey("leadership", Leadership)
# The status page's cached view of what was published.
STATUS_VIEWS = web.AppKey("status_views", StatusViews)
