"""docs/openapi.yaml is the HTTP contract: it validates, it names every route the app serves,
and schemathesis fuzzes a running bot against it (no 5xx but 503, every status code and body
as documented)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.app import create_app
from bot.config import Settings, load_platform_config

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
TOKEN = "openapi-fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOT_FUZZED = {("POST", "/slack/events")}  # a generated request can never be signed
EXAMPLES_PER_OPERATION = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_path(SPEC)
fuzzed = schema.exclude(path="/slack/events")


def test_the_document_is_valid_openapi_3_0() -> None:
    raw = yaml.safe_load(SPEC.read_text())
    assert raw["openapi"].startswith("3.0.")
    schema.validate()  # schemathesis's own OpenAPI 3.0 meta-schema


def test_the_document_passes_openapi_spec_validator() -> None:
    import openapi_spec_validator as validator

    validator.validate(yaml.safe_load(SPEC.read_text()))


def test_the_document_names_every_route_the_app_serves(tmp_path: Path) -> None:
    settings_ = Settings(INCIDENT_BOT_DATABASE=str(tmp_path / "bot.db"))
    app = create_app(settings_, load_platform_config(None))
    served = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue  # aiohttp's automatic HEAD for each GET
        served.add((route.method, route.resource.canonical if route.resource else ""))
    documented = {
        (method.upper(), path)
        for path, item in yaml.safe_load(SPEC.read_text())["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert documented == served


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _request(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=AUTH)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _seed(url: str) -> None:
    """Something for the fuzzer to find: an incident with a timeline, stored alerts, and a
    PagerDuty incident, so ids 1… name real things."""
    incident = _request("POST", f"{url}/api/incidents", {"title": "Records down", "severity": "P1"})
    _request("POST", f"{url}/api/incidents/{incident['id']}/updates", {"text": "Looking"})
    _request("POST", f"{url}/api/incidents", {"title": "Exports slow", "severity": "P3"})
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "records"},
        "annotations": {"summary": "5xx over 5%"},
        "startsAt": "2026-03-01T02:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": "a1",
    }
    _request(
        "POST",
        f"{url}/webhooks/alertmanager",
        {
            "version": "4",
            "groupKey": '{}:{alertname="HighErrorRate"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incident-bot",
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager.example",
            "alerts": [alert],
        },
    )


@pytest.fixture(scope="module")
def bot_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`incident-bot serve` as `make run` starts it, offline, with the API token set and no
    webhook secrets (so generated webhook bodies reach the parsers and the store)."""
    home = tmp_path_factory.mktemp("openapi-bot")
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "INCIDENT_BOT_API_TOKEN": TOKEN,
        "INCIDENT_BOT_DATABASE": str(home / "bot.db"),
    }
    script = Path(sys.executable).with_name("incident-bot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    log = (home / "bot.log").open("wb")
    process = subprocess.Popen(
        [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"the bot did not start:\n{(home / 'bot.log').read_text()}")
                time.sleep(0.1)
        _seed(url)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    # A 500 is answered as JSON, so the response check names it; the log has the traceback.
    text = (home / "bot.log").read_text(errors="replace")
    assert "unhandled error" not in text, text[-5000:]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/incidents", {"title": "x", "services": ["records\nexport"]}),
        ("/api/incidents", {"title": "x", "note\nline": 1}),
        ("/api/incidents/1/updates", {"text": "x", "by\r\nwho": "y"}),
        ("/webhooks/alertmanager", {"version": "4", "groupLabels": {"a\nb": 1}}),
    ],
    ids=["unknown-service", "extra-key", "extra-key-crlf", "label-name"],
)
def test_a_refusal_quoting_the_request_is_still_one_line(
    bot_url: str, path: str, body: dict[str, Any]
) -> None:
    # Found by the fuzzer: an error message that quotes a name from the body with a newline.
    request = urllib.request.Request(
        bot_url + path, data=json.dumps(body).encode(), method="POST", headers=AUTH
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    error = json.loads(refused.value.read())["error"]
    assert error.strip() and "\n" not in error and "\r" not in error


@pytest.mark.parametrize("token", ["\xff", "é", "\xc3\xa9x"])
def test_a_bearer_token_of_undecodable_bytes_is_refused_with_401(bot_url: str, token: str) -> None:
    # urllib sends each character as one Latin-1 byte: not UTF-8, as aiohttp decodes it.
    request = urllib.request.Request(
        f"{bot_url}/api/incidents", headers={"Authorization": f"Bearer {token}"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["error"]


@fuzzed.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_running_bot_answers_as_documented(case: schemathesis.Case[Any], bot_url: str) -> None:
    assert (case.method, case.path) not in NOT_FUZZED
    case.call_and_validate(base_url=bot_url, headers=AUTH, checks=CHECKS, timeout=30)
