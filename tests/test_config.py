"""The platform config file and the environment settings, as an operator writes them."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import ConfigError, Settings, load_platform_config
from bot.playbooks.loader import load_directory
from bot.playbooks.registry import STEP_KINDS

VALID = """\
platform: ACME
namespace: acme-prod
services:
  - {name: api, deployment: api-service, port: 8080, owners: ["@acme-backend", U0123ABC]}
  - {name: web, deployment: web-service, port: 8081}
"""


def write(tmp_path: Path, text: str, name: str = "platform.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_platform_config(path)
    return str(caught.value)


def test_bundled_factsway_config_has_eight_services_on_ports_3001_to_3008() -> None:
    config = load_platform_config(None)

    assert config.platform == "FACTSWAY"
    assert config.namespace == "factsway-prod"
    assert [s.name for s in config.services] == [
        "records",
        "ingestion",
        "export",
        "caseblock",
        "signature",
        "facts",
        "exhibits",
        "caselaw",
    ]
    assert [s.port for s in config.services] == list(range(3001, 3009))
    assert all(s.deployment == f"{s.name}-service" for s in config.services)
    assert all(config.namespace_of(s) == "factsway-prod" for s in config.services)
    assert set(config.severities) == {"P0", "P1", "P2", "P3"}
    assert config.severities["P0"].page == "always"


REPO = Path(__file__).resolve().parents[1]


def test_the_bundled_config_finds_the_shipped_playbooks_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A service manager starts the bot in / or its home, never in the checkout.
    monkeypatch.chdir(tmp_path)
    config = load_platform_config(None)

    catalogue = load_directory(config.playbooks_dir, STEP_KINDS)
    assert config.playbooks_dir.is_absolute()
    assert catalogue.errors == []
    assert len(catalogue.playbooks) == 7
    assert "service-down" in catalogue.playbooks


def test_the_shipped_playbooks_are_one_folder_packaged_with_the_bot() -> None:
    packaged = load_platform_config(None).playbooks_dir
    # The checkout's playbooks/ (DESIGN.md's promise) is the package's folder, not a copy.
    assert (REPO / "playbooks").resolve() == packaged.resolve()
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = package_data["package-data"]["bot"]
    shipped = sorted(p.relative_to(REPO / "bot").as_posix() for p in packaged.glob("*.yaml"))
    assert len(shipped) == 7
    assert all(any(fnmatch.fnmatch(f, g) for g in globs) for f in shipped), (shipped, globs)


def test_a_copied_config_looks_for_its_playbooks_beside_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # even where a playbooks/ folder exists in the working directory
    copied = write(tmp_path, (REPO / "bot" / "defaults" / "factsway.yaml").read_text())
    assert load_platform_config(copied).playbooks_dir == (tmp_path / "playbooks").resolve()


def test_bundled_config_finds_a_service_by_short_name_or_deployment() -> None:
    config = load_platform_config(None)

    by_short = config.service("export")
    by_deployment = config.service("export-service")

    assert by_short is not None
    assert by_short is by_deployment
    assert by_short.port == 3003
    assert config.service("nonexistent") is None


def test_a_valid_custom_config_loads(tmp_path: Path) -> None:
    config = load_platform_config(write(tmp_path, VALID))

    assert config.platform == "ACME"
    assert [s.port for s in config.services] == [8080, 8081]
    assert config.services[0].owners == ["@acme-backend", "U0123ABC"]
    assert config.playbooks_dir == (tmp_path / "playbooks").resolve()


def test_bad_yaml_is_a_config_error_naming_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "platform: ACME\nnamespace: acme\nservices:\n  - name: api\n    port: 80: 81\n",
    )

    message = config_error(path)

    assert message.startswith(f"{path}:5:")
    assert "YAML" in message
    assert "\n" not in message


def test_a_missing_config_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"

    message = config_error(path)

    assert str(path) in message
    assert "cannot read" in message


def test_a_config_that_is_not_a_mapping_is_a_config_error(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, "- just\n- a list\n"))

    assert "mapping" in message


@pytest.mark.parametrize(
    ("text", "field", "detail"),
    [
        pytest.param(
            VALID.replace("port: 8081}", "port: 8081, colour: red}"),
            "services.1.colour",
            "Extra inputs",
            id="unknown-service-key",
        ),
        pytest.param(VALID + "servcies: []\n", "servcies", "Extra inputs", id="unknown-top-key"),
        pytest.param(
            VALID.replace("name: web", "name: api"),
            "services",
            "repeated: api",
            id="duplicate-service",
        ),
        pytest.param(
            VALID.replace('"@acme-backend"', "bob"),
            "services.0.owners",
            "'bob'",
            id="bad-owner-handle",
        ),
        pytest.param(
            VALID + "operators: [alice]\n", "operators", "'alice'", id="bad-operator-handle"
        ),
        pytest.param(
            VALID.replace("port: 8080", "port: 70000"), "services.0.port", "65535", id="bad-port"
        ),
        pytest.param(
            VALID.replace("namespace: acme-prod\n", ""), "namespace", "required", id="no-namespace"
        ),
        pytest.param(
            VALID + "severities:\n  P0: {description: down, page: always}\n",
            "severities",
            "P1, P2, P3",
            id="missing-severities",
        ),
        pytest.param(
            VALID + "business_hours: {timezone: Mars/Olympus}\n",
            "business_hours.timezone",
            "Mars/Olympus",
            id="unknown-time-zone",
        ),
    ],
)
def test_an_invalid_config_is_a_config_error_naming_the_file_and_field(
    tmp_path: Path, text: str, field: str, detail: str
) -> None:
    path = write(tmp_path, text)

    message = config_error(path)

    assert message.startswith(f"{path}: {field}: "), message
    assert detail in message
    assert "Traceback" not in message


def test_every_problem_in_a_config_gets_its_own_line(tmp_path: Path) -> None:
    text = VALID.replace('"@acme-backend"', "bob") + "operators: [alice]\n"

    lines = config_error(write(tmp_path, text)).splitlines()

    assert len(lines) == 2
    assert any("services.0.owners" in line for line in lines)
    assert any("operators" in line for line in lines)


DESIGN_ENV = {
    "INCIDENT_BOT_DATABASE": "/var/lib/incident-bot/bot.db",
    "INCIDENT_BOT_CONFIG": "/etc/incident-bot/platform.yaml",
    "INCIDENT_BOT_API_TOKEN": "api-secret",
    "INCIDENT_BOT_OPERATORS": "U111, @sre-leads ,,W222",
    "SLACK_BOT_TOKEN": "xoxb-1-2-3",
    "SLACK_SIGNING_SECRET": "signing",
    "SLACK_APP_TOKEN": "xapp-1-2",
    "SLACK_API_URL": "http://127.0.0.1:9999/api/",
    "SLACK_ALERTS_CHANNEL": "C_ALERTS",
    "SLACK_INCIDENTS_CHANNEL": "C_INCIDENTS",
    "ALERTMANAGER_TOKEN": "am-secret",
    "ALERTMANAGER_URL": "http://alertmanager:9093",
    "PAGERDUTY_WEBHOOK_SECRET": "pd-webhook",
    "PAGERDUTY_API_TOKEN": "pd-api",
    "PAGERDUTY_ROUTING_KEY": "pd-routing",
    "PAGERDUTY_API_URL": "http://127.0.0.1:9998",
    "PAGERDUTY_EVENTS_URL": "http://127.0.0.1:9997/v2/enqueue",
    "KUBECONFIG": "/home/sre/.kube/config",
    "PROMETHEUS_URL": "http://prometheus:9090",
    "PLATFORM_DATABASE_URL": "postgresql://ro:pw@db:5432/factsway",
    "SENTRY_DSN": "https://key@sentry.example/1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
    "UPDATES_BUCKET": "factsway-updates",
    "UPDATES_DISTRIBUTION_ID": "E123ABC",
}


def test_settings_read_every_environment_variable_the_design_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in DESIGN_ENV.items():
        monkeypatch.setenv(name, value)

    settings = Settings()

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    assert settings.database == "/var/lib/incident-bot/bot.db"
    assert settings.config_file == Path("/etc/incident-bot/platform.yaml")
    assert secret(settings.api_token) == "api-secret"
    assert settings.operator_list == ["U111", "@sre-leads", "W222"]
    assert secret(settings.slack_bot_token) == "xoxb-1-2-3"
    assert secret(settings.slack_signing_secret) == "signing"
    assert secret(settings.slack_app_token) == "xapp-1-2"
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"
    assert settings.slack_alerts_channel == "C_ALERTS"
    assert settings.slack_incidents_channel == "C_INCIDENTS"
    assert secret(settings.alertmanager_token) == "am-secret"
    assert settings.alertmanager_url == "http://alertmanager:9093"
    assert secret(settings.pagerduty_webhook_secret) == "pd-webhook"
    assert secret(settings.pagerduty_api_token) == "pd-api"
    assert secret(settings.pagerduty_routing_key) == "pd-routing"
    assert settings.pagerduty_api_url == "http://127.0.0.1:9998"
    assert settings.pagerduty_events_url == "http://127.0.0.1:9997/v2/enqueue"
    assert settings.kubeconfig == "/home/sre/.kube/config"
    assert settings.prometheus_url == "http://prometheus:9090"
    assert secret(settings.platform_database_url) == "postgresql://ro:pw@db:5432/factsway"
    assert secret(settings.sentry_dsn) == "https://key@sentry.example/1"
    assert settings.aws_endpoint_url == "http://127.0.0.1:4566"
    assert settings.updates_bucket == "factsway-updates"
    assert settings.updates_distribution_id == "E123ABC"
    assert settings.slack_enabled
    assert settings.socket_mode


def test_settings_without_any_environment_are_offline_with_documented_defaults() -> None:
    settings = Settings()

    assert settings.database == "./data/incident-bot.db"
    assert settings.config_file is None
    assert settings.slack_bot_token is None
    assert not settings.slack_enabled
    assert not settings.socket_mode
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.pagerduty_api_url == "https://api.pagerduty.com"
    assert settings.pagerduty_events_url == "https://events.pagerduty.com/v2/enqueue"
    assert settings.operator_list == []


def test_secret_settings_do_not_show_their_values_when_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in DESIGN_ENV.items():
        monkeypatch.setenv(name, value)

    shown = repr(Settings()) + str(Settings())

    for name in ("SLACK_BOT_TOKEN", "ALERTMANAGER_TOKEN", "PAGERDUTY_ROUTING_KEY", "SENTRY_DSN"):
        assert DESIGN_ENV[name] not in shown, name
    assert "postgresql://ro:pw@" not in shown
