"""`incident-bot serve` and `incident-bot check-config`: run the bot, or say what it would find."""

from __future__ import annotations

import argparse
import asyncio

from bot.cli.runtime import load_settings, with_store
from bot.cli.terminal import CliError, say
from bot.services.readiness import integration_states, playbook_state, secret_values
from bot.store.base import Store


def serve(args: argparse.Namespace) -> int:
    from bot.app import create_app
    from bot.app import serve as run_server
    from bot.observability.error_reporting import init_sentry
    from bot.observability.logs import setup_logging

    settings, config = load_settings(args.config)
    secrets = secret_values(settings)
    setup_logging(settings.log_level, secrets)
    if settings.sentry_dsn is not None:
        init_sentry(settings.sentry_dsn.get_secret_value(), secrets=secrets)

    async def usable(store: Store) -> int:
        return 0

    # Fail here, on one line, rather than with a traceback from inside the server's startup.
    asyncio.run(with_store(settings, usable))
    try:
        run_server(create_app(settings, config), args.host, args.port)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


def check_config(args: argparse.Namespace) -> int:
    from bot.playbooks.loader import load_directory
    from bot.playbooks.registry import STEP_KINDS

    settings, config = load_settings(args.config)
    say(
        f"platform config: ok ({config.platform}, {len(config.services)} services, "
        f"namespace {config.namespace})"
    )
    worst = 0
    catalogue = load_directory(config.playbooks_dir, STEP_KINDS)
    books = playbook_state(config.playbooks_dir, catalogue)
    for state in [*integration_states(settings, config.operators), books]:
        say(f"  {state.name:<22} {state.state:<11} {state.detail}")
        if state.state == "invalid":
            worst = 1
    return worst
