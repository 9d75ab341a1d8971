"""Settings from the environment and the platform description (services, channels, policy)."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CONFIG = Path(__file__).parent / "defaults" / "factsway.yaml"
DEFAULT_DATABASE = "./data/incident-bot.db"


DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_RETENTION_DAYS = 30.0
# The settings that are URLs: each must at least parse, or every command that reads it fails.
URL_SETTINGS = (
    "slack_api_url",
    "alertmanager_url",
    "pagerduty_api_url",
    "pagerduty_events_url",
    "prometheus_url",
    "platform_database_url",
    "sentry_dsn",
    "sentry_api_url",
    "aws_endpoint_url",
)


def url_problem(value: str) -> str | None:
    """Why a URL cannot be read, or None. The words never quote the URL: it may hold a password,
    and urllib's own messages quote parts of it."""
    try:
        _ = urlsplit(value).port  # the port is parsed only when asked for
    except ValueError as exc:
        if "IPv6" in str(exc):
            return "not a valid URL: its [ ] host is unclosed or not an IP address"
        if "port" in str(exc).lower():
            return "not a valid URL: its port is not a number from 0 to 65535"
        return "not a valid URL"
    return None


class Settings(BaseSettings):
    """Everything that comes from the process environment; every integration is optional."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database: str = Field(DEFAULT_DATABASE, alias="INCIDENT_BOT_DATABASE")
    config_file: Path | None = Field(None, alias="INCIDENT_BOT_CONFIG")
    api_token: SecretStr | None = Field(None, alias="INCIDENT_BOT_API_TOKEN")
    operators: str = Field("", alias="INCIDENT_BOT_OPERATORS")
    log_level: str = Field("INFO", alias="INCIDENT_BOT_LOG_LEVEL")
    # A real Alertmanager group of 2,000 alerts is a 1.7 MB body; the largest groups users run
    # are several times that. Above this, 413 (counted and logged).
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES, alias="INCIDENT_BOT_MAX_BODY_BYTES", ge=64 * 1024
    )
    # Webhook bodies and sent Slack messages older than this are deleted; 0 keeps them forever.
    retention_days: float = Field(DEFAULT_RETENTION_DAYS, alias="INCIDENT_BOT_RETENTION_DAYS", ge=0)

    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    slack_alerts_channel: str | None = Field(None, alias="SLACK_ALERTS_CHANNEL")
    slack_incidents_channel: str | None = Field(None, alias="SLACK_INCIDENTS_CHANNEL")

    alertmanager_token: SecretStr | None = Field(None, alias="ALERTMANAGER_TOKEN")
    alertmanager_url: str | None = Field(None, alias="ALERTMANAGER_URL")

    pagerduty_webhook_secret: SecretStr | None = Field(None, alias="PAGERDUTY_WEBHOOK_SECRET")
    pagerduty_api_token: SecretStr | None = Field(None, alias="PAGERDUTY_API_TOKEN")
    pagerduty_routing_key: SecretStr | None = Field(None, alias="PAGERDUTY_ROUTING_KEY")
    pagerduty_api_url: str = Field("https://api.pagerduty.com", alias="PAGERDUTY_API_URL")
    pagerduty_events_url: str = Field(
        "https://events.pagerduty.com/v2/enqueue", alias="PAGERDUTY_EVENTS_URL"
    )

    kubeconfig: str | None = Field(None, alias="KUBECONFIG")
    kubernetes_service_host: str | None = Field(None, alias="KUBERNETES_SERVICE_HOST")
    prometheus_url: str | None = Field(None, alias="PROMETHEUS_URL")
    platform_database_url: SecretStr | None = Field(None, alias="PLATFORM_DATABASE_URL")
    sentry_dsn: SecretStr | None = Field(None, alias="SENTRY_DSN")
    # Reading Sentry (new issues for playbooks) is separate from reporting to it.
    sentry_api_url: str = Field("https://sentry.io", alias="SENTRY_API_URL")
    sentry_api_token: SecretStr | None = Field(None, alias="SENTRY_API_TOKEN")
    sentry_org: str | None = Field(None, alias="SENTRY_ORG")
    sentry_projects: str = Field("", alias="SENTRY_PROJECTS")

    aws_endpoint_url: str | None = Field(None, alias="AWS_ENDPOINT_URL")
    updates_bucket: str | None = Field(None, alias="UPDATES_BUCKET")
    updates_distribution_id: str | None = Field(None, alias="UPDATES_DISTRIBUTION_ID")

    @field_validator(*URL_SETTINGS, mode="after")
    @classmethod
    def _parsable_url(cls, value: str | SecretStr | None) -> str | SecretStr | None:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        problem = url_problem(text) if text else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("database", mode="after")
    @classmethod
    def _parsable_database_url(cls, value: str) -> str:
        # Only a URL is parsed: a SQLite path may hold any character.
        problem = url_problem(value) if value.startswith(("postgresql:", "postgres:")) else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("retention_days")
    @classmethod
    def _keeps_dedup_windows(cls, days: float) -> float:
        # Slack, PagerDuty and Alertmanager retry for minutes to hours: what recognises a retry
        # must outlive that.
        if 0 < days < 1:
            raise ValueError("must be 0 (keep everything) or at least 1 day")
        return days

    @property
    def operator_list(self) -> list[str]:
        return [item.strip() for item in self.operators.split(",") if item.strip()]

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None and bool(self.slack_bot_token.get_secret_value())

    @property
    def socket_mode(self) -> bool:
        return self.slack_enabled and self.slack_app_token is not None


PageWhen = Literal["always", "business_hours", "never"]
SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
USERGROUP = re.compile(r"^@[a-z0-9][a-z0-9._-]*$")


def _check_principal(value: str) -> str:
    if not (SLACK_ID.match(value) or USERGROUP.match(value)):
        raise ValueError(f"{value!r} is neither a Slack user ID (U…) nor a @usergroup handle")
    return value


Principal = Annotated[str, Field(min_length=2)]


class Service(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    deployment: str
    namespace: str | None = None
    port: int = Field(ge=1, le=65535)
    health_path: str = "/health"
    owners: list[Principal] = []
    description: str = ""
    escalation_policy: str | None = None  # PagerDuty escalation policy ID, for /oncall
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(20, ge=1)
    # How the public status page names the service (default: its name, capitalised) and the
    # group it is listed under there (default: none).
    display_name: str | None = Field(None, min_length=1, max_length=80)
    group: str | None = Field(None, min_length=1, max_length=80)

    @property
    def public_name(self) -> str:
        return self.display_name or self.name.replace("-", " ").capitalize()

    @field_validator("owners")
    @classmethod
    def _owners(cls, owners: list[str]) -> list[str]:
        return [_check_principal(o) for o in owners]

    @model_validator(mode="after")
    def _bounds(self) -> Service:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} > max_replicas {self.max_replicas}")
        return self


class Database(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "postgres"
    statefulset: str = "postgres"
    namespace: str | None = None
    owners: list[Principal] = []


class ChannelRoute(BaseModel):
    """Sends alert groups whose receiver or labels match to another channel."""

    model_config = ConfigDict(extra="forbid")

    channel: str
    receiver: str | None = None
    labels: dict[str, str] = {}


class Channels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: str | None = None
    incidents: str | None = None
    routes: list[ChannelRoute] = []


class SeverityLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    page: PageWhen
    update_reminder_minutes: int | None = Field(default=None, ge=1)
    customer_notice_minutes: int | None = Field(default=None, ge=1)


class BusinessHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = [
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    ]
    start: time = time(9, 0)
    end: time = time(18, 0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {zone!r}") from exc
        return zone


class AutoDeclare(BaseModel):
    """An alert severity that declares an incident by itself, e.g. critical in prod -> P1."""

    model_config = ConfigDict(extra="forbid")

    alert_severity: str
    incident_severity: Literal["P0", "P1", "P2", "P3"]
    namespaces: list[str] = []


class Links(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grafana: AnyHttpUrl | None = None
    runbook: AnyHttpUrl | None = None
    status_page: AnyHttpUrl | None = None


def _default_severities() -> dict[Literal["P0", "P1", "P2", "P3"], SeverityLevel]:
    return {
        "P0": SeverityLevel(
            description="Critical: complete outage, data loss, security breach, all users",
            page="always",
            update_reminder_minutes=15,
            customer_notice_minutes=30,
        ),
        "P1": SeverityLevel(
            description="High: partial degradation, error rate over 5%, many users",
            page="business_hours",
            update_reminder_minutes=15,
        ),
        "P2": SeverityLevel(
            description="Medium: minor feature broken, slowness, few users",
            page="never",
        ),
        "P3": SeverityLevel(
            description="Low: cosmetic, non-critical, single user reports",
            page="never",
        ),
    }


class PlatformConfig(BaseModel):
    """What the bot serves: the platform's services, where to talk, and who may act."""

    model_config = ConfigDict(extra="forbid")

    platform: str
    namespace: str
    services: list[Service] = Field(min_length=1)
    database: Database = Database()
    channels: Channels = Channels()
    links: Links = Links()
    severities: dict[Literal["P0", "P1", "P2", "P3"], SeverityLevel] = Field(
        default_factory=_default_severities
    )
    business_hours: BusinessHours = BusinessHours()
    auto_declare: list[AutoDeclare] = []
    operators: list[Principal] = []
    escalation_policies: list[str] = []  # PagerDuty escalation policy IDs of the platform
    # A rollback during a P0 needs a second operator's approval.
    two_person_p0_rollbacks: bool = True
    # Where http.health finds a service; {deployment} {namespace} {port} {path} {name}.
    health_url_template: str = "http://{deployment}.{namespace}.svc.cluster.local:{port}{path}"
    playbooks_dir: Path = Path("playbooks")

    @field_validator("operators")
    @classmethod
    def _operators(cls, operators: list[str]) -> list[str]:
        return [_check_principal(o) for o in operators]

    # Field validators, not a model validator: the error then names the field at fault.
    @field_validator("services")
    @classmethod
    def _unique_services(cls, services: list[Service]) -> list[Service]:
        names = [s.name for s in services]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"service names must be unique; repeated: {', '.join(duplicated)}")
        return services

    @field_validator("severities")
    @classmethod
    def _all_severities(
        cls, severities: dict[Literal["P0", "P1", "P2", "P3"], SeverityLevel]
    ) -> dict[Literal["P0", "P1", "P2", "P3"], SeverityLevel]:
        missing = {"P0", "P1", "P2", "P3"} - set(severities)
        if missing:
            raise ValueError(f"severities must define P0-P3; missing {', '.join(sorted(missing))}")
        return severities

    def service(self, name: str) -> Service | None:
        """Finds a service by its short name or its deployment name."""
        for svc in self.services:
            if name in (svc.name, svc.deployment):
                return svc
        return None

    def namespace_of(self, service: Service) -> str:
        return service.namespace or self.namespace


class ConfigError(Exception):
    """The platform config cannot be used; the message is for a person, one line per problem."""


def load_platform_config(path: Path | None) -> PlatformConfig:
    source = path or DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{source}{where}: not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        config = PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"{source}: {'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from None
    # Relative paths in a config are relative to the config file, wherever the bot was started
    # from; for the bundled config that is the package, which ships the playbooks beside it.
    if not config.playbooks_dir.is_absolute():
        config.playbooks_dir = (source.parent / config.playbooks_dir).resolve()
    return config
