"""The table of Slack requests already handled: a replay is caught while it could still
verify, and the table forgets each request after that, so it never grows past a few minutes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.store.base import Store
from bot.store.sqlite import SqliteStore

SIG = "v0=" + "a" * 64


def rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        count: int = conn.execute("SELECT count(*) FROM slack_requests_seen").fetchone()[0]
        return count


async def test_a_request_is_claimed_once_until_it_expires(store: Store) -> None:
    assert await store.claim_slack_request(SIG, expires_at=1360.0, now=1000.0)
    assert not await store.claim_slack_request(SIG, expires_at=1360.0, now=1001.0)
    assert not await store.claim_slack_request(SIG, expires_at=1360.0, now=1359.0)
    # Past its expiry a replay no longer verifies, so the entry may go.
    assert await store.claim_slack_request(SIG, expires_at=1800.0, now=1361.0)


async def test_expired_requests_are_pruned_as_new_ones_arrive(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = SqliteStore(path)
    await store.open()
    try:
        for second in range(1000):
            # One request a second, each kept for 360 s.
            sig = f"v0={second:064x}"
            assert await store.claim_slack_request(sig, second + 360.0, float(second))
        assert rows(path) <= 361
    finally:
        await store.close()


async def test_a_claim_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = SqliteStore(path)
    await store.open()
    assert await store.claim_slack_request(SIG, 1360.0, 1000.0)
    await store.close()

    store = SqliteStore(path)
    await store.open()
    try:
        assert not await store.claim_slack_request(SIG, 1360.0, 1010.0)
    finally:
        await store.close()
