"""The Slack outbox, in PostgreSQL.

Text is compared bytewise (COLLATE "C") wherever SQLite compares it, as SQLite does: the
database's own collation may order ISO times and error texts otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bot.domain.leases import Lease
from bot.store.columns import now_iso
from bot.store.outbox_rows import (
    UNFINISHED,
    channel_access,
    is_change_reply,
    merged_reply,
    outbox_record,
    outbox_stats,
)
from bot.store.pg_base import Conn, PgBase, affected
from bot.store.pg_leases import lease_holds
from bot.store.records import (
    AWAITING_INVITE,
    ChannelAccess,
    NewOutboxItem,
    OutboxRow,
    OutboxState,
    OutboxStats,
    SlackMessageRef,
)

UNFINISHED_LIST = list(UNFINISHED)


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


async def _supersede(conn: Conn, ids: Sequence[int]) -> None:
    await conn.execute(
        "UPDATE outbox SET state = $1, updated_at = $2 WHERE id = ANY($3::bigint[])",
        OutboxState.SUPERSEDED.value,
        now_iso(),
        list(ids),
    )


async def _coalesce_replies(conn: Conn, head: OutboxRow) -> tuple[OutboxRow, list[int]]:
    """A thread's change replies queued behind the head (a backlog) go out as one message, in
    the head's place: one post instead of one per change, the changes kept in order. A head
    that may already be posted keeps what it said (the history lookup finds it by its id)."""
    if head.state != OutboxState.PENDING:
        return head, []
    rows = await PgBase._rows(
        conn,
        "SELECT * FROM outbox WHERE channel = $1 AND message_key = $2 AND method = $3"
        " AND state = $4 AND id >= $5 ORDER BY id",
        [head.channel, head.message_key, head.method, OutboxState.PENDING.value, head.id],
    )
    merged = merged_reply(head, rows)
    if merged is None:
        # As stored: another replica may have merged into this head since the caller read it.
        stored = rows[0] if rows and rows[0]["id"] == head.id else None
        return (outbox_record(stored) if stored else head), []
    args, stale = merged
    await conn.execute(
        "UPDATE outbox SET args = $1, updated_at = $2 WHERE id = $3",
        json.dumps(args),
        now_iso(),
        head.id,
    )
    await _supersede(conn, stale)
    return replace(head, args=args), stale


async def _coalesce_renders(conn: Conn, head: OutboxRow) -> tuple[OutboxRow, list[int]]:
    # The head may be in flight from an attempt that died; a newer state still wins. Older
    # renders waiting too (a retry held back by Slack while urgency sent a newer one first) go
    # with it: landing after it, they would show a state already left. Ids first: in a storm a
    # digest message has hundreds of renders queued, and only the newest is read whole.
    ids = [
        int(r["id"])
        for r in await conn.fetch(
            "SELECT id FROM outbox WHERE channel = $1 AND message_key = $2 AND method = $3"
            " AND state = ANY($4::text[]) ORDER BY id",
            head.channel,
            head.message_key,
            "chat.update",
            UNFINISHED_LIST,
        )
    ]
    if not ids or ids == [head.id]:
        return head, []
    # With the head gone too (another replica coalesced it first), the newest still goes,
    # never the superseded head.
    stale = ids[:-1]
    if stale:
        await _supersede(conn, stale)
    [row] = await PgBase._rows(conn, "SELECT * FROM outbox WHERE id = $1", [ids[-1]])
    return outbox_record(row), stale


class OutboxStore(PgBase):
    async def enqueue(self, items: Sequence[NewOutboxItem]) -> list[int]:
        created = now_iso()
        return await self._write(lambda conn: insert_outbox_items(conn, items, created))

    async def outbox_heads(self) -> list[OutboxRow]:
        async def read(conn: Conn) -> list[OutboxRow]:
            rows = await self._rows(
                conn,
                "SELECT o.* FROM outbox o JOIN (SELECT min(id) AS id FROM outbox"
                " WHERE state = ANY($1::text[]) GROUP BY channel) h ON o.id = h.id"
                " ORDER BY o.id",
                [UNFINISHED_LIST],
            )
            return [outbox_record(r) for r in rows]

        return await self._read(read)

    async def ready_update(
        self, head: OutboxRow, now: float, *, posts_with_key: str | None = None
    ) -> OutboxRow | None:
        async def read(conn: Conn) -> OutboxRow | None:
            if posts_with_key is not None:
                rows = await self._rows(
                    conn,
                    # Top-level posts and replies alike: only a thread's change replies carry
                    # a key in a thread.
                    "SELECT * FROM outbox WHERE state = $1 AND channel = $2 AND id > $3"
                    " AND method = $4 AND substr(message_key, 1, $5) = $6"
                    " AND not_before <= $7 ORDER BY id LIMIT 1",
                    [
                        OutboxState.PENDING.value,
                        head.channel,
                        head.id,
                        "chat.postMessage",
                        len(posts_with_key),
                        posts_with_key,
                        now,
                    ],
                )
            else:
                rows = await self._rows(
                    conn,
                    "SELECT o.* FROM outbox o"
                    " JOIN slack_messages m ON m.message_key = o.message_key"
                    " WHERE o.state = $1 AND o.channel = $2 AND o.id > $3 AND o.method = $4"
                    " AND o.not_before <= $5 ORDER BY o.urgency, o.id LIMIT 1",
                    [OutboxState.PENDING.value, head.channel, head.id, "chat.update", now],
                )
            return outbox_record(rows[0]) if rows else None

        return await self._read(read)

    async def coalesce_update(self, head: OutboxRow) -> tuple[OutboxRow, list[int]]:
        if is_change_reply(head):
            return await self._write(lambda conn: _coalesce_replies(conn, head))
        if head.method != "chat.update" or head.message_key is None:
            return head, []
        return await self._write(lambda conn: _coalesce_renders(conn, head))

    async def _set(self, row_id: int, **values: Any) -> None:
        values["updated_at"] = now_iso()
        sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(values, start=2))

        async def write(conn: Conn) -> None:
            await conn.execute(f"UPDATE outbox SET {sets} WHERE id = $1", row_id, *values.values())

        await self._write(write)

    async def mark_in_flight(self, row_id: int, lease: Lease | None = None) -> bool:
        async def write(conn: Conn) -> bool:
            # The lease row stays locked until this commits: no new leader comes in between.
            if lease is not None and not await lease_holds(conn, lease):
                return False
            await conn.execute(
                "UPDATE outbox SET state = $1, attempts = attempts + 1, updated_at = $2"
                " WHERE id = $3",
                OutboxState.IN_FLIGHT.value,
                now_iso(),
                row_id,
            )
            return True

        return await self._write(write)

    async def mark_sent(
        self, row_id: int, result: Mapping[str, Any], message: SlackMessageRef | None
    ) -> None:
        async def write(conn: Conn) -> None:
            key = await conn.fetchval(
                "UPDATE outbox SET state = $1, result = $2, updated_at = $3, last_error = NULL"
                " WHERE id = $4 RETURNING message_key",
                OutboxState.SENT.value,
                json.dumps(dict(result)),
                now_iso(),
                row_id,
            )
            # The sender names a message only for a post (or an update sent as the post of a
            # message that was never posted).
            if message is not None and key:
                await conn.execute(
                    "INSERT INTO slack_messages (message_key, channel, ts, created_at)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (message_key) DO UPDATE SET"
                    " channel = excluded.channel, ts = excluded.ts,"
                    " created_at = excluded.created_at",
                    key,
                    message.channel,
                    message.ts,
                    now_iso(),
                )

        await self._write(write)

    async def reschedule(
        self, row_id: int, not_before: float, error: str, *, maybe_sent: bool = False
    ) -> None:
        state = OutboxState.IN_FLIGHT if maybe_sent else OutboxState.PENDING
        await self._set(row_id, state=state.value, not_before=not_before, last_error=error)

    async def mark_unsent(self, row_id: int, state: OutboxState, reason: str) -> None:
        await self._set(row_id, state=state.value, last_error=reason)

    async def await_invite(self, row_id: int, not_before: float, error: str) -> bool:
        marker = f"{AWAITING_INVITE}{error}"

        async def write(conn: Conn) -> bool:
            channel = await conn.fetchval("SELECT channel FROM outbox WHERE id = $1", row_id)
            if channel is None:
                return False
            # Two rows of one channel refused at once on two replicas both find none waiting:
            # serializable sees the write skew and reruns one, which then finds the other.
            waited = await conn.fetchval(
                "SELECT 1 FROM outbox WHERE channel = $1 AND state = ANY($2::text[])"
                " AND substr(last_error, 1, $3) = $4 LIMIT 1",
                channel,
                UNFINISHED_LIST,
                len(AWAITING_INVITE),
                AWAITING_INVITE,
            )
            await conn.execute(
                "UPDATE outbox SET state = $1, not_before = $2, last_error = $3, updated_at = $4"
                " WHERE id = $5",
                OutboxState.PENDING.value,
                not_before,
                marker,
                now_iso(),
                row_id,
            )
            return waited is None

        return await self._write(write)

    async def channels_awaiting_invite(self) -> list[ChannelAccess]:
        async def read(conn: Conn) -> list[ChannelAccess]:
            rows = await self._rows(
                conn,
                "SELECT h.channel, h.last_error, count(o.id) AS waiting,"
                ' min(o.created_at COLLATE "C") AS since FROM (SELECT channel,'
                ' max(last_error COLLATE "C") AS last_error'
                " FROM outbox WHERE state = ANY($1::text[]) AND substr(last_error, 1, $2) = $3"
                " GROUP BY channel) h JOIN outbox o ON o.channel = h.channel"
                " AND o.state = ANY($1::text[]) GROUP BY h.channel, h.last_error"
                ' ORDER BY h.channel COLLATE "C"',
                [UNFINISHED_LIST, len(AWAITING_INVITE), AWAITING_INVITE],
            )
            return [channel_access(r) for r in rows]

        return await self._read(read)

    async def retry_channel(self, channel: str) -> int:
        async def write(conn: Conn) -> int:
            status = await conn.execute(
                "UPDATE outbox SET not_before = 0 WHERE channel = $1 AND state = ANY($2::text[])",
                channel,
                UNFINISHED_LIST,
            )
            return affected(status)

        return await self._write(write)

    async def latest_post(self, message_key: str) -> OutboxRow | None:
        return await self._one(
            "SELECT * FROM outbox WHERE message_key = $1 AND method = $2 ORDER BY id DESC LIMIT 1",
            [message_key, "chat.postMessage"],
        )

    async def outbox_row(self, row_id: int) -> OutboxRow | None:
        return await self._one("SELECT * FROM outbox WHERE id = $1", [row_id])

    async def _one(self, sql: str, params: Sequence[Any]) -> OutboxRow | None:
        async def read(conn: Conn) -> OutboxRow | None:
            rows = await self._rows(conn, sql, params)
            return outbox_record(rows[0]) if rows else None

        return await self._read(read)

    async def outbox_stats(self, now: float) -> OutboxStats:
        async def read(conn: Conn) -> OutboxStats:
            by_state = {
                r["state"]: int(r["n"])
                for r in await conn.fetch("SELECT state, count(*) AS n FROM outbox GROUP BY state")
            }
            oldest = await conn.fetchval(
                'SELECT min(created_at COLLATE "C") FROM outbox WHERE state = ANY($1::text[])',
                UNFINISHED_LIST,
            )
            return outbox_stats(by_state, oldest, now)

        return await self._read(read)

    async def message_ref(self, message_key: str) -> SlackMessageRef | None:
        async def read(conn: Conn) -> SlackMessageRef | None:
            row = await conn.fetchrow(
                "SELECT channel, ts FROM slack_messages WHERE message_key = $1", message_key
            )
            return SlackMessageRef(row["channel"], row["ts"]) if row else None

        return await self._read(read)
