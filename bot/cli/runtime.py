"""What every `incident-bot` command starts from: the settings and platform config, the store,
the incident lifecycle the server uses, and who is running the command."""

from __future__ import annotations

import getpass
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import ValidationError

from bot.cli.terminal import CliError, Failed
from bot.config import ConfigError, PlatformConfig, Settings, load_platform_config
from bot.domain.clock import SystemClock
from bot.integrations.pagerduty import PagerDutyEvents
from bot.services.incidents import Lifecycle
from bot.services.outbox import Outbox
from bot.services.paging import Pager
from bot.store.base import Store, StoreUnavailable
from bot.store.factory import open_store


def load_settings(config_override: str | None = None) -> tuple[Settings, PlatformConfig]:
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


async def with_store(settings: Settings, work: Callable[[Store], Awaitable[int]]) -> int:
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


def lifecycle(store: Store, settings: Settings, config: PlatformConfig) -> Lifecycle:
    """The server's lifecycle without a war room: what the CLI says reaches Slack through the
    outbox the running server sends, and paging goes out from here (Slack may be down)."""
    events = (
        PagerDutyEvents(
            settings.pagerduty_routing_key.get_secret_value(), settings.pagerduty_events_url
        )
        if settings.pagerduty_routing_key is not None
        else None
    )
    return Lifecycle(
        store,
        Outbox(store),
        SystemClock(),
        incidents_channel=settings.slack_incidents_channel or config.channels.incidents,
        config=config,
        pager=Pager(config, store, SystemClock(), events),
    )


def cli_user() -> str:
    """Who runs the command: the person a CLI change is recorded as, unless --actor names
    someone else. $USER first (what a shell session says), then the OS account."""
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):  # no such account in the password database (a container)
        return "cli"


MAX_ID = 2**63 - 1  # SQLite's largest INTEGER: a bigger number names no incident


def known_id(incident_id: int) -> int:
    """An id the store could hold; any other is no incident (exit 1, not a traceback)."""
    if not 1 <= incident_id <= MAX_ID:
        raise Failed(f"no incident #{incident_id}")
    return incident_id
