"""A step's context for tests: the platform config, a manual clock, a service and integrations."""

from __future__ import annotations

from typing import Any

from bot.config import PlatformConfig
from bot.domain.clock import ManualClock
from bot.playbooks.model import StepContext


def context(
    config: PlatformConfig, service: str | None = "records", **integrations: Any
) -> StepContext:
    return StepContext(
        config=config,
        clock=ManualClock(),
        service=config.service(service) if service else None,
        integrations=integrations,
    )
