"""What every bench shares: servers as subprocesses on loopback, their CPU and memory from
/proc, percentiles, tables and the JSON each bench leaves for `run_all.py`.

Nothing here talks to anything but 127.0.0.1, and every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # for `tests.*` (the fakes) when run as `python bench/x.py`
    sys.path.insert(0, str(REPO))

CLK_TCK = os.sysconf("SC_CLK_TCK")
LOOPBACK = "127.0.0.1"
# The developer's own environment must not leak into the bot under test.
ENV_PREFIXES = ("INCIDENT_BOT_", "SLACK_", "ALERTMANAGER_", "PAGERDUTY_", "SENTRY_", "AWS_")
ENV_NAMES = {
    "KUBECONFIG",
    "KUBERNETES_SERVICE_HOST",
    "PROMETHEUS_URL",
    "PLATFORM_DATABASE_URL",
    "UPDATES_BUCKET",
    "UPDATES_DISTRIBUTION_ID",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
}
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench"
APP_TOKEN = "xapp-bench"
API_TOKEN = "bench-api-token"


# -- numbers --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def write_json(path: str | None, data: Mapping[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far, from /proc/<pid>/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is state (field 3); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu_seconds() -> float:
    """This process's CPU (every thread): the load generator and the fakes it serves."""
    return time.process_time()


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) from /proc/<pid>/status, in KiB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES) and k not in ENV_NAMES
    }
    env.update(extra or {})
    return env


def incident_bot_command() -> list[str]:
    """The console script next to this interpreter (the project's venv), as `make run` uses."""
    script = Path(sys.executable).parent / "incident-bot"
    if script.is_file():
        return [str(script)]
    found = shutil.which("incident-bot")
    if found:
        return [found]
    return [sys.executable, "-m", "bot"]


@dataclass
class Server:
    """A server subprocess on a free loopback port, ready when `ready_path` answers 200."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    ready_path: str = "/readyz"
    cwd: Path = REPO
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready_seconds: float = 0.0
    _log: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def spawn(self) -> subprocess.Popen[bytes]:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self.proc

    async def start(self, timeout: float = 30.0) -> Server:
        """Spawns the process (no await in between, so the clock starts at the spawn) and
        polls `ready_path` every 10 ms."""
        self.spawn()
        assert self.proc is not None
        deadline = self.started_at + timeout
        timeout_cfg = aiohttp.ClientTimeout(total=1)
        async with aiohttp.ClientSession(timeout=timeout_cfg) as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                    async with session.get(self.url + self.ready_path) as resp:
                        if resp.status == 200:
                            self.ready_seconds = time.monotonic() - self.started_at
                            return self
                await asyncio.sleep(0.01)
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


def bot_server(
    workdir: Path, *, env: Mapping[str, str] | None = None, name: str = "incident-bot"
) -> Server:
    """`incident-bot serve` on a free port with its own SQLite file in `workdir`."""
    port = free_port()
    base = {"INCIDENT_BOT_DATABASE": str(workdir / f"{name}.db")}
    return Server(
        name=name,
        argv=[*incident_bot_command(), "serve", "--host", LOOPBACK, "--port", str(port)],
        env=clean_env({**base, **(env or {})}),
        port=port,
        log_path=workdir / f"{name}.log",
    )


def bare_server(workdir: Path, pages: Mapping[str, Path] | None = None) -> Server:
    """The bare aiohttp yardstick; `pages` maps a GET route to a file it answers with."""
    port = free_port()
    served = [f"{route}={file}" for route, file in (pages or {}).items()]
    return Server(
        name="bare-aiohttp",
        argv=[sys.executable, str(Path(__file__).with_name("_bare_server.py")), str(port), *served],
        env=clean_env(),
        port=port,
        log_path=workdir / "bare.log",
    )


def slack_env(fake_url: str, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_url,
        "SLACK_ALERTS_CHANNEL": "C_ALERTS",
        "SLACK_INCIDENTS_CHANNEL": "C_INCIDENTS",
        **extra,
    }


def workdir(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"incident-bot-bench-{prefix}-")


# -- SQLite commits ---------------------------------------------------------------------------


class SyncCounter:
    """Counts fdatasync/fsync calls of a process with `perf stat` on the syscall tracepoints
    (no ptrace, so no slowdown). With WAL and synchronous=FULL every commit syncs the WAL once;
    checkpoints add about 1%. None when perf or its tracepoints are not available."""

    def __init__(self, pid: int, out: Path) -> None:
        self._pid = pid
        self._out = out
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        perf = shutil.which("perf")
        if perf is None:
            return False
        events = "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync"
        self._proc = subprocess.Popen(
            [perf, "stat", "-x,", "-e", events, "-p", str(self._pid), "-o", str(self._out)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)  # attached before the load starts
        if self._proc.poll() is not None:
            self._proc = None
            return False
        return True

    def stop(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            return None
        total = 0
        seen = False
        with contextlib.suppress(OSError):
            for line in self._out.read_text().splitlines():
                parts = line.split(",")
                if len(parts) > 2 and parts[2].startswith("syscalls:") and parts[0].isdigit():
                    total += int(parts[0])
                    seen = True
        return total if seen else None
