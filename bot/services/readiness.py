"""Which integrations are configured, missing or invalid, and whether playbooks loaded: for
/readyz and check-config."""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from bot.config import Settings, url_problem
from bot.playbooks.loader import Catalogue

State = Literal["configured", "missing", "invalid", "ok", "down"]


@dataclass(frozen=True)
class IntegrationState:
    name: str
    state: State
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _url(value: str | None, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    """None when the URL is usable, else why not."""
    if not value:
        return "not set"
    if problem := url_problem(value):
        return problem
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.netloc:
        return f"not a {'/'.join(schemes)} URL"
    return None


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter else ""


def integration_states(
    settings: Settings, config_operators: list[str] | None = None
) -> list[IntegrationState]:
    states: list[IntegrationState] = []

    def add(name: str, state: State, detail: str) -> None:
        states.append(IntegrationState(name, state, detail))

    def add_url(
        name: str,
        variable: str,
        value: str | None,
        works: str,
        missing: str,
        schemes: tuple[str, ...] = ("http", "https"),
    ) -> None:
        """An integration that is one URL: missing when unset, invalid when not a URL."""
        if not value:
            add(name, "missing", missing)
            return
        problem = _url(value, schemes)
        add(
            name,
            "invalid" if problem else "configured",
            f"{variable} {problem}" if problem else works,
        )

    token = _secret(settings.slack_bot_token)
    if not token:
        add("slack", "missing", "SLACK_BOT_TOKEN not set: offline mode, messages kept in timelines")
    elif not token.startswith("xoxb-"):
        add("slack", "invalid", "SLACK_BOT_TOKEN must be a bot token (xoxb-…)")
    elif settings.slack_app_token is not None:
        app = _secret(settings.slack_app_token)
        if app.startswith("xapp-"):
            add("slack", "configured", "Socket Mode")
        else:
            add("slack", "invalid", "SLACK_APP_TOKEN must be an app-level token (xapp-…)")
    elif settings.slack_signing_secret is None:
        add("slack", "invalid", "HTTP mode needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN)")
    else:
        add("slack", "configured", "HTTP mode at /slack/events")
    problem = _url(settings.slack_api_url)
    if problem:
        add("slack_api_url", "invalid", f"SLACK_API_URL {problem}")

    if settings.alertmanager_token is None:
        add(
            "alertmanager_webhook",
            "missing",
            "ALERTMANAGER_TOKEN not set: webhook is unauthenticated",
        )
    else:
        add("alertmanager_webhook", "configured", "bearer token required")
    add_url(
        "alertmanager_api",
        "ALERTMANAGER_URL",
        settings.alertmanager_url,
        "silences from Slack",
        "ALERTMANAGER_URL not set: no silences from Slack",
    )

    pd = [
        settings.pagerduty_webhook_secret,
        settings.pagerduty_api_token,
        settings.pagerduty_routing_key,
    ]
    if not any(pd):
        add("pagerduty", "missing", "no PagerDuty settings: no paging, no webhook verification")
    else:
        parts = [
            name for name, value in zip(("webhook", "api", "events"), pd, strict=True) if value
        ]
        # The pagerduty package refuses plain http.
        problem = _url(settings.pagerduty_api_url, ("https",)) or _url(
            settings.pagerduty_events_url, ("https",)
        )
        add(
            "pagerduty",
            "invalid" if problem else "configured",
            f"PagerDuty URL {problem}" if problem else ", ".join(parts),
        )

    if settings.kubeconfig:
        paths = [p for p in settings.kubeconfig.split(os.pathsep) if p]
        missing = [p for p in paths if not os.path.isfile(p)]
        add(
            "kubernetes",
            "invalid" if missing else "configured",
            "KUBECONFIG file not found" if missing else "kubeconfig",
        )
    elif settings.kubernetes_service_host:
        add("kubernetes", "configured", "in-cluster service account")
    else:
        add("kubernetes", "missing", "no KUBECONFIG and not in a cluster")

    add_url(
        "prometheus",
        "PROMETHEUS_URL",
        settings.prometheus_url,
        "queries enabled",
        "PROMETHEUS_URL not set",
    )
    add_url(
        "platform_database",
        "PLATFORM_DATABASE_URL",
        _secret(settings.platform_database_url),
        "pg_stat steps enabled",
        "PLATFORM_DATABASE_URL not set",
        ("postgresql", "postgres"),
    )
    add_url(
        "sentry",
        "SENTRY_DSN",
        _secret(settings.sentry_dsn),
        "errors reported",
        "SENTRY_DSN not set",
    )

    if settings.updates_bucket and settings.updates_distribution_id:
        add("desktop_updates", "configured", "S3 bucket and CloudFront distribution")
    elif settings.updates_bucket or settings.updates_distribution_id:
        add("desktop_updates", "invalid", "set both UPDATES_BUCKET and UPDATES_DISTRIBUTION_ID")
    else:
        add("desktop_updates", "missing", "UPDATES_BUCKET not set")

    if settings.api_token is None:
        add("api", "missing", "INCIDENT_BOT_API_TOKEN not set: /api/* refuses every request")
    else:
        add("api", "configured", "bearer token required")
    if not settings.operator_list and not config_operators:
        add("operators", "missing", "no INCIDENT_BOT_OPERATORS: dangerous actions need config")
    return states


def playbook_state(folder: Path, catalogue: Catalogue) -> IntegrationState:
    """Whether `/incident run`, the alert buttons and the enrichment have playbooks to run:
    invalid when the folder is missing or a file failed to load, missing when it is empty."""
    loaded, errors = len(catalogue.playbooks), catalogue.errors
    if not folder.is_dir():
        return IntegrationState(
            "playbooks",
            "invalid",
            f"playbooks_dir {folder} not found: no playbook loaded, /incident run has nothing"
            " to run",
        )
    if errors:
        shown = "; ".join(str(e) for e in errors[:3]) + ("; …" if len(errors) > 3 else "")
        files = len({e.file for e in errors})
        return IntegrationState(
            "playbooks",
            "invalid",
            f"{loaded} loaded from {folder}, {files} failed to load: {shown}",
        )
    if not loaded:
        return IntegrationState(
            "playbooks", "missing", f"no playbook in {folder}: /incident run has nothing to run"
        )
    return IntegrationState("playbooks", "configured", f"{loaded} loaded from {folder}")


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, so logs and messages can be scrubbed of them by value."""
    names = (
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "alertmanager_token",
        "sentry_api_token",
        "pagerduty_webhook_secret",
        "pagerduty_api_token",
        "pagerduty_routing_key",
        "platform_database_url",
        "sentry_dsn",
        "api_token",
    )
    values = [_secret(getattr(settings, n)) for n in names]
    with contextlib.suppress(ValueError):
        password = urlparse(_secret(settings.platform_database_url)).password
        if password:
            values.append(password)
    return [v for v in values if v]


@dataclass(frozen=True)
class StartupReport:
    """What `serve` says once when it starts: one line for what it is doing, and a warning
    for each door it leaves open."""

    message: str
    fields: dict[str, object]
    warnings: tuple[str, ...]


def _mode(settings: Settings) -> str:
    if not settings.slack_enabled:
        return "offline"
    return "Socket Mode" if settings.socket_mode else "HTTP"


def _store(database: str) -> str:
    if database.startswith(("postgresql://", "postgres://")):
        # Host, port and database only: the user, password and query options stay out.
        parsed = urlparse(database)
        where = parsed.hostname or "local socket"
        if parsed.port:
            where += f":{parsed.port}"
        return f"PostgreSQL at {where}{parsed.path or ''}"
    return f"SQLite at {database.removeprefix('sqlite:///')}"


def startup_report(
    settings: Settings, states: list[IntegrationState], address: str, version: str
) -> StartupReport:
    mode = _mode(settings)
    store = _store(settings.database)
    missing = [s.name for s in states if s.state in ("missing", "invalid")]
    message = f"incident-bot {version} listening on {address}, {mode}"
    if mode == "offline":
        message += " (no SLACK_BOT_TOKEN: messages kept in timelines)"
    message += f", store: {store}"
    message += f"; not configured: {', '.join(missing)}" if missing else "; all configured"
    warnings = []
    if settings.alertmanager_token is None:
        warnings.append(
            "POST /webhooks/alertmanager is unauthenticated: anyone who can reach it can open"
            " alert threads and declare incidents; set ALERTMANAGER_TOKEN"
        )
    if settings.pagerduty_webhook_secret is None:
        warnings.append(
            "POST /webhooks/pagerduty is unauthenticated: its signatures are not checked;"
            " set PAGERDUTY_WEBHOOK_SECRET"
        )
    fields: dict[str, object] = {
        "address": address,
        "mode": mode,
        "store": store,
        "not_configured": missing,
    }
    return StartupReport(message, fields, tuple(warnings))
