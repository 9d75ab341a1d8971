"""A group's thread is kept up to date from what changed, whatever the size of the group."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.domain.alerts import LISTED_ALERTS, summarize, summarize_group
from bot.store.base import Store
from bot.store.migrations import MIGRATIONS, _v12_group_summaries
from bot.store.records import AlertGroupState
from bot.store.sqlite import SqliteStore
from tests.fakes.alertmanager_payloads import alert, notification

NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


async def _deliver(store: Store, delivery: str, body: dict[str, Any]) -> None:
    assert await store.record_delivery("alertmanager", delivery, body, NOW)


async def _synced(store: Store) -> AlertGroupState:
    """Syncs the one dirty group as the thread worker does, and returns what it read."""
    [group] = await store.dirty_alert_groups()
    changed = group.changed if group.changed is not None else group.alerts
    assert await store.complete_alert_sync(
        group.group_key,
        group.version,
        items=[],
        posted_state={a.fingerprint: a.status for a in changed},
        posted_view="shown",
        channel=None,
        digest_key=None,
    )
    return group


async def test_a_change_to_a_large_group_reads_what_changed_not_the_group(
    store: Store,
) -> None:
    await _deliver(store, "fill", notification("big", [alert(f"a{i}") for i in range(2000)]))
    await _synced(store)

    await _deliver(store, "one", notification("big", [alert("a5", status="resolved")]))
    group = await _synced(store)

    assert [a.fingerprint for a in group.changed or ()] == ["a5"]
    assert group.posted_state == {"a5": "firing"}  # what the thread showed of it
    assert len(group.alerts) <= LISTED_ALERTS
    assert group.summary is not None
    assert (group.summary.firing, group.summary.resolved) == (1999, 1)
    assert await store.dirty_alert_groups() == []


async def test_the_summary_shows_what_every_alert_would(store: Store) -> None:
    first = [
        alert("w1", severity="warning", service="records-service"),
        alert("c1", severity="critical", service="export-service", alertname="Down"),
        alert("i1", severity="info", namespace="staging", starts_at="2026-03-01T01:00:00Z"),
    ]
    await _deliver(store, "d1", notification("mixed", first))
    down = {"severity": "critical", "service": "export-service", "alertname": "Down"}
    await _deliver(store, "d2", notification("mixed", [alert("c1", status="resolved", **down)]))
    # A late retry of the first notification: c1 stays resolved.
    await _deliver(store, "d3", notification("mixed", [alert("c1", **down)]))
    await _deliver(store, "d4", notification("mixed", [alert("w2", severity="warning")]))
    [dirty] = await store.dirty_alert_groups()
    whole = await store.alert_group(dirty.group_id)
    assert whole is not None and dirty.summary is not None
    known = {"records-service": "records", "export-service": "export"}
    common: dict[str, Any] = {
        "common_labels": whole.common_labels,
        "common_annotations": whole.common_annotations,
        "external_url": whole.external_url,
        "known_services": known,
    }
    expected = summarize(whole.group_key, whole.alerts, **common)
    shown = summarize_group(dirty.group_key, dirty.summary, dirty.alerts, **common)
    for name in (
        "status",
        "severity",
        "title",
        "firing",
        "resolved",
        "summary",
        "description",
        "services",
        "namespace",
        "links",
        "started_at",
        "resolved_at",
    ):
        assert getattr(shown, name) == getattr(expected, name), name
    assert shown.severity == "warning"  # the critical one resolved


async def test_an_upgrade_brings_groups_and_what_their_threads_showed_along(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bot.db"
    db = Database(path)
    before = MIGRATIONS.index(_v12_group_summaries)
    for number, step in enumerate(MIGRATIONS[:before], start=1):
        step(db)
        db.execute(f"PRAGMA user_version = {number}")
    key = 'old:{alertname="X"}'
    db.table("alert_groups").insert(
        {
            "group_key": key,
            "group_id": "g-old",
            "receiver": "incident-bot",
            "status": "firing",
            "first_seen": NOW.isoformat(),
            "last_seen": NOW.isoformat(),
            "version": 3,
            "synced_version": 2,
            "posted_state": json.dumps({"f1": "firing", "f2": "firing"}),
            "posted_view": "shown",
        }
    )
    for fp, status in (("f1", "firing"), ("f2", "resolved"), ("f3", "firing")):
        db.table("alerts").insert(
            {
                "group_key": key,
                "fingerprint": fp,
                "status": status,
                "labels": json.dumps({"alertname": "X", "severity": "critical"}),
                "annotations": "{}",
            }
        )
    db.conn.commit()
    db.close()

    store = SqliteStore(path)
    await store.open()
    [group] = await store.dirty_alert_groups()
    assert group.summary is not None
    assert (group.summary.firing, group.summary.resolved) == (2, 1)
    # Not yet synced: every alert is compared with what the thread showed before the upgrade.
    assert {a.fingerprint for a in group.changed or ()} == {"f1", "f2", "f3"}
    assert group.posted_state == {"f1": "firing", "f2": "firing"}
    await store.close()
