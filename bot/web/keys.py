"""Typed keys for what the app factory puts on the aiohttp application."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.config import PlatformConfig, Settings
from bot.domain.clock import Clock
from bot.lifecycle import Lifecycle
from bot.metrics import Metrics
from bot.platform import Platform
from bot.postmortems import PostMortems
from bot.readiness import IntegrationState
from bot.reminder_scheduler import ReminderScheduler
from bot.slack.alert_threads import AlertThreads
from bot.slack.outbox import Outbox
from bot.slack.pagerduty_threads import PagerDutyThreads
from bot.store.base import Store

SETTINGS = web.AppKey("settings", Settings)
CONFIG = web.AppKey("config", PlatformConfig)
STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
CLOCK = web.AppKey("clock", Clock)
OUTBOX = web.AppKey("outbox", Outbox)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
BOLT = web.AppKey("bolt", AsyncApp)
INTEGRATIONS = web.AppKey("integrations", list[IntegrationState])
SLACK_STATE = web.AppKey("slack_state", dict[str, str])
ALERT_THREADS = web.AppKey("alert_threads", AlertThreads)
PAGERDUTY_THREADS = web.AppKey("pagerduty_threads", PagerDutyThreads)
REMINDERS = web.AppKey("reminders", ReminderScheduler)
PLATFORM = web.AppKey("platform", Platform)
POSTMORTEMS = web.AppKey("postmortems", PostMortems)
