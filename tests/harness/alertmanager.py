"""A real Prometheus Alertmanager for integration tests.

``LocalAlertmanager`` writes an ``alertmanager.yml`` whose only receiver is a webhook
(the bot's alert endpoint, or a recorder in tests), validates it with
``amtool check-config``, and runs the real ``alertmanager`` binary on a free
loopback port with clustering disabled and storage in a temp dir. Alerts are
injected through the v2 API exactly as Prometheus would send them.

Binaries come from ``scripts/test-tools.sh`` (``.cache/test-tools/bin``); pass
``bin_dir`` or put ``alertmanager``/``amtool`` on PATH otherwise. That script
rewrites Debian's hard-coded template directory inside the binary to the relative
``share/alertmanager``, so the process is started with the tools directory (the
parent of ``bin``) as its working directory whenever that directory holds the
templates.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import yaml

from tests.harness.ports import free_tcp_port, tail

__all__ = ["AlertmanagerError", "LocalAlertmanager"]

RECEIVER_NAME = "incident-bot"
# Loopback traffic must never go through an HTTP(S)_PROXY set in a CI environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AlertmanagerError(RuntimeError):
    """Alertmanager could not be configured, started or talked to."""


def _assets_cwd(alertmanager: Path) -> Path | None:
    # The bin dir may hold a symlink to a relocated binary in another tools dir.
    for root in (alertmanager.parent.parent, alertmanager.resolve().parent.parent):
        if (root / "share" / "alertmanager" / "default.tmpl").is_file():
            return root
    return None


def _find_binary(name: str, bin_dir: Path | None, *aliases: str) -> Path:
    if bin_dir is not None and (bin_dir / name).is_file():
        # Absolute because the process runs with its temp dir as cwd.
        return (bin_dir / name).absolute()
    for candidate in (name, *aliases):
        if found := shutil.which(candidate):
            return Path(found).absolute()
    where = f"{bin_dir} or PATH" if bin_dir else "PATH"
    raise AlertmanagerError(f"{name} not found in {where}; run scripts/test-tools.sh to fetch it")


class LocalAlertmanager:
    """One Alertmanager process delivering every alert to a webhook URL (and to each of
    `also_to`, as one receiver with several webhooks delivers to replicas behind no balancer)."""

    def __init__(
        self,
        webhook_url: str,
        *,
        bearer_token: str | None = None,
        group_wait: str = "0s",
        group_interval: str = "1s",
        repeat_interval: str = "1h",
        group_by: Sequence[str] = ("alertname",),
        max_alerts: int = 0,
        bin_dir: Path | None = None,
        base_dir: Path | None = None,
        timeout: float = 30.0,
        also_to: Sequence[str] = (),
    ) -> None:
        self.webhook_url = webhook_url
        self.also_to = list(also_to)
        self.bearer_token = bearer_token
        self.group_wait = group_wait
        self.group_interval = group_interval
        self.repeat_interval = repeat_interval
        self.group_by = list(group_by)
        self.max_alerts = max_alerts  # 0: every alert of the group in each notification
        self._bin_dir = bin_dir
        self._base_dir = base_dir
        self._timeout = timeout
        self._tmpdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self.startup_seconds: float | None = None

    # -- properties ---------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._proc is not None and self._port is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise AlertmanagerError("LocalAlertmanager is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def workdir(self) -> Path:
        if self._tmpdir is None:
            raise AlertmanagerError("LocalAlertmanager is not started")
        return self._tmpdir

    @property
    def config_path(self) -> Path:
        return self.workdir / "alertmanager.yml"

    @property
    def log_file(self) -> Path:
        return self.workdir / "alertmanager.log"

    # -- config ---------------------------------------------------------------------

    def build_config(self, token_file: Path | None) -> dict[str, Any]:
        webhooks: list[dict[str, Any]] = []
        for url in [self.webhook_url, *self.also_to]:
            webhook: dict[str, Any] = {
                "url": url,
                "send_resolved": True,
                "max_alerts": self.max_alerts,
            }
            if token_file is not None:
                webhook["http_config"] = {
                    "authorization": {"type": "Bearer", "credentials_file": str(token_file)}
                }
            webhooks.append(webhook)
        return {
            "route": {
                "receiver": RECEIVER_NAME,
                "group_by": self.group_by,
                "group_wait": self.group_wait,
                "group_interval": self.group_interval,
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [{"name": RECEIVER_NAME, "webhook_configs": webhooks}],
        }

    def _write_config(self) -> None:
        token_file: Path | None = None
        if self.bearer_token is not None:
            token_file = self.workdir / "webhook-token"
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(self.bearer_token)
        self.config_path.write_text(yaml.safe_dump(self.build_config(token_file), sort_keys=False))

    def _check_config(self, amtool: Path) -> None:
        try:
            result = subprocess.run(
                [str(amtool), "check-config", str(self.config_path)],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AlertmanagerError("amtool check-config timed out") from exc
        if result.returncode != 0:
            raise AlertmanagerError(
                f"amtool check-config rejected {self.config_path}:\n"
                f"{result.stdout}{result.stderr}\n--- config ---\n{self.config_path.read_text()}"
            )

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> LocalAlertmanager:
        if self.started:
            return self
        began = time.monotonic()
        alertmanager = _find_binary("alertmanager", self._bin_dir, "prometheus-alertmanager")
        amtool = _find_binary("amtool", self._bin_dir)
        self._tmpdir = Path(tempfile.mkdtemp(prefix="incident-bot-am-", dir=self._base_dir))
        atexit.register(self.stop)
        try:
            self._write_config()
            self._check_config(amtool)
            self._launch(alertmanager)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _launch(self, alertmanager: Path) -> None:
        # The probed port can be taken before alertmanager binds it; retry on another.
        for _attempt in range(3):
            port = free_tcp_port()
            argv = [
                str(alertmanager),
                f"--config.file={self.config_path}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url=http://127.0.0.1:{port}",
                # Empty disables the gossip mesh: a lone test instance has no peers
                # and would otherwise also bind 0.0.0.0:9094.
                "--cluster.listen-address=",
                "--log.level=debug",
            ]
            with open(self.log_file, "ab") as log:
                self._proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=_assets_cwd(alertmanager) or self.workdir,
                    start_new_session=True,
                )
            self._port = port
            if self._wait_ready():
                return
            exit_code = self._proc.poll()
            self._terminate()
            self._port = None
            if "address already in use" not in tail(self.log_file):
                break
        why = (
            f"exited with status {exit_code}"
            if exit_code is not None
            else f"was not ready within {self._timeout}s"
        )
        raise AlertmanagerError(f"{alertmanager} {why}; log tail:\n{tail(self.log_file)}")

    def logtail(self, lines: int = 50) -> str:
        """Last lines of the Alertmanager log, for assertion messages (debug level)."""
        return tail(self.log_file, lines)

    def _wait_ready(self) -> bool:
        assert self._proc is not None
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                with _DIRECT.open(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        return False

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        self._terminate()
        self._port = None
        tmpdir, self._tmpdir = self._tmpdir, None
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def __enter__(self) -> LocalAlertmanager:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self.started else "stopped"
        return f"<LocalAlertmanager {state} -> {self.webhook_url}>"

    # -- API v2 (async) -------------------------------------------------------------

    async def _request(self, method: str, path: str, payload: Any = None) -> Any:
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.request(method, f"{self.url}{path}", json=payload) as resp,
        ):
            body = await resp.text()
            if resp.status >= 300:
                raise AlertmanagerError(f"{method} {path} -> HTTP {resp.status}: {body}")
            return json.loads(body) if body.strip() else None

    async def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """POST alerts (``labels``, ``annotations``, ``startsAt``/``endsAt``…) to /api/v2/alerts."""
        await self._request("POST", "/api/v2/alerts", alerts)

    async def alerts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._request("GET", "/api/v2/alerts")
        return result

    async def silences(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._request("GET", "/api/v2/silences")
        return result

    # -- API v2 (sync, for non-async callers) -------------------------------------

    def _request_sync(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with _DIRECT.open(req, timeout=10) as resp:
                body = resp.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise AlertmanagerError(f"{method} {path} -> HTTP {exc.code}: {detail}") from exc
        return json.loads(body) if body.strip() else None

    def post_alerts_sync(self, alerts: list[dict[str, Any]]) -> None:
        self._request_sync("POST", "/api/v2/alerts", alerts)

    def alerts_sync(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request_sync("GET", "/api/v2/alerts")
        return result

    def silences_sync(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request_sync("GET", "/api/v2/silences")
        return result
