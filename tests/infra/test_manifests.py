"""The kustomize overlays as rendered: services, images, probes, security, secrets, RBAC, policy."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.config import load_platform_config
from tests.infra.rendering import (
    ENVIRONMENTS,
    INFRA,
    NAMESPACES,
    OVERLAYS,
    REPO_ROOT,
    Manifest,
    named,
    of_kind,
    pod_templates,
)

# The bot's bundled description of the platform is the source of the names and ports.
PLATFORM = load_platform_config(None)
SERVICE_PORTS = {svc.deployment: svc.port for svc in PLATFORM.services}

# An image with a release tag (containing a digit, never a moving name) or a digest.
PINNED_IMAGE = re.compile(
    r"^[a-z0-9][a-z0-9._/-]*"
    r"(:(?=[A-Za-z0-9._-]*\d)(?!latest$|stable$|main$|master$|edge$)[A-Za-z0-9._-]+)?"
    r"(@sha256:[0-9a-f]{64})?$"
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$|DSN|DATABASE_URL")
# What leaked credentials look like, wherever they are written.
CREDENTIAL_PATTERNS = [
    re.compile(r"xox[abpr]-[0-9A-Za-z-]{8,}"),  # Slack tokens
    re.compile(r"xapp-[0-9A-Za-z-]{8,}"),
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key IDs
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"postgres(ql)?://[^:/\s]+:[^@$\s(<]+@"),  # a URL with a literal password
]


@pytest.fixture(params=ENVIRONMENTS)
def env(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def containers(template: Manifest) -> list[Manifest]:
    spec = template["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_the_eight_services_run_on_their_ports(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    objects = rendered[env]
    services = {
        d["metadata"]["name"]: d
        for d in of_kind(objects, "Deployment")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "platform-service"
    }
    assert set(services) == set(SERVICE_PORTS)
    for name, port in SERVICE_PORTS.items():
        template = services[name]["spec"]["template"]
        assert template["metadata"]["labels"]["app"] == name
        assert services[name]["spec"]["selector"]["matchLabels"] == {"app": name}
        (container,) = template["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert {"name": "PORT", "value": str(port)} in container["env"]
        assert template["metadata"]["annotations"] == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics",
        }
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
        service = named(objects, "Service", name)
        assert service["spec"]["selector"] == {"app": name}
        assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]


def test_every_object_is_in_the_environments_namespace(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    namespace = NAMESPACES[env]
    assert [n["metadata"]["name"] for n in of_kind(rendered[env], "Namespace")] == [namespace]
    for obj in rendered[env]:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]


def test_every_image_is_pinned(rendered: dict[str, list[Manifest]], env: str) -> None:
    images = {
        c["image"] for _, template in pod_templates(rendered[env]) for c in containers(template)
    }
    assert len(images) >= 11
    for image in images:
        assert PINNED_IMAGE.match(image) and (":" in image or "@" in image), image


COMPOSE_FILES = ("compose.yaml", "bot.yaml")


@pytest.mark.parametrize("file", COMPOSE_FILES)
def test_compose_images_are_pinned(file: str) -> None:
    compose = yaml.safe_load((INFRA / "compose" / file).read_text())
    assert compose["services"]
    for name, service in compose["services"].items():
        image = service["image"]
        assert PINNED_IMAGE.match(image) and ":" in image, f"{file}: {name}: {image}"


@pytest.mark.parametrize("file", COMPOSE_FILES)
def test_compose_files_follow_the_compose_spec(file: str) -> None:
    result = subprocess.run(
        [
            str(REPO_ROOT / ".venv" / "bin" / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(INFRA / "compose" / file),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _bot_services(compose: Manifest) -> dict[str, Manifest]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service["image"].startswith("factsway/incident-bot:")
    }


@pytest.mark.parametrize("file", COMPOSE_FILES)
def test_compose_runs_the_bot_on_its_own_postgres_database(file: str) -> None:
    compose = yaml.safe_load((INFRA / "compose" / file).read_text())
    services = compose["services"]
    bots = _bot_services(compose)
    assert bots
    for name, bot in bots.items():
        url = bot["environment"]["INCIDENT_BOT_DATABASE"]
        # The bot's own role and database, its password from the env file, never a literal.
        assert re.fullmatch(
            r"postgresql://incident_bot:\$\{INCIDENT_BOT_DB_PASSWORD:\?[^}]+\}"
            r"@postgres:5432/incident_bot",
            url,
        ), f"{file}: {name}: {url}"
        assert bot["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "incident-bot-db": {"condition": "service_completed_successfully"},
        }
        assert "healthcheck" in bot, name
        assert "POSTGRES_PASSWORD" not in yaml.safe_dump(bot), name
    # The one-shot setup runs the same SQL as Kubernetes, as the server's superuser.
    setup = services["incident-bot-db"]
    assert setup["restart"] == "no"
    assert setup["image"] == services["postgres"]["image"]
    assert setup["environment"]["INCIDENT_BOT_DB_PASSWORD"].startswith(
        "${INCIDENT_BOT_DB_PASSWORD:?"
    )
    (mount,) = setup["volumes"]
    source, target, mode = mount.split(":")
    assert (INFRA / "compose" / source).resolve() == (
        INFRA / "kubernetes" / "base" / "incident-bot-database.sql"
    )
    assert setup["command"][-1] == target and mode == "ro"
    assert "healthcheck" in services["postgres"]


def test_the_bot_alone_runs_two_replicas_on_distinct_ports() -> None:
    compose = yaml.safe_load((INFRA / "compose" / "bot.yaml").read_text())
    bots = _bot_services(compose)
    assert len(bots) >= 2
    published = [port for bot in bots.values() for port in bot.get("ports", [])]
    assert len({p.rsplit(":", 1)[0] for p in published}) == len(published) == len(bots)
    assert len({bot["image"] for bot in bots.values()}) == 1  # one release, upgraded together
    assert {"postgres", "incident-bot-db"} <= set(compose["services"])


def test_every_container_has_probes_and_resource_bounds(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    for workload, template in pod_templates(rendered[env]):
        for container in containers(template):
            where = f"{workload['metadata']['name']}/{container['name']}"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert set(resources.get(bound, {})) >= {"cpu", "memory"}, where
            if workload["kind"] != "Job":  # a Job's pod runs to completion; nothing to route
                assert "livenessProbe" in container, where
                assert "readinessProbe" in container, where


def test_every_pod_is_locked_down(rendered: dict[str, list[Manifest]], env: str) -> None:
    for workload, template in pod_templates(rendered[env]):
        spec = template["spec"]
        name = workload["metadata"]["name"]
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, name
        assert pod_security["runAsUser"] != 0, name
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), name
        assert all("hostPath" not in volume for volume in spec.get("volumes", [])), name
        for container in containers(template):
            security = container["securityContext"]
            where = f"{name}/{container['name']}"
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert not security.get("privileged"), where
        if name != "incident-bot":  # the only pod that talks to the Kubernetes API
            assert spec["automountServiceAccountToken"] is False, name


def test_no_secret_is_rendered_or_written_into_env(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    assert of_kind(rendered[env], "Secret") == []
    for workload, template in pod_templates(rendered[env]):
        for container in containers(template):
            from_secrets = {
                var["name"]
                for var in container.get("env", [])
                if "secretKeyRef" in var.get("valueFrom", {})
            }
            for var in container.get("env", []):
                if "value" not in var or not SECRET_NAME.search(var["name"]):
                    continue
                # A literal value may only be built from variables that come from a Secret.
                where = f"{workload['metadata']['name']}/{container['name']}: {var['name']}"
                references = set(re.findall(r"\$\(([A-Z_]+)\)", var["value"]))
                assert references, where
                assert references <= from_secrets, where


def test_secrets_come_from_secrets_by_reference(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    postgres = named(rendered[env], "StatefulSet", "postgres")
    env_vars = {v["name"]: v for v in postgres["spec"]["template"]["spec"]["containers"][0]["env"]}
    for key in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        ref = env_vars[key]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "postgres-credentials", "key": key}
    bot = named(rendered[env], "Deployment", "incident-bot")
    (container,) = bot["spec"]["template"]["spec"]["containers"]
    assert {"secretRef": {"name": "incident-bot-secrets", "optional": True}} in container["envFrom"]


def test_the_bots_role_grants_exactly_what_it_needs(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    objects = rendered[env]
    role = named(objects, "Role", "incident-bot")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    expected = {
        *(("", r, v) for r in ("pods", "pods/log", "events") for v in ("get", "list", "watch")),
        *(("apps", "replicasets", v) for v in ("get", "list", "watch")),
        *(
            ("apps", r, v)
            for r in ("deployments", "deployments/scale")
            for v in ("get", "list", "patch")
        ),
        *(("autoscaling", "horizontalpodautoscalers", v) for v in ("get", "list", "patch")),
    }
    assert granted == expected
    assert all("resourceNames" not in rule for rule in role["rules"])
    binding = named(objects, "RoleBinding", "incident-bot")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "incident-bot",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "incident-bot", "namespace": NAMESPACES[env]}
    ]
    bot = named(objects, "Deployment", "incident-bot")
    assert bot["spec"]["template"]["spec"]["serviceAccountName"] == "incident-bot"
    # Nothing cluster-wide at all.
    assert of_kind(objects, "ClusterRole") == of_kind(objects, "ClusterRoleBinding") == []


def test_the_bot_runs_as_several_replicas_with_its_config(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    objects = rendered[env]
    bot = named(objects, "Deployment", "incident-bot")
    pod_labels = bot["spec"]["template"]["metadata"]["labels"]
    # Several replicas on one PostgreSQL act as one bot; an update never has none ready.
    assert bot["spec"]["replicas"] >= 2
    strategy = bot["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] >= 1
    # A drain or an eviction keeps one serving.
    pdbs = [
        p
        for p in of_kind(objects, "PodDisruptionBudget")
        if _selects(p["spec"]["selector"], pod_labels)
    ]
    assert [p["metadata"]["name"] for p in pdbs] == ["incident-bot"]
    assert pdbs[0]["spec"]["minAvailable"] >= 1
    assert pdbs[0]["spec"]["minAvailable"] < bot["spec"]["replicas"]
    spec = bot["spec"]["template"]["spec"]
    # Spread over nodes, as a preference so a small cluster still runs it.
    (term,) = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert _selects(term["podAffinityTerm"]["labelSelector"], pod_labels)
    (spread,) = spec["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert _selects(spread["labelSelector"], pod_labels)
    # Time to finish requests in flight (aiohttp waits up to 60 s) and release the lease.
    assert spec["terminationGracePeriodSeconds"] >= 65
    (container,) = spec["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # The store is PostgreSQL, its URL a Secret's key, never a literal; no volume holds state.
    (database,) = [v for v in container["env"] if v["name"] == "INCIDENT_BOT_DATABASE"]
    assert database == {
        "name": "INCIDENT_BOT_DATABASE",
        "valueFrom": {"secretKeyRef": {"name": "incident-bot-database", "key": "url"}},
    }
    assert of_kind(objects, "PersistentVolumeClaim") == []
    assert all("persistentVolumeClaim" not in v and "hostPath" not in v for v in spec["volumes"])
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert set(volumes) == {"config", "tmp"}
    config_map = named(objects, "ConfigMap", volumes["config"]["configMap"]["name"])
    env_vars = {v["name"]: v.get("value") for v in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert env_vars["INCIDENT_BOT_CONFIG"] == f"{mount['mountPath']}/platform.yaml"
    assert "platform.yaml" in config_map["data"]
    assert named(objects, "Service", "incident-bot")["spec"]["ports"][0]["port"] == 8080


def test_the_bots_database_role_is_its_own(rendered: dict[str, list[Manifest]], env: str) -> None:
    objects = rendered[env]
    bot = named(objects, "Deployment", "incident-bot")
    (container,) = bot["spec"]["template"]["spec"]["containers"]
    # The bot has nothing of the platform's credentials (its application role, the superuser).
    refs = [v["valueFrom"]["secretKeyRef"] for v in container["env"] if "valueFrom" in v]
    assert refs == [{"name": "incident-bot-database", "key": "url"}]
    assert "postgres-credentials" not in yaml.safe_dump(bot)
    # The Job that makes the bot's role runs the SQL that names it, before the rollout.
    job = named(objects, "Job", "incident-bot-db")
    assert job["metadata"]["labels"]["factsway.io/deploy-stage"] == "migrate"
    pod = job["spec"]["template"]["spec"]
    (setup,) = pod["containers"]
    postgres = named(objects, "StatefulSet", "postgres")
    assert setup["image"] == postgres["spec"]["template"]["spec"]["containers"][0]["image"]
    setup_env = {v["name"]: v for v in setup["env"]}
    assert setup_env["INCIDENT_BOT_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "incident-bot-database",
        "key": "password",
    }
    assert setup_env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "postgres-credentials"
    assert not any("PASSWORD" in arg for arg in setup.get("command", []) + setup.get("args", []))
    (sql_volume,) = [v for v in pod["volumes"] if "configMap" in v]
    sql_map = named(objects, "ConfigMap", sql_volume["configMap"]["name"])
    assert sql_map["metadata"]["labels"]["factsway.io/deploy-stage"] == "migrate"
    (sql,) = sql_map["data"].values()
    assert sql == (INFRA / "kubernetes" / "base" / "incident-bot-database.sql").read_text()
    assert "CREATE ROLE incident_bot LOGIN;" in sql
    assert "CREATE DATABASE incident_bot OWNER incident_bot" in sql
    # incident_bot is not the platform's application role, whatever the examples choose.
    for example in OVERLAYS.glob("*/secrets/postgres.env.example"):
        platform = dict(
            line.split("=", 1) for line in example.read_text().splitlines() if "=" in line
        )
        assert platform["POSTGRES_USER"] != "incident_bot", example
        assert platform["POSTGRES_DB"] != "incident_bot", example


def test_the_bot_and_its_database_job_reach_postgres(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    objects = rendered[env]
    ingress = named(objects, "NetworkPolicy", "postgres")
    egress = named(objects, "NetworkPolicy", "postgres-clients")
    postgres_labels = named(objects, "StatefulSet", "postgres")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert _selects(ingress["spec"]["podSelector"], postgres_labels)
    for kind, name in (("Deployment", "incident-bot"), ("Job", "incident-bot-db")):
        labels = named(objects, kind, name)["spec"]["template"]["metadata"]["labels"]
        assert _selects(egress["spec"]["podSelector"], labels), name
        assert any(
            _selects(peer["podSelector"], labels)
            for rule in ingress["spec"]["ingress"]
            for peer in rule["from"]
            if {"protocol": "TCP", "port": 5432} in rule["ports"]
        ), name
        assert any(
            _selects(peer["podSelector"], postgres_labels)
            for rule in egress["spec"]["egress"]
            for peer in rule["to"]
            if {"protocol": "TCP", "port": 5432} in rule["ports"]
        ), name


def test_the_store_copy_job_reads_the_old_volume_into_the_bots_database() -> None:
    (job,) = yaml.safe_load_all((INFRA / "kubernetes" / "incident-bot-store-copy.yaml").read_text())
    template = job["spec"]["template"]
    spec = template["spec"]
    assert template["metadata"]["labels"]["factsway.io/postgres-client"] == "true"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["env"] == [
        {
            "name": "INCIDENT_BOT_DATABASE",
            "valueFrom": {"secretKeyRef": {"name": "incident-bot-database", "key": "url"}},
        }
    ]
    # The image's entrypoint is incident-bot; the URL (with its password) stays out of argv.
    assert "command" not in container
    assert container["args"] == ["store", "copy", "--from", "/data/incident-bot.db"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    # The claim earlier versions of incident-bot.yaml made for the SQLite store.
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "incident-bot-data"}
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]


def _selects(selector: Manifest, labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels only, as here) selects pods with these labels."""
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_the_bots_platform_config_matches_the_manifests(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    config = load_platform_config(OVERLAYS / env / "platform.yaml")
    assert config.namespace == NAMESPACES[env]
    assert {s.deployment: s.port for s in config.services} == SERVICE_PORTS
    assert config.database.statefulset == "postgres"
    for svc in config.services:
        hpa = named(rendered[env], "HorizontalPodAutoscaler", svc.deployment)
        assert (svc.min_replicas, svc.max_replicas) == (
            hpa["spec"]["minReplicas"],
            hpa["spec"]["maxReplicas"],
        )


def test_every_service_scales_and_survives_disruption(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    objects = rendered[env]
    for name in SERVICE_PORTS:
        deployment = named(objects, "Deployment", name)
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns the replica count"
        hpa = named(objects, "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        pdb = named(objects, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"] == {"matchLabels": {"app": name}}


def test_postgres_is_a_statefulset_with_its_own_volume(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    objects = rendered[env]
    postgres = named(objects, "StatefulSet", "postgres")
    assert postgres["spec"]["serviceName"] == "postgres"
    (claim,) = postgres["spec"]["volumeClaimTemplates"]
    mounts = postgres["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/var/lib/postgresql/data"} in mounts
    service = named(objects, "Service", "postgres")
    assert service["spec"]["clusterIP"] == "None"


def test_network_policies_deny_by_default(rendered: dict[str, list[Manifest]], env: str) -> None:
    policies = of_kind(rendered[env], "NetworkPolicy")
    deny = named(policies, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # PostgreSQL takes connections only from labelled clients.
    postgres = named(policies, "NetworkPolicy", "postgres")
    (rule,) = postgres["spec"]["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": {"factsway.io/postgres-client": "true"}}}
    ]


def test_ingresses_serve_only_tls(rendered: dict[str, list[Manifest]], env: str) -> None:
    ingresses = of_kind(rendered[env], "Ingress")
    assert {i["metadata"]["name"] for i in ingresses} == {"factsway-api", "incident-bot"}
    for ingress in ingresses:
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        tls_hosts = {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
        assert hosts <= tls_hosts
        assert all(tls["secretName"] for tls in ingress["spec"]["tls"])
    api = named(ingresses, "Ingress", "factsway-api")
    backends = {p["backend"]["service"]["name"] for p in api["spec"]["rules"][0]["http"]["paths"]}
    assert backends == set(SERVICE_PORTS)


def test_the_migration_job_runs_before_the_services(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    job = named(rendered[env], "Job", "db-migrate")
    assert job["metadata"]["labels"]["factsway.io/deploy-stage"] == "migrate"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    records = named(rendered[env], "Deployment", "records-service")
    assert container["image"] == records["spec"]["template"]["spec"]["containers"][0]["image"]
    assert not any(
        "PASSWORD" in arg for arg in container.get("command", []) + container.get("args", [])
    )
    staged = {
        (o["kind"], o["metadata"]["name"])
        for o in rendered[env]
        if o["metadata"].get("labels", {}).get("factsway.io/deploy-stage") == "database"
    }
    assert {
        ("Namespace", NAMESPACES[env]),
        ("StatefulSet", "postgres"),
        ("Service", "postgres"),
    } <= staged
    assert ("NetworkPolicy", "postgres-clients") in staged


def test_no_credentials_are_written_in_infra() -> None:
    files = [p for p in INFRA.rglob("*") if p.is_file()]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        for pattern in CREDENTIAL_PATTERNS:
            assert not pattern.search(text), f"{path}: {pattern.pattern}"
        # CloudFormation's short-form tags (!Ref) are not plain YAML; it holds no Kubernetes.
        if path.suffix in (".yaml", ".yml") and "cloudformation" not in path.parts:
            for doc in yaml.safe_load_all(text):
                assert not (isinstance(doc, dict) and doc.get("kind") == "Secret"), path
    # The examples carry no values beyond the placeholder.
    for example in [*INFRA.rglob("*.example"), INFRA / "compose" / "example.env"]:
        for line in example.read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                if SECRET_NAME.search(key):
                    assert value in ("", "change-me"), f"{example}: {key}"


def test_real_secret_files_are_ignored_by_git(env: str) -> None:
    candidates = [
        OVERLAYS / env / "secrets" / "postgres.env",
        OVERLAYS / env / "secrets" / "incident-bot.env",
        OVERLAYS / env / "secrets" / "incident-bot-database.env",
        INFRA / "compose" / "factsway.env",
        INFRA / "compose" / "bot.env",
    ]
    examples = [
        OVERLAYS / env / "secrets" / "postgres.env.example",
        OVERLAYS / env / "secrets" / "incident-bot-database.env.example",
        INFRA / "compose" / "example.env",
    ]
    ignored = _git_ignored([*candidates, *examples])
    assert ignored == set(candidates)


def _git_ignored(paths: list[Path]) -> set[Path]:
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: none of them is ignored
    return {Path(line) for line in result.stdout.splitlines()}
