"""Monitoring: alert rules and their unit tests, Alertmanager routing, scrape config, Grafana."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.infra.rendering import INFRA, NAMESPACES, REPO_ROOT, Manifest, pod_templates

MONITORING = INFRA / "monitoring"
ALERTS = MONITORING / "alerts.yml"
ALERTS_TEST = MONITORING / "alerts_test.yml"
ALERTMANAGER = MONITORING / "alertmanager.yml"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
BOT_WEBHOOK = "http://incident-bot.factsway-prod.svc:8080/webhooks/alertmanager"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load(ALERTS)["groups"] for rule in group["rules"] if "alert" in rule]


def run(args: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


def test_alert_unit_tests_pass(test_tools_bin: Path) -> None:
    result = run([test_tools_bin / "promtool", "test", "rules", ALERTS_TEST.name], cwd=MONITORING)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in load(ALERTS_TEST)["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert names == fired, f"never shown firing: {names - fired}; unknown: {fired - names}"
    assert names == quiet, f"never shown quiet: {names - quiet}; unknown: {quiet - names}"
    # Both severities of a tiered alert are shown firing.
    severities = {
        (check["alertname"], alert["exp_labels"]["severity"])
        for case in load(ALERTS_TEST)["tests"]
        for check in case.get("alert_rule_test", [])
        for alert in check.get("exp_alerts") or []
    }
    assert {(r["alert"], r["labels"]["severity"]) for r in alert_rules()} == severities


def test_every_alert_is_labelled_and_annotated_for_the_bot() -> None:
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url", "dashboard_url"}, name
        for key in ("runbook_url", "dashboard_url"):
            assert urlsplit(annotations[key]).scheme == "https", name
        # Per-service alerts (aggregated by job) name the service the bot should act on.
        if re.search(r"by \([^)]*\bjob\b", rule["expr"]):
            assert rule["labels"].get("service") in ("{{ $labels.job }}", "incident-bot"), name


def test_alert_ratios_and_quantiles_are_aggregated() -> None:
    rules = {rule["alert"]: " ".join(rule["expr"].split()) for rule in alert_rules()}
    assert re.search(
        r"sum by \(job[^)]*\) \(rate\(http_requests_total\{[^}]*5\.\.", rules["HighErrorRate"]
    )
    assert re.search(r"/ sum by \(job[^)]*\) \(rate\(http_requests_total", rules["HighErrorRate"])
    quantile = r"histogram_quantile\(0\.95, sum by \(le, job[^)]*\) \(rate\("
    assert re.search(quantile + r"http_request_duration_seconds_bucket", rules["SlowResponseTime"])


def test_playbook_triggers_name_real_alerts() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    triggers = {
        alertname
        for path in (REPO_ROOT / "playbooks").glob("*.yaml")
        for alertname in (load(path).get("triggers") or {}).get("alertnames", [])
    }
    assert triggers
    assert triggers <= names


def test_alertmanager_config_is_valid(test_tools_bin: Path) -> None:
    result = run([test_tools_bin / "amtool", "check-config", ALERTMANAGER])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical", "alertname=ServiceDown"], "pagerduty,incident-bot"),
        (["severity=warning", "alertname=HighErrorRate"], "incident-bot"),
        (["alertname=Watchdog"], "incident-bot"),
    ],
)
def test_criticals_page_and_every_alert_reaches_the_bot(
    test_tools_bin: Path, labels: list[str], receivers: str
) -> None:
    result = run(
        [
            test_tools_bin / "amtool",
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER}",
            *labels,
        ]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receivers


def test_alertmanager_reads_its_secrets_from_files() -> None:
    config = load(ALERTMANAGER)
    receivers = {r["name"]: r for r in config["receivers"]}
    (webhook,) = receivers["incident-bot"]["webhook_configs"]
    assert webhook["url"] == BOT_WEBHOOK
    assert webhook["send_resolved"] is True
    authorization = webhook["http_config"]["authorization"]
    assert set(authorization) == {"type", "credentials_file"}
    (pagerduty,) = receivers["pagerduty"]["pagerduty_configs"]
    assert "routing_key_file" in pagerduty
    assert "routing_key" not in pagerduty and "service_key" not in pagerduty
    (inhibit,) = config["inhibit_rules"]
    assert inhibit["source_matchers"] == ['severity="critical"']
    assert inhibit["target_matchers"] == ['severity="warning"']
    assert set(inhibit["equal"]) == {"alertname", "service"}


# --- Scrape configuration: Prometheus' relabelling applied to the rendered pods -------------


def relabel(labels: dict[str, str], rules: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus' relabel_configs (the actions used here); None when the target is dropped."""
    labels = dict(labels)
    for rule in rules:
        action = rule.get("action", "replace")
        regex = re.compile(f"(?:{rule.get('regex', '(.*)')})")
        value = rule.get("separator", ";").join(
            labels.get(name, "") for name in rule.get("source_labels", [])
        )
        match = regex.fullmatch(value)
        if (action == "keep" and not match) or (action == "drop" and match):
            return None
        if action == "replace" and match:
            # Go's $1 / ${1} as Python's \g<1>.
            template = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", rule.get("replacement", "$1"))
            result = match.expand(template)
            if result:
                labels[rule["target_label"]] = result
            else:
                labels.pop(rule["target_label"], None)
        elif action == "labeldrop":
            labels = {k: v for k, v in labels.items() if not regex.fullmatch(k)}
        elif action not in ("keep", "drop", "replace"):
            raise AssertionError(f"relabel action {action} is not emulated")
    return labels


def _meta(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def discovered_targets(
    workload: Manifest, template: Manifest, namespace: str
) -> list[dict[str, str]]:
    """What Kubernetes pod discovery offers for one running pod: a target per container port."""
    meta = template["metadata"]
    pod = {
        "__meta_kubernetes_namespace": namespace,
        "__meta_kubernetes_pod_name": f"{workload['metadata']['name']}-0",
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_node_name": "node-1",
        **{f"__meta_kubernetes_pod_label_{_meta(k)}": v for k, v in meta.get("labels", {}).items()},
        **{
            f"__meta_kubernetes_pod_annotation_{_meta(k)}": v
            for k, v in meta.get("annotations", {}).items()
        },
    }
    ports = [p for c in template["spec"]["containers"] for p in c.get("ports", [])]
    if not ports:
        return [{**pod, "__address__": "10.1.0.7"}]
    return [
        {
            **pod,
            "__address__": f"10.1.0.7:{p['containerPort']}",
            "__meta_kubernetes_pod_container_port_number": str(p["containerPort"]),
        }
        for p in ports
    ]


def test_prometheus_scrapes_every_annotated_pod_as_its_deployment(
    rendered: dict[str, list[Manifest]],
) -> None:
    config = load(MONITORING / "prometheus.yml")
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "factsway-pods"]
    (sd,) = job["kubernetes_sd_configs"]
    assert sd["role"] == "pod"
    assert sd["namespaces"]["names"] == [NAMESPACES["production"]]
    assert config["rule_files"] == ["alerts.yml"]

    scraped: dict[str, set[tuple[str, str]]] = {}
    for workload, template in pod_templates(rendered["production"]):
        for target in discovered_targets(workload, template, NAMESPACES["production"]):
            labels = relabel(target, job["relabel_configs"])
            if labels is not None:
                scraped.setdefault(labels["job"], set()).add(
                    (labels["__address__"], labels.get("__metrics_path__", "/metrics"))
                )
    services = [f"{name}-service" for name in ("records", "ingestion", "export", "caseblock")]
    services += [f"{name}-service" for name in ("signature", "facts", "exhibits", "caselaw")]
    assert set(scraped) == {*services, "incident-bot", "postgres"}
    for name, targets in scraped.items():
        workload = next(
            w for w, _ in pod_templates(rendered["production"]) if w["metadata"]["name"] == name
        )
        port = workload["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]
        # One target per pod, on the annotated port, whatever ports the pod has.
        assert targets == {(f"10.1.0.7:{port}", "/metrics")}, name


def test_compose_prometheus_names_jobs_as_kubernetes_does() -> None:
    config = load(MONITORING / "prometheus-compose.yml")
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "factsway"]
    jobs = set()
    for group in job["static_configs"]:
        for address in group["targets"]:
            labels = relabel({"__address__": address, **group["labels"]}, job["relabel_configs"])
            assert labels is not None and "app" not in labels
            jobs.add(labels["job"])
            assert address.split(":")[0] in (labels["job"], "postgres-exporter")
    assert {"records-service", "caselaw-service", "incident-bot", "postgres"} <= jobs
    assert len(jobs) == 10


# --- Grafana -------------------------------------------------------------------------------


def panel_queries(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboards_choose_their_data_source(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] == path.stem
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    uses = [p["datasource"] for p in dashboard["panels"]]
    uses += [t["datasource"] for p in dashboard["panels"] for t in p["targets"]]
    assert uses and all(ds == {"type": "prometheus", "uid": "${datasource}"} for ds in uses)


def test_dashboards_show_what_the_alerts_watch() -> None:
    queries = " ".join(
        q for path in DASHBOARDS for q in panel_queries(json.loads(path.read_text()))
    )
    for metric in (
        "up",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "pg_stat_activity_count",
        "database_connection_errors_total",
        "node_filesystem_avail_bytes",
        "incident_bot_outbox_depth",
        "incident_bot_outbox_oldest_age_seconds",
        "incident_bot_webhooks_total",
        "incident_bot_slack_api_calls_total",
    ):
        assert re.search(rf"\b{metric}\b", queries), metric
    # The alerts' dashboard links lead to these dashboards and their service variable.
    uids = {json.loads(p.read_text())["uid"] for p in DASHBOARDS}
    for rule in alert_rules():
        url = urlsplit(rule["annotations"]["dashboard_url"])
        assert url.path.removeprefix("/d/") in uids, rule["alert"]
        assert url.query in ("", "var-service={{ $labels.job }}"), rule["alert"]


def test_dashboard_queries_are_valid_promql(test_tools_bin: Path, tmp_path: Path) -> None:
    queries = [q for path in DASHBOARDS for q in panel_queries(json.loads(path.read_text()))]
    concrete = [
        q.replace("$__rate_interval", "5m").replace("$namespace", ".*").replace("$service", ".*")
        for q in queries
    ]
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": q} for i, q in enumerate(concrete)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run([test_tools_bin / "promtool", "check", "rules", path])
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    grafana = MONITORING / "grafana"
    (source,) = load(grafana / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert source["type"] == "prometheus"
    (provider,) = load(grafana / "provisioning" / "dashboards" / "factsway.yml")["providers"]
    compose = load(INFRA / "compose" / "compose.yaml")
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../monitoring/grafana/dashboards:{provider['options']['path']}:ro" in mounts


# --- Compose --------------------------------------------------------------------------------


def test_compose_runs_the_whole_install_with_healthchecks() -> None:
    compose = load(INFRA / "compose" / "compose.yaml")
    services = compose["services"]
    expected = {f"{s}-service" for s in ("records", "ingestion", "export", "caseblock")}
    expected |= {f"{s}-service" for s in ("signature", "facts", "exhibits", "caselaw")}
    expected |= {"postgres", "prometheus", "alertmanager", "grafana", "incident-bot"}
    assert expected <= set(services)
    for name, service in services.items():
        if name not in ("db-migrate", "incident-bot-db"):  # run once and exit
            assert service["healthcheck"]["test"], name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name}: {source}"
    # The bot answers to the name alertmanager.yml (shared with Kubernetes) gives it.
    aliases = services["incident-bot"]["networks"]["factsway"]["aliases"]
    assert urlsplit(BOT_WEBHOOK).hostname in aliases
    # Secrets are interpolated from the env file, never written here.
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD$|TOKEN$|SECRET$|_KEY$|DSN$|DATABASE_URL$", key):
                assert str(value).startswith("${"), f"{name}: {key}"
