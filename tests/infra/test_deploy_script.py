"""infra/kubernetes/deploy.sh against a recording kubectl: context check, order, secrets."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.rendering import INFRA, NAMESPACES

# A kubectl that records each call (arguments and, where kubectl would read it, standard
# input) and answers the few questions deploy.sh asks from environment variables.
FAKE_KUBECTL = r"""#!/usr/bin/env python3
import json, os, sys

args = sys.argv[1:]
reads_stdin = "/dev/stdin" in " ".join(args) or args[-2:] == ["-f", "-"] or "-" in args[-3:]
stdin = sys.stdin.read() if reads_stdin else ""
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(json.dumps({"args": args, "stdin": stdin}) + "\n")

words = list(args)
while words[:1] in (["--context"], ["--namespace"]):
    words = words[2:]
if words[:2] == ["config", "current-context"]:
    print(os.environ["FAKE_CONTEXT"])
elif words[:2] == ["get", "namespace"]:
    sys.exit(0 if os.environ.get("FAKE_NAMESPACE_EXISTS") else 1)
elif words[:2] == ["get", "secret"]:
    sys.exit(0 if words[2] in os.environ.get("FAKE_SECRETS", "").split(",") else 1)
elif words[:2] == ["get", "job"]:
    states = json.loads(os.environ.get("FAKE_JOB_STATES", "{}"))
    print(states.get(words[2], os.environ.get("FAKE_JOB_STATE", "Complete")) + " ", end="")
elif words[:2] == ["get", "deployments,statefulsets"]:
    print("deployment.apps/incident-bot\ndeployment.apps/records-service\nstatefulset.apps/postgres")
elif words[:2] == ["create", "secret"] and "--dry-run=client" in words:
    print("apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + words[3])
elif words[:1] == ["apply"] and "-" in words:
    print("secret/incident-bot-secrets configured")
"""


@dataclass
class Call:
    args: list[str]
    stdin: str

    @property
    def line(self) -> str:
        return " ".join(self.args)


@dataclass
class Deploy:
    returncode: int
    stdout: str
    stderr: str
    calls: list[Call]

    def lines(self) -> list[str]:
        return [c.line for c in self.calls]

    def index(self, pattern: str) -> int:
        found = [i for i, line in enumerate(self.lines()) if re.search(pattern, line)]
        assert found, f"no kubectl call matches {pattern!r}:\n" + "\n".join(self.lines())
        return found[0]


@pytest.fixture
def kubernetes_dir(tmp_path: Path) -> Path:
    """A copy of infra/kubernetes, so a test can add secrets files beside the overlays."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(INFRA / "kubernetes", copy)
    for env_file in copy.glob("overlays/*/secrets/*.env"):
        env_file.unlink()  # a developer's real files stay out of the test
    return copy


def deploy(kubernetes_dir: Path, *args: str, **fake: str) -> Deploy:
    bin_dir = kubernetes_dir.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    log = kubernetes_dir.parent / "kubectl.log"
    log.write_text("")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(kubernetes_dir.parent),
        "FAKE_KUBECTL_LOG": str(log),
        "FAKE_CONTEXT": "factsway-production",
        "DEPLOY_TIMEOUT": "20s",
        **fake,
    }
    result = subprocess.run(
        ["bash", str(kubernetes_dir / "deploy.sh"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    calls = [Call(**json.loads(line)) for line in log.read_text().splitlines()]
    return Deploy(result.returncode, result.stdout, result.stderr, calls)


def test_refuses_a_context_that_is_not_the_environments(kubernetes_dir: Path) -> None:
    run = deploy(kubernetes_dir, "production", FAKE_CONTEXT="factsway-staging")
    assert run.returncode == 1
    assert "factsway-staging" in run.stderr and "factsway-production" in run.stderr
    assert run.lines() == ["config current-context"]


def test_usage_errors_exit_2(kubernetes_dir: Path) -> None:
    assert deploy(kubernetes_dir).returncode == 2
    assert deploy(kubernetes_dir, "prod").returncode == 2


def test_deploys_in_order_and_generates_the_database_password(kubernetes_dir: Path) -> None:
    run = deploy(kubernetes_dir, "production")
    assert run.returncode == 0, run.stderr
    namespace = NAMESPACES["production"]
    overlay = str(kubernetes_dir / "overlays" / "production")
    # Every call to the cluster is pinned to the checked context (kustomize is local).
    for call in run.calls[1:]:
        if call.args[0] != "kustomize":
            assert call.args[:2] == ["--context", "factsway-production"], call.line
    steps = [
        rf"apply -k {overlay} --selector factsway\.io/deploy-stage=database$",
        rf"--namespace {namespace} create secret generic postgres-credentials"
        r" --from-env-file=/dev/stdin$",
        rf"--namespace {namespace} create secret generic incident-bot-database"
        r" --from-env-file=/dev/stdin$",
        rf"--namespace {namespace} rollout status statefulset/postgres",
        rf"--namespace {namespace} delete job db-migrate --ignore-not-found",
        rf"--namespace {namespace} delete job incident-bot-db --ignore-not-found",
        rf"apply -k {overlay} --selector factsway\.io/deploy-stage=migrate$",
        rf"--namespace {namespace} get job db-migrate",
        rf"--namespace {namespace} get job incident-bot-db",
        rf"apply -k {overlay}$",
        rf"--namespace {namespace} rollout status deployment\.apps/incident-bot",
        rf"--namespace {namespace} rollout status deployment\.apps/records-service",
        rf"--namespace {namespace} rollout status statefulset\.apps/postgres",
        rf"--namespace {namespace} get pods,services",
    ]
    positions = [run.index(step) for step in steps]
    assert positions == sorted(positions)
    # The generated password went through standard input only.
    (secret,) = [c for c in run.calls if "postgres-credentials" in c.line and "create" in c.args]
    password = re.fullmatch(
        r"POSTGRES_USER=factsway\nPOSTGRES_DB=factsway\nPOSTGRES_PASSWORD=([0-9a-f]{48})\n",
        secret.stdin,
    )
    assert password, secret.stdin
    assert not any(password.group(1) in call.line for call in run.calls)
    assert password.group(1) not in run.stdout + run.stderr
    assert "no Secret incident-bot-secrets" in run.stderr
    # The bot's own role and database, with a password of its own, also through stdin only.
    (bot_secret,) = [
        c for c in run.calls if "incident-bot-database" in c.line and "create" in c.args
    ]
    bot = re.fullmatch(
        r"password=([0-9a-f]{48})\n"
        r"url=postgresql://incident_bot:([0-9a-f]{48})@postgres:5432/incident_bot\n",
        bot_secret.stdin,
    )
    assert bot, bot_secret.stdin
    assert bot.group(1) == bot.group(2) != password.group(1)
    assert not any(bot.group(1) in call.line for call in run.calls)
    assert bot.group(1) not in run.stdout + run.stderr


def test_takes_the_database_credentials_from_the_overlays_file(kubernetes_dir: Path) -> None:
    secrets = kubernetes_dir / "overlays" / "staging" / "secrets"
    (secrets / "postgres.env").write_text(
        "POSTGRES_USER=factsway\nPOSTGRES_DB=factsway\nPOSTGRES_PASSWORD=s3cretFromFile\n"
    )
    run = deploy(kubernetes_dir, "staging", FAKE_CONTEXT="factsway-staging")
    assert run.returncode == 0, run.stderr
    run.index(
        rf"--namespace factsway-staging create secret generic postgres-credentials "
        rf"--from-env-file={secrets / 'postgres.env'}$"
    )
    assert not any("s3cretFromFile" in call.line + call.stdin for call in run.calls)


def test_takes_the_bots_database_password_from_the_overlays_file(kubernetes_dir: Path) -> None:
    secrets = kubernetes_dir / "overlays" / "production" / "secrets"
    (secrets / "incident-bot-database.env").write_text(
        "# the bot's own role\nINCIDENT_BOT_DB_PASSWORD=Bot.Pass-word_42\n"
    )
    run = deploy(kubernetes_dir, "production")
    assert run.returncode == 0, run.stderr
    (secret,) = [c for c in run.calls if "incident-bot-database" in c.line and "create" in c.args]
    assert secret.args[-3:] == ["generic", "incident-bot-database", "--from-env-file=/dev/stdin"]
    assert secret.stdin == (
        "password=Bot.Pass-word_42\n"
        "url=postgresql://incident_bot:Bot.Pass-word_42@postgres:5432/incident_bot\n"
    )
    assert not any("Bot.Pass-word_42" in call.line for call in run.calls)
    assert "Bot.Pass-word_42" not in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("password", "complaint"),
    [("change-me", "example's password"), ("", "example's password"), ("p@ss:w/rd", "URL")],
)
def test_refuses_a_bot_database_password_that_cannot_be_used(
    kubernetes_dir: Path, password: str, complaint: str
) -> None:
    secrets = kubernetes_dir / "overlays" / "production" / "secrets"
    (secrets / "incident-bot-database.env").write_text(f"INCIDENT_BOT_DB_PASSWORD={password}\n")
    run = deploy(kubernetes_dir, "production")
    assert run.returncode == 1
    assert complaint in run.stderr
    assert not any("incident-bot-database" in c.line and "create" in c.args for c in run.calls)
    assert not any(re.search(r"apply -k \S+$", line) for line in run.lines())


def test_keeps_an_existing_bot_database_secret(kubernetes_dir: Path) -> None:
    run = deploy(kubernetes_dir, "production", FAKE_SECRETS="incident-bot-database")
    assert run.returncode == 0, run.stderr
    assert not any("incident-bot-database" in c.line and "create" in c.args for c in run.calls)
    assert "Secret incident-bot-database exists; kept" in run.stdout


def test_a_failed_bot_database_job_stops_the_deploy(kubernetes_dir: Path) -> None:
    run = deploy(kubernetes_dir, "production", FAKE_JOB_STATES='{"incident-bot-db": "Failed"}')
    assert run.returncode == 1
    assert "migration Job incident-bot-db failed" in run.stderr
    run.index(r"logs job/incident-bot-db")
    assert not any(re.search(r"apply -k \S+$", line) for line in run.lines())


def test_database_only_stops_before_the_rollout(kubernetes_dir: Path) -> None:
    run = deploy(kubernetes_dir, "production", "--database-only")
    assert run.returncode == 0, run.stderr
    run.index(r"get job incident-bot-db")
    assert not any(re.search(r"apply -k \S+$", line) for line in run.lines())
    assert not any("rollout" in c.args and "statefulset/postgres" not in c.args for c in run.calls)
    assert deploy(kubernetes_dir, "production", "--database-only", "--dry-run").returncode == 2


def test_refuses_the_examples_placeholder_password(kubernetes_dir: Path) -> None:
    secrets = kubernetes_dir / "overlays" / "production" / "secrets"
    shutil.copy(secrets / "postgres.env.example", secrets / "postgres.env")
    run = deploy(kubernetes_dir, "production")
    assert run.returncode == 1
    assert "example's password" in run.stderr
    assert not any("create" in call.args for call in run.calls)


def test_keeps_an_existing_database_secret(kubernetes_dir: Path) -> None:
    run = deploy(kubernetes_dir, "production", FAKE_SECRETS="postgres-credentials")
    assert run.returncode == 0, run.stderr
    assert not any("postgres-credentials" in c.line and "create" in c.args for c in run.calls)


def test_updates_the_bots_secret_from_its_file_and_restarts_it(kubernetes_dir: Path) -> None:
    secrets = kubernetes_dir / "overlays" / "production" / "secrets"
    (secrets / "incident-bot.env").write_text("SLACK_BOT_TOKEN=xoxb-not-a-real-one\n")
    run = deploy(kubernetes_dir, "production")
    assert run.returncode == 0, run.stderr
    create = run.index(
        r"create secret generic incident-bot-secrets"
        rf" --from-env-file={secrets / 'incident-bot.env'} --dry-run=client -o yaml$"
    )
    applied = run.index(r"--namespace factsway-prod apply -f -$")
    restart = run.index(r"rollout restart deployment/incident-bot$")
    assert create < applied < run.index(r"apply -k \S+$") < restart
    assert not any("xoxb-not-a-real-one" in call.line for call in run.calls)


def test_a_failed_migration_stops_the_deploy(kubernetes_dir: Path) -> None:
    run = deploy(kubernetes_dir, "production", FAKE_JOB_STATE="Failed")
    assert run.returncode == 1
    assert "migration Job db-migrate failed" in run.stderr
    run.index(r"logs job/db-migrate")
    assert not any(re.search(r"apply -k \S+$", line) for line in run.lines())


@pytest.mark.parametrize(("exists", "mode"), [("1", "server"), ("", "client")])
def test_dry_run_changes_nothing(kubernetes_dir: Path, exists: str, mode: str) -> None:
    run = deploy(kubernetes_dir, "production", "--dry-run", FAKE_NAMESPACE_EXISTS=exists)
    assert run.returncode == 0, run.stderr
    applies = [c for c in run.calls if "apply" in c.args]
    assert len(applies) == 2
    assert all(f"--dry-run={mode}" in c.args for c in applies)
    for verb in ("create", "delete", "rollout", "wait"):
        assert not any(verb in c.args and "--dry-run=client" not in c.args for c in run.calls)
    assert "Would create Secret postgres-credentials" in run.stdout
    assert "Would create Secret incident-bot-database" in run.stdout


def test_deploy_script_is_shellcheck_clean(infra_tools_bin: Path) -> None:
    result = subprocess.run(
        [str(infra_tools_bin / "shellcheck"), "-x", str(INFRA / "kubernetes" / "deploy.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout
