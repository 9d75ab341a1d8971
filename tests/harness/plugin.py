"""pytest plugin exposing the real test services as fixtures.

Enable with ``pytest_plugins = ["tests.harness.plugin"]`` in ``tests/conftest.py``
(or ``-p tests.harness.plugin``).

Fixtures:

* ``test_tools_bin`` (session) - ``Path`` of the directory holding ``promtool``,
  ``amtool`` and ``alertmanager``, prepared by ``scripts/test-tools.sh``.
* ``postgres`` (session) - a started :class:`ThrowawayPostgres` with
  ``pg_stat_statements``; use ``postgres.dsn``.
* ``alertmanager_factory`` (function) - call it with a webhook URL to get a started
  :class:`LocalAlertmanager`; every instance is stopped at teardown.

A service that cannot be started fails the requesting test with the reason; it is
never skipped, because a silently skipped integration test hides a broken CI image.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from tests.harness.alertmanager import AlertmanagerError, LocalAlertmanager
from tests.harness.postgres import PostgresError, ThrowawayPostgres

__all__ = ["AlertmanagerFactory", "alertmanager_factory", "postgres", "test_tools_bin"]

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_TOOLS_SCRIPT = REPO_ROOT / "scripts" / "test-tools.sh"
_TOOLS = ("promtool", "amtool", "alertmanager")
# A cold run downloads ~30 MB of .debs and may need `apt-get update` first.
_TEST_TOOLS_TIMEOUT = 600


class AlertmanagerFactory(Protocol):
    def __call__(
        self,
        webhook_url: str,
        *,
        bearer_token: str | None = None,
        group_wait: str = "0s",
        group_interval: str = "1s",
        repeat_interval: str = "1h",
    ) -> LocalAlertmanager: ...


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the store the bots that tests start run on (postgresql: a fresh database on"
        " the throwaway server for each test)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sqlite_only: reads or damages the SQLite file itself; not in a --store postgresql run",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With --store postgresql, tests that inspect the SQLite file are deselected (reported as
    such), not skipped: they run, and must pass, in the SQLite run."""
    if config.getoption("--store") != "postgresql":
        return
    kept = [item for item in items if item.get_closest_marker("sqlite_only") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def _has_tools(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / tool, os.X_OK) for tool in _TOOLS)


@pytest.fixture(scope="session")
def test_tools_bin() -> Path:
    """Directory with promtool, amtool and alertmanager (``$TEST_TOOLS_BIN`` wins)."""
    if override := os.environ.get("TEST_TOOLS_BIN"):
        bin_dir = Path(override)
        if not _has_tools(bin_dir):
            pytest.fail(f"TEST_TOOLS_BIN={override} does not contain {', '.join(_TOOLS)}")
        return bin_dir
    try:
        # The script is idempotent and returns in ~50 ms once the cache is warm.
        result = subprocess.run(
            ["bash", str(TEST_TOOLS_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=_TEST_TOOLS_TIMEOUT,
            check=False,
            cwd=REPO_ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{TEST_TOOLS_SCRIPT} did not finish within {_TEST_TOOLS_TIMEOUT}s")
    if result.returncode != 0:
        pytest.fail(
            f"{TEST_TOOLS_SCRIPT} failed (exit {result.returncode}); the Prometheus test "
            f"tools are required:\n{result.stderr.strip()}"
        )
    lines = result.stdout.strip().splitlines()
    bin_dir = Path(lines[-1]) if lines else Path()
    if not lines or not _has_tools(bin_dir):
        pytest.fail(f"{TEST_TOOLS_SCRIPT} printed {result.stdout!r}, not a usable bin dir")
    return bin_dir


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    """A private PostgreSQL server shared by the whole session."""
    server = ThrowawayPostgres()
    try:
        server.start()
    except (PostgresError, OSError) as exc:
        pytest.fail(f"could not start throwaway PostgreSQL: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def alertmanager_factory(test_tools_bin: Path) -> Iterator[AlertmanagerFactory]:
    """Start real Alertmanagers delivering to a given webhook; all stopped at teardown."""
    started: list[LocalAlertmanager] = []

    def factory(
        webhook_url: str,
        *,
        bearer_token: str | None = None,
        group_wait: str = "0s",
        group_interval: str = "1s",
        repeat_interval: str = "1h",
    ) -> LocalAlertmanager:
        am = LocalAlertmanager(
            webhook_url,
            bearer_token=bearer_token,
            group_wait=group_wait,
            group_interval=group_interval,
            repeat_interval=repeat_interval,
            bin_dir=test_tools_bin,
        )
        try:
            am.start()
        except (AlertmanagerError, OSError) as exc:
            pytest.fail(f"could not start Alertmanager: {exc}")
        started.append(am)
        return am

    try:
        yield factory
    finally:
        for am in reversed(started):
            am.stop()
