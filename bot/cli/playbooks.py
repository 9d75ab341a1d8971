"""`incident-bot playbooks validate|list|run`: the runbook's procedures from a terminal."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from bot.cli.runtime import load_settings
from bot.cli.terminal import Failed, say
from bot.config import PlatformConfig, Settings
from bot.domain.clock import SystemClock
from bot.domain.problem import Problem
from bot.domain.report import plain_line

if TYPE_CHECKING:
    from bot.playbooks.loader import Catalogue


def _catalogue(config: PlatformConfig) -> Catalogue:
    from bot.playbooks.loader import load_directory
    from bot.playbooks.registry import STEP_KINDS

    return load_directory(config.playbooks_dir, STEP_KINDS)


def validate(args: argparse.Namespace) -> int:
    _, config = load_settings(args.config)
    catalogue = _catalogue(config)
    for error in catalogue.errors:
        say(str(error))
    say(f"{len(catalogue.playbooks)} playbooks valid, {len(catalogue.errors)} errors")
    return 1 if catalogue.errors else 0


def list_playbooks(args: argparse.Namespace) -> int:
    _, config = load_settings(args.config)
    for name, book in sorted(_catalogue(config).playbooks.items()):
        steps = ", ".join(step.kind for step in book.spec.steps)
        say(f"{name}: {book.spec.description} [{steps}]")
    return 0


def run(args: argparse.Namespace) -> int:
    settings, config = load_settings(args.config)
    return asyncio.run(_run(settings, config, args.name, args.service, args.quick))


async def _run(
    settings: Settings, config: PlatformConfig, name: str, service: str | None, quick: bool
) -> int:
    from bot.services.platform import build_platform

    platform = await build_platform(settings, config, SystemClock())
    try:
        assert platform.playbooks is not None
        outcome = await platform.playbooks.run(name, service, quick_only=quick)
    finally:
        await platform.close()
    if isinstance(outcome, Problem):
        raise Failed(outcome.message)
    attention = 0
    for result in outcome.results:
        attention += result.outcome != "ok"
        say(f"[{result.outcome}] {result.title} ({result.seconds:.1f} s)")
        for line in result.lines:
            say(f"    {plain_line(line)}")
        if result.details:
            say("    " + result.details.replace("\n", "\n    "))
    return 1 if attention else 0
