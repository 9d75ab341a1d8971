"""The Slack outbox, in PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.store.pg_base import Conn, PgBase
from bot.store.records import NewOutboxItem, OutboxState


async def insert_outbox_items(
    conn: Conn, items: Sequence[NewOutboxItem], created: str
) -> list[int]:
    """Inside the caller's transaction, so a row and the state change it reports commit
    together."""
    ids = []
    for item in items:
        ids.append(
            int(
                await conn.fetchval(
                    "INSERT INTO outbox (method, channel, args, message_key, thread_key,"
                    " incident_id, urgency, state, attempts, not_before, created_at, updated_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0.0, $9, $9) RETURNING id",
                    item.method,
                    item.channel,
                    json.dumps(dict(item.args)),
                    item.message_key,
                    item.thread_key,
                    item.incident_id,
                    int(item.urgency),
                    str(OutboxState.PENDING),
                    created,
                )
            )
        )
    return ids


class OutboxStore(PgBase):
    """To be written: the PostgreSQL twin of bot.store.sqlite_outbox."""
