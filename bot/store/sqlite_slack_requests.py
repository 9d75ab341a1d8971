"""Signed Slack requests already handled, kept while a replay of them could still verify."""

from __future__ import annotations

from sqlite_utils import Database

from bot.store.sqlite_base import SqliteBase


class SlackRequestStore(SqliteBase):
    async def claim_slack_request(self, signature: str, expires_at: float, now: float) -> bool:
        def write(db: Database) -> bool:
            # Pruned on the way in: the table holds only the last few minutes of requests.
            db.execute("DELETE FROM slack_requests_seen WHERE expires_at < ?", [now])
            cur = db.execute(
                "INSERT OR IGNORE INTO slack_requests_seen (signature, expires_at) VALUES (?, ?)",
                [signature, expires_at],
            )
            return bool(cur.rowcount == 1)

        return await self._write(write)
