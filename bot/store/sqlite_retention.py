"""Deletes what the bot no longer needs, in small batches so other writes never wait long.

Only four kinds of rows age out: webhook bodies no sender has repeated within the retention
age, finished outbox rows, Slack event ids kept against Slack's retries, and finished jobs.
Incidents, their timelines, alerts, alert groups, PagerDuty incidents, actions and the Slack
message references threads are edited through are kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlite_utils import Database

from bot.store.retention_rows import FINISHED, FINISHED_JOBS
from bot.store.sqlite_base import SqliteBase, _iso

# A finished post is still read while it is the newest post of its message: an update of a
# message whose post was refused becomes the post, and a reply looks at its parent's state.
_PRUNABLE_OUTBOX = (
    # By age, oldest first: the planner would walk every finished row by state instead.
    f"SELECT o.id FROM outbox o INDEXED BY outbox_finished WHERE o.state IN {FINISHED}"
    " AND o.updated_at < ?"
    " AND NOT (o.method = 'chat.postMessage' AND o.message_key IS NOT NULL AND o.id ="
    " (SELECT max(p.id) FROM outbox p WHERE p.message_key = o.message_key"
    " AND p.method = 'chat.postMessage')) LIMIT ?"
)
PRUNES = (
    (
        "webhook_deliveries",
        "DELETE FROM webhook_deliveries WHERE id IN"
        " (SELECT id FROM webhook_deliveries WHERE seen_at < ? LIMIT ?)",
    ),
    ("outbox", f"DELETE FROM outbox WHERE id IN ({_PRUNABLE_OUTBOX})"),
    (
        "seen_events",
        "DELETE FROM seen_events WHERE key IN (SELECT key FROM seen_events WHERE at < ? LIMIT ?)",
    ),
    (
        "jobs",
        f"DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN {FINISHED_JOBS}"
        " AND updated_at < ? LIMIT ?)",
    ),
)


class RetentionStore(SqliteBase):
    async def prune(self, older_than: datetime, limit: int) -> dict[str, int]:
        """Deletes at most `limit` rows of each kind last used before `older_than`, in one
        short transaction; returns how many of each went. Call again until nothing goes."""
        cutoff = _iso(older_than)

        def write(db: Database) -> dict[str, int]:
            return {table: int(db.execute(sql, [cutoff, limit]).rowcount) for table, sql in PRUNES}

        return await self._write(write)
