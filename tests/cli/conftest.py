"""The `incident-bot` command run through its real entry point, `main(argv)`, on a real SQLite
store in the test's directory; the Slack world's fixtures for the tests that compare the two."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.domain.timeline import NewEvent
from bot.store.factory import open_store
from tests.slack.conftest import fake_pagerduty, incident_world

__all__ = ["fake_pagerduty", "incident_world"]


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    @property
    def reason(self) -> str:
        """The last line on stderr: what was wrong."""
        return self.err.strip().splitlines()[-1]


Cli = Callable[..., Ran]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("INCIDENT_BOT_DATABASE", str(path))
    monkeypatch.setenv("USER", "dana")  # who runs the command, unless --actor says
    return path


@pytest.fixture
def cli(database: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*args: str) -> Ran:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --version, --help, argument errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return Ran(code, out, err)

    return run


def timeline(database: Path, incident_id: int = 1) -> list[tuple[Any, ...]]:
    """(kind, actor, text, data) of each event, read from the file as the store wrote it."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT kind, actor, text, data FROM timeline_events WHERE incident_id = ?"
            " ORDER BY seq",
            (incident_id,),
        ).fetchall()
    db.close()
    return rows


def incident_row(database: Path, incident_id: int = 1) -> dict[str, Any]:
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    db.close()
    return dict(row)


def append(database: Path, incident_id: int, event: NewEvent) -> None:
    """An event as the server would add it (a Slack message captured in the channel, say)."""

    async def write() -> None:
        store = open_store(str(database))
        await store.open()
        try:
            await store.append_event(incident_id, event)
        finally:
            await store.close()

    asyncio.run(write())


@pytest.fixture
def declared(cli: Cli) -> Iterator[Ran]:
    """Incident #1, P2, declared by dana."""
    ran = cli("incidents", "declare", "Records", "API", "down", "--service", "records")
    assert ran.code == 0, ran.err
    yield ran
