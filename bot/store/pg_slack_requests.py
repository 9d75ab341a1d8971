"""Signed Slack requests already handled, kept while a replay of them could still verify, in
PostgreSQL: every replica checks the same table, so a replay sent to another replica is
caught too."""

from __future__ import annotations

from bot.store.pg_base import Conn, PgBase, affected


class SlackRequestStore(PgBase):
    async def claim_slack_request(self, signature: str, expires_at: float, now: float) -> bool:
        async def write(conn: Conn) -> bool:
            # Pruned on the way in: the table holds only the last few minutes of requests.
            await conn.execute("DELETE FROM slack_requests_seen WHERE expires_at < $1", now)
            # The same request at two replicas: the primary key lets one insert win, and the
            # serializable retry reruns the other, which then finds the signature taken.
            status = await conn.execute(
                "INSERT INTO slack_requests_seen (signature, expires_at) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                signature,
                expires_at,
            )
            return affected(status) == 1

        return await self._write(write)
