"""The platform the bot acts on: its integrations, playbooks and actions, built from settings.

Each integration is optional; what is missing is simply absent here, and steps or actions that
need it say so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bot.config import PlatformConfig, Settings
from bot.domain.clock import Clock
from bot.integrations.aws import DesktopUpdates
from bot.integrations.kubernetes import Kubernetes
from bot.playbooks.loader import load_directory
from bot.playbooks.registry import STEP_KINDS
from bot.playbooks.service import Playbooks
from bot.services.actions.plans import PlatformActions
from bot.services.readiness import playbook_state, secret_values

log = logging.getLogger(__name__)


@dataclass
class Platform:
    integrations: dict[str, Any] = field(default_factory=dict)
    kube: Kubernetes | None = None
    playbooks: Playbooks | None = None
    actions: PlatformActions | None = None
    problems: list[str] = field(default_factory=list)

    async def close(self) -> None:
        if self.kube is not None:
            await self.kube.close()


async def connect_kubernetes(settings: Settings) -> Kubernetes | None:
    if not (settings.kubeconfig or settings.kubernetes_service_host):
        return None
    return await Kubernetes.connect(settings.kubeconfig)


def other_integrations(settings: Settings) -> dict[str, Any]:
    """Postgres, Prometheus, health checks and Sentry, where configured."""
    from bot.integrations.health import HealthChecker
    from bot.integrations.postgres import PlatformDatabase
    from bot.integrations.prometheus import PrometheusQueries
    from bot.integrations.sentry_issues import SentryIssues

    found: dict[str, Any] = {"http": HealthChecker()}
    if settings.platform_database_url is not None:
        found["postgres"] = PlatformDatabase(settings.platform_database_url.get_secret_value())
    if settings.prometheus_url:
        found["prometheus"] = PrometheusQueries(settings.prometheus_url)
    projects = [p.strip() for p in settings.sentry_projects.split(",") if p.strip()]
    if settings.sentry_api_token is not None and settings.sentry_org and projects:
        found["sentry"] = SentryIssues(
            settings.sentry_api_url,
            settings.sentry_api_token.get_secret_value(),
            settings.sentry_org,
            projects,
        )
    return found


async def build_platform(settings: Settings, config: PlatformConfig, clock: Clock) -> Platform:
    platform = Platform()
    try:
        platform.kube = await connect_kubernetes(settings)
    except Exception as exc:
        # A broken kubeconfig must not stop the bot; /readyz and the steps say what is wrong.
        platform.problems.append(f"Kubernetes: {type(exc).__name__}: {exc}")
        log.warning("kubernetes unavailable", extra={"error": str(exc)})
    platform.integrations = other_integrations(settings)
    if platform.kube is not None:
        platform.integrations["kubernetes"] = platform.kube
    catalogue = load_directory(config.playbooks_dir, STEP_KINDS)
    for error in catalogue.errors:
        log.warning("playbook not loaded", extra={"error": str(error)})
    playbooks = playbook_state(config.playbooks_dir, catalogue)
    if playbooks.state != "configured":  # /readyz names it: none loaded, or some failed
        platform.problems.append(f"playbooks: {playbooks.detail}")
        log.warning("playbooks", extra={"state": playbooks.state, "detail": playbooks.detail})
    platform.playbooks = Playbooks(
        catalogue, STEP_KINDS, config, clock, platform.integrations, secrets=secret_values(settings)
    )
    desktop = None
    if settings.updates_bucket and settings.updates_distribution_id:
        try:
            desktop = DesktopUpdates(
                settings.updates_bucket,
                settings.updates_distribution_id,
                endpoint_url=settings.aws_endpoint_url,
            )
        except ValueError as exc:
            platform.problems.append(f"desktop updates: {exc}")
    platform.actions = PlatformActions(config, clock, kube=platform.kube, desktop=desktop)
    return platform
