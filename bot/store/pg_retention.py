"""Deletes what the bot no longer needs, in small batches so other writes never wait long, in
PostgreSQL. The same four kinds of rows age out as in SQLite (bot.store.sqlite_retention)."""

from __future__ import annotations

from datetime import datetime

from bot.store.columns import iso
from bot.store.pg_base import Conn, PgBase, affected
from bot.store.retention_rows import FINISHED, FINISHED_JOBS

# A finished post is still read while it is the newest post of its message: an update of a
# message whose post was refused becomes the post, and a reply looks at its parent's state.
_PRUNABLE_OUTBOX = (
    # Oldest first, along the outbox_finished index.
    f"SELECT o.id FROM outbox o WHERE o.state IN {FINISHED}"
    " AND o.updated_at < $1"
    " AND NOT (o.method = 'chat.postMessage' AND o.message_key IS NOT NULL AND o.id ="
    " (SELECT max(p.id) FROM outbox p WHERE p.message_key = o.message_key"
    " AND p.method = 'chat.postMessage')) ORDER BY o.updated_at LIMIT $2"
)
PRUNES = (
    (
        "webhook_deliveries",
        "DELETE FROM webhook_deliveries WHERE id IN"
        " (SELECT id FROM webhook_deliveries WHERE seen_at < $1 LIMIT $2)",
    ),
    ("outbox", f"DELETE FROM outbox WHERE id IN ({_PRUNABLE_OUTBOX})"),
    (
        "seen_events",
        "DELETE FROM seen_events WHERE key IN (SELECT key FROM seen_events WHERE at < $1 LIMIT $2)",
    ),
    (
        "jobs",
        f"DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN {FINISHED_JOBS}"
        " AND updated_at < $1 LIMIT $2)",
    ),
)


class RetentionStore(PgBase):
    async def prune(self, older_than: datetime, limit: int) -> dict[str, int]:
        """Deletes at most `limit` rows of each kind last used before `older_than`, in one
        short transaction; returns how many of each went. Call again until nothing goes."""
        cutoff = iso(older_than)
        # SQLite reads a negative limit as none at all; LIMIT NULL says so here.
        bound = limit if limit >= 0 else None

        async def write(conn: Conn) -> dict[str, int]:
            return {
                table: affected(await conn.execute(sql, cutoff, bound)) for table, sql in PRUNES
            }

        return await self._write(write)
