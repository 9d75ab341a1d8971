"""The installed `incident-bot` console script, run as a person runs it: a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import Settings, load_platform_config
from tests.harness.bot import CONTRACT_ENV, BotFactory
from tests.harness.postgres import ThrowawayPostgres

SCRIPT = Path(sys.executable).parent / "incident-bot"
REPO = Path(__file__).resolve().parents[1]
INTEGRATIONS = (
    "slack",
    "alertmanager_webhook",
    "alertmanager_api",
    "pagerduty",
    "kubernetes",
    "prometheus",
    "platform_database",
    "sentry",
    "desktop_updates",
    "api",
    "operators",
)
# Loopback requests must not go through a proxy the CI environment may set.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in CONTRACT_ENV}
    clean["INCIDENT_BOT_DATABASE"] = str(tmp_path / "cli.db")
    return clean


def run(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """Exit 2: the environment or config is wrong; exit 1: the command could not be done (no
    such incident, already resolved). Either way one line, no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("incident-bot: ")
    return lines[0]


def assert_usage_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    """An argument error: the subcommand's own usage, then one line saying why; exit 2."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"usage: incident-bot {command} "), result.stderr
    reason = result.stderr.strip().splitlines()[-1]
    assert reason.startswith(f"incident-bot {command}: error: "), result.stderr
    return reason


# --- check-config ----------------------------------------------------------------------------


def test_check_config_without_credentials_exits_0_and_names_every_integration_missing(
    env: dict[str, str],
) -> None:
    result = run(env, "check-config")

    assert result.returncode == 0, result.stderr
    assert "platform config: ok (FACTSWAY, 8 services, namespace factsway-prod)" in result.stdout
    states = {
        line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:] if line.strip()
    }
    for name in INTEGRATIONS:
        assert states.get(name) == "missing", (name, result.stdout)
    assert "Traceback" not in result.stderr


def test_check_config_with_a_nonsense_slack_token_says_invalid_and_exits_1(
    env: dict[str, str],
) -> None:
    result = run({**env, "SLACK_BOT_TOKEN": "nonsense"}, "check-config")

    assert result.returncode == 1
    slack = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["slack"])
    assert "invalid" in slack
    assert "xoxb-" in slack
    assert "nonsense" not in result.stdout + result.stderr


def test_check_config_with_a_full_http_mode_slack_setup_says_configured(
    env: dict[str, str],
) -> None:
    result = run(
        {**env, "SLACK_BOT_TOKEN": "xoxb-1-2", "SLACK_SIGNING_SECRET": "s3cret"}, "check-config"
    )

    assert result.returncode == 0, result.stdout
    slack = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["slack"])
    assert slack.split()[1] == "configured"


def test_check_config_with_a_broken_config_file_exits_2_with_one_line_and_no_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("platform: ACME\nservices: [\n  {name: api\n", encoding="utf-8")

    from_env = run({**env, "INCIDENT_BOT_CONFIG": str(broken)}, "check-config")
    from_flag = run(env, "check-config", "--config", str(broken))

    for result in (from_env, from_flag):
        line = assert_clean_failure(result)
        assert str(broken) in line
        assert "YAML" in line


def test_check_config_with_an_invalid_config_names_the_field(
    env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "platform: ACME\nnamespace: acme\nservices:\n"
        "  - {name: api, deployment: api, port: 80, owners: [bob]}\n",
        encoding="utf-8",
    )

    line = assert_clean_failure(run(env, "--config", str(bad), "check-config"))

    assert "services.0.owners" in line


def playbooks_line(result: subprocess.CompletedProcess[str]) -> list[str]:
    line = next(ln for ln in result.stdout.splitlines() if ln.split()[:1] == ["playbooks"])
    return line.split(maxsplit=2)


def test_check_config_from_another_directory_finds_the_shipped_playbooks(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = run(env, "check-config", cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    _, state, detail = playbooks_line(result)
    assert state == "configured"
    assert detail.startswith("7 loaded from ")


def test_check_config_says_when_no_playbook_loads_and_exits_1(
    env: dict[str, str], tmp_path: Path
) -> None:
    # The bundled config copied elsewhere: its `playbooks_dir: playbooks` is beside the copy.
    copied = tmp_path / "etc" / "platform.yaml"
    copied.parent.mkdir()
    copied.write_text((REPO / "bot" / "defaults" / "factsway.yaml").read_text())

    result = run(env, "check-config", "--config", str(copied), cwd=tmp_path)

    assert result.returncode == 1, result.stdout
    _, state, detail = playbooks_line(result)
    assert state == "invalid"
    assert str(tmp_path / "etc" / "playbooks") in detail and "not found" in detail
    assert "Traceback" not in result.stderr

    (tmp_path / "etc" / "playbooks").mkdir()
    empty = run(env, "check-config", "--config", str(copied), cwd=tmp_path)
    assert empty.returncode == 0, empty.stdout
    assert playbooks_line(empty)[1] == "missing"


def test_check_config_names_a_playbook_that_failed_to_load(
    env: dict[str, str], tmp_path: Path
) -> None:
    books = tmp_path / "playbooks"
    books.mkdir()
    (books / "service-down.yaml").write_text((REPO / "playbooks" / "service-down.yaml").read_text())
    (books / "broken.yaml").write_text("name: broken\ndescription: x\nsteps:\n  - kind: k8s.podz\n")
    config = tmp_path / "platform.yaml"
    config.write_text((REPO / "bot" / "defaults" / "factsway.yaml").read_text(), encoding="utf-8")

    result = run(env, "check-config", "--config", str(config), cwd=tmp_path)

    assert result.returncode == 1, result.stdout
    _, state, detail = playbooks_line(result)
    assert state == "invalid"
    assert detail.startswith("1 loaded from ")
    assert "1 failed to load: broken.yaml:4: unknown step kind k8s.podz" in detail


async def test_readyz_of_a_bot_started_elsewhere_with_a_copied_config_says_no_playbook_loaded(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    start_bot: BotFactory,
    make_settings: Callable[..., Settings],
) -> None:
    copied = tmp_path / "platform.yaml"
    copied.write_text((REPO / "bot" / "defaults" / "factsway.yaml").read_text())
    monkeypatch.chdir(REPO)  # a playbooks/ folder in the working directory must not count
    bot = await start_bot(
        make_settings(INCIDENT_BOT_API_TOKEN="api-token-cli"), load_platform_config(copied)
    )

    # The detail names a path: only the API token's holder gets it.
    headers = {"Authorization": "Bearer api-token-cli"}
    async with await bot.request("GET", "/readyz", headers=headers) as resp:
        assert resp.status == 200
        platform = (await resp.json())["integrations"]["platform"]

    assert platform["state"] == "invalid"
    assert (
        f"playbooks_dir {tmp_path / 'playbooks'} not found: no playbook loaded"
        in (platform["detail"])
    )


# --- incidents -------------------------------------------------------------------------------


def test_incidents_declare_update_list_resolve_verify_and_detect_tampering(
    env: dict[str, str],
) -> None:
    declared = run(env, "incidents", "declare", "Records", "API", "down", "--sev", "P1")
    assert declared.returncode == 0, declared.stderr
    first, paging = declared.stdout.splitlines()
    assert first.split() == ["#1", "P1", "investigating", "Records", "API", "down"]
    assert "PagerDuty is not configured" in paging

    updated = run(env, "incidents", "update", "1", "Rolled", "back", "records-service")
    assert updated.returncode == 0, updated.stderr
    assert updated.stdout.startswith("#1 ")

    listed = run(env, "incidents", "list")
    assert listed.returncode == 0
    assert "#1 P1 investigating" in listed.stdout
    assert "Records API down" in listed.stdout

    resolved = run(env, "incidents", "resolve", "1", "fixed")
    assert resolved.returncode == 0, resolved.stderr
    assert "resolved" in resolved.stdout
    assert run(env, "incidents", "list").stdout.strip() == ""
    assert "#1 P1 resolved" in run(env, "incidents", "list", "--all").stdout

    verified = run(env, "incidents", "verify", "1")
    assert verified.returncode == 0, verified.stdout
    # declared, the paging decision (P1, no PagerDuty configured), the update, resolved
    assert "intact (4 events)" in verified.stdout

    with sqlite3.connect(env["INCIDENT_BOT_DATABASE"]) as db:
        db.execute("UPDATE timeline_events SET text = 'x' WHERE incident_id = 1 AND seq = 2")
    db.close()

    tampered = run(env, "incidents", "verify", "1")
    assert tampered.returncode == 1
    assert "event #2" in tampered.stdout
    assert "event #1" not in tampered.stdout
    assert "Traceback" not in tampered.stderr


def test_the_cli_and_the_timeline_agree_on_what_was_written(env: dict[str, str]) -> None:
    run(env, "incidents", "declare", "Export", "slow", "--sev", "2", "--service", "export")
    run(env, "incidents", "update", "1", "Scaling", "export-service", "--actor", "U42")

    with sqlite3.connect(env["INCIDENT_BOT_DATABASE"]) as db:
        rows = db.execute(
            "SELECT seq, kind, actor, text FROM timeline_events WHERE incident_id = 1 ORDER BY seq"
        ).fetchall()
        incident = db.execute("SELECT severity, services FROM incidents WHERE id = 1").fetchone()
    db.close()

    assert rows[0][:2] == (1, "declared")
    assert rows[1][:2] == (2, "page") and "P2 does not page" in rows[1][3]
    assert rows[2] == (3, "status_update", "U42", "Scaling export-service")
    assert incident[0] == "P2"
    assert json.loads(incident[1]) == ["export"]


@pytest.mark.parametrize(
    "args",
    [
        ("incidents", "update", "99", "x"),
        ("incidents", "resolve", "99", "x"),
        ("incidents", "verify", "99"),
        ("incidents", "show", "99"),
        ("incidents", "close", "#99"),
        ("postmortem", "99"),
    ],
)
def test_a_command_on_an_unknown_incident_exits_1_saying_so(
    env: dict[str, str], args: tuple[str, ...]
) -> None:
    assert assert_clean_failure(run(env, *args), 1) == "incident-bot: no incident #99"


def test_an_id_too_big_for_any_incident_is_no_incident_not_a_traceback(
    env: dict[str, str],
) -> None:
    line = assert_clean_failure(run(env, "incidents", "update", "99999999999999999999999", "x"), 1)

    assert line == "incident-bot: no incident #99999999999999999999999"


def test_a_severity_that_is_none_shows_the_declare_usage_and_exits_2(env: dict[str, str]) -> None:
    reason = assert_usage_error(
        run(env, "incidents", "declare", "Title", "--sev", "P7"), "incidents declare"
    )

    assert "--sev" in reason and "P0, P1, P2 or P3" in reason and "'P7'" in reason


async def test_an_update_from_the_cli_reaches_the_status_page_only_with_public(
    env: dict[str, str], start_bot: BotFactory, make_settings: Callable[..., Settings]
) -> None:
    run(env, "incidents", "declare", "Pool", "exhaustion", "on", "export", "--service", "export")
    internal = run(env, "incidents", "update", "1", "Root", "cause:", "bad", "deploy")
    refused = run(env, "incidents", "update", "1", "Exports", "are", "slow", "--public")
    published = run(
        env,
        *("incidents", "update", "1", "Exports", "are", "slow", "--public"),
        *("--public-title", "Exports are delayed", "--impact", "partial_outage"),
    )

    assert internal.returncode == 0 and published.returncode == 0, published.stderr
    assert "public title" in assert_clean_failure(refused, 1)
    settings = make_settings(INCIDENT_BOT_DATABASE=env["INCIDENT_BOT_DATABASE"])
    bot = await start_bot(settings)
    async with await bot.request("GET", "/api/v2/summary.json") as resp:
        summary = await resp.text()
    assert "Exports are delayed" in summary and "Exports are slow" in summary
    assert "Root cause" not in summary and "Pool exhaustion" not in summary
    assert '"id":"export","name":"Export (DOCX/PDF)","status":"partial_outage"' in summary


def test_resolving_an_already_resolved_incident_exits_1_saying_so(env: dict[str, str]) -> None:
    run(env, "incidents", "declare", "Caselaw", "down")
    run(env, "incidents", "resolve", "1", "fixed")

    line = assert_clean_failure(run(env, "incidents", "resolve", "1", "again"), 1)

    assert "already resolved" in line


# --- serve: the `make run` path --------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str) -> tuple[int, bytes]:
    try:
        with DIRECT.open(url, timeout=2) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_with_no_credentials_becomes_ready_and_stops_cleanly_on_sigterm(
    env: dict[str, str], tmp_path: Path
) -> None:
    del env["INCIDENT_BOT_DATABASE"]  # the default, ./data/incident-bot.db, as `make run` uses
    workdir = tmp_path / "fresh-clone"
    workdir.mkdir()
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready: tuple[int, bytes] | None = None
        while time.monotonic() - started < 15:
            if proc.poll() is not None:
                break
            try:
                ready = get(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                ready = None
            if ready is not None and ready[0] == 200:
                break
            time.sleep(0.05)
        took = time.monotonic() - started
        print(f"incident-bot serve answered /readyz 200 after {took:.2f}s")
        assert proc.poll() is None, f"serve exited early: {proc.communicate(timeout=5)}"
        assert ready is not None, "serve never answered /readyz within 15 s"
        assert ready[0] == 200, ready
        body = json.loads(ready[1])
        assert body["status"] == "ready"
        assert body["integrations"]["slack"]["state"] == "missing"
        assert body["integrations"]["store"]["state"] == "ok"
        # Started outside the checkout, the bundled config still has its seven playbooks.
        assert body["integrations"]["platform"]["state"] == "ok", body["integrations"]
        assert (workdir / "data" / "incident-bot.db").is_file()
        assert get(f"http://127.0.0.1:{port}/")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=5)
            pytest.fail("serve did not stop within 15 s of SIGTERM")

    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    for line in stderr.splitlines():
        json.loads(line)  # every log line is a JSON object


def test_serve_on_a_port_already_in_use_exits_2_naming_the_port_without_a_traceback(
    env: dict[str, str],
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        line = assert_clean_failure(run(env, "serve", "--port", str(port)))

    assert f"127.0.0.1:{port}" in line
    assert "in use" in line


def test_serve_with_an_unusable_database_path_exits_2_naming_it_without_a_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("", encoding="utf-8")
    database = str(not_a_dir / "bot.db")

    line = assert_clean_failure(
        run({**env, "INCIDENT_BOT_DATABASE": database}, "serve", "--port", str(free_port()))
    )

    assert database in line


# --- malformed URLs in the environment ---------------------------------------------------------

MALFORMED_DSN = "postgresql://bot:hunter2-secret@[2001:db8::1/platform"


@pytest.mark.parametrize(
    "args",
    [
        ("serve", "--port", "0"),
        ("check-config",),
        ("playbooks", "run", "service-down", "--service", "records"),
    ],
    ids=["serve", "check-config", "playbooks-run"],
)
def test_a_malformed_platform_database_url_is_one_line_naming_it_never_the_password(
    env: dict[str, str], args: tuple[str, ...]
) -> None:
    result = run({**env, "PLATFORM_DATABASE_URL": MALFORMED_DSN}, *args)

    line = assert_clean_failure(result)
    assert "PLATFORM_DATABASE_URL" in line
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("variable", "extra"),
    [
        ("ALERTMANAGER_URL", {}),
        ("PROMETHEUS_URL", {}),
        ("SLACK_API_URL", {}),
        ("SENTRY_DSN", {}),
        ("SENTRY_API_URL", {}),
        ("PAGERDUTY_API_URL", {"PAGERDUTY_API_TOKEN": "pd-token"}),
        ("PAGERDUTY_EVENTS_URL", {"PAGERDUTY_ROUTING_KEY": "pd-key"}),
        ("AWS_ENDPOINT_URL", {"UPDATES_BUCKET": "b", "UPDATES_DISTRIBUTION_ID": "d"}),
        ("INCIDENT_BOT_DATABASE", {}),
    ],
)
@pytest.mark.parametrize("url", ["https://user:hunter2-secret@[::1/x", "http://h:hunter2/x"])
def test_every_url_setting_that_does_not_parse_is_one_line_naming_it(
    env: dict[str, str], variable: str, extra: dict[str, str], url: str
) -> None:
    if variable == "INCIDENT_BOT_DATABASE":
        url = "postgresql" + url.removeprefix("https").removeprefix("http")
    result = run({**env, **extra, variable: url}, "check-config")

    line = assert_clean_failure(result)
    assert variable in line
    assert "hunter2" not in result.stderr + result.stdout


# --- store copy --------------------------------------------------------------------------


def test_store_copy_moves_a_sqlite_history_to_postgresql_where_it_verifies_and_continues(
    env: dict[str, str], postgres: ThrowawayPostgres
) -> None:
    assert run(env, "incidents", "declare", "Records", "down", "--sev", "P1").returncode == 0
    assert run(env, "incidents", "update", "1", "Rolled", "back").returncode == 0
    assert run(env, "incidents", "resolve", "1", "fixed").returncode == 0
    assert run(env, "incidents", "declare", "Export", "slow").returncode == 0
    target = f"bot_copy_{os.getpid()}"
    postgres.psql(f'CREATE DATABASE "{target}"')
    dsn = postgres.dsn.rsplit("/", 1)[0] + f"/{target}"

    copied = run(env, "store", "copy", "--from", env["INCIDENT_BOT_DATABASE"], "--to", dsn)
    assert copied.returncode == 0, copied.stderr
    assert "timeline_events" in copied.stdout and "copied" in copied.stdout

    on_pg = {**env, "INCIDENT_BOT_DATABASE": dsn}
    listed = run(on_pg, "incidents", "list", "--all").stdout
    assert "#1 P1 resolved" in listed and "#2 P2 investigating" in listed
    verified = run(on_pg, "incidents", "verify", "1")
    assert verified.returncode == 0 and "intact (4 events)" in verified.stdout, verified.stdout
    # New incidents continue after the copied ones, on the copied chain's store.
    assert run(on_pg, "incidents", "declare", "New", "one").stdout.startswith("#3 ")
    assert run(on_pg, "incidents", "verify", "3").returncode == 0

    again = run(env, "store", "copy", "--from", env["INCIDENT_BOT_DATABASE"], "--to", dsn)
    assert "already holds data" in assert_clean_failure(again)
    assert "intact" in run(on_pg, "incidents", "verify", "1").stdout  # the refusal changed nothing


def test_store_copy_from_a_missing_file_or_to_a_non_postgresql_url_exits_2(
    env: dict[str, str], tmp_path: Path
) -> None:
    missing = run(
        env,
        "store",
        "copy",
        "--from",
        str(tmp_path / "nope.db"),
        "--to",
        "postgresql://x@127.0.0.1:1/x",
    )
    assert "no SQLite store" in assert_clean_failure(missing)
    wrong = run(env, "store", "copy", "--from", str(tmp_path / "nope.db"), "--to", "mysql://x")
    assert "postgresql://" in assert_usage_error(wrong, "store copy")
