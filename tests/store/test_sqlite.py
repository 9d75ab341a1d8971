"""The SQLite store: migrations, group commit, idempotent deliveries, the timeline chain."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.incident import NewIncident, Severity
from bot.domain.timeline import EventKind, NewEvent, verify_chain
from bot.store.migrations import MIGRATIONS
from bot.store.sqlite import SqliteStore

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


async def test_reopening_applies_no_migration_twice_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = SqliteStore(path)
    await store.open()
    await store.create_incident(NewIncident("Records down", Severity.P0, "U1", NOW))
    await store.close()

    store = SqliteStore(path)
    await store.open()
    assert [i.title for i in await store.list_incidents()] == ["Records down"]
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_concurrent_writes_share_transactions(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bot.db")
    await store.open()
    results = await asyncio.gather(
        *(
            store.record_delivery("alertmanager", f"d-{i}", {"groupKey": "g", "alerts": []}, NOW)
            for i in range(200)
        )
    )
    assert all(results)
    # 200 writes, far fewer commits: each commit carried many callers' writes.
    assert store.write_batches < 50
    await store.close()


async def test_one_failing_write_does_not_undo_its_batch_neighbours(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bot.db")
    await store.open()
    good = [store.record_delivery("pagerduty", f"e{i}", {}, NOW) for i in range(5)]
    bad = store.update_incident(999, title="nope")  # no such row: sqlite-utils raises NotFound
    outcomes = await asyncio.gather(*good, bad, return_exceptions=True)
    assert outcomes[:5] == [True] * 5
    assert isinstance(outcomes[5], Exception)
    await store.close()


async def test_editing_a_stored_event_breaks_the_chain_at_that_event(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = SqliteStore(path)
    await store.open()
    incident = await store.create_incident(NewIncident("Export OOM", Severity.P1, "U1", NOW))
    for text in ("restarted export", "memory back to normal"):
        await store.append_event(
            incident.id, NewEvent(EventKind.STATUS_UPDATE, "U1", text, NOW, public=True)
        )
    assert verify_chain(await store.timeline(incident.id)) == []
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE timeline_events SET text = 'nothing happened' WHERE seq = 2")
    problems = verify_chain(await store.timeline(incident.id))
    assert [p.seq for p in problems] == [2]
    await store.close()
