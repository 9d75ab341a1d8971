"""The Slack outbox's rows, in SQLite."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlite_utils import Database

from bot.domain.leases import Lease
from bot.store.outbox_rows import (
    UNFINISHED,
    channel_access,
    is_change_reply,
    merged_reply,
    outbox_record,
    outbox_stats,
)
from bot.store.records import (
    AWAITING_INVITE,
    ChannelAccess,
    NewOutboxItem,
    OutboxRow,
    OutboxState,
    OutboxStats,
    SlackMessageRef,
)
from bot.store.sqlite_base import SqliteBase, _last_id, _now
from bot.store.sqlite_leases import lease_holds


def insert_outbox_items(db: Database, items: Sequence[NewOutboxItem], created: str) -> list[int]:
    """Inside the caller's transaction, so a row and the state change it reports commit
    together."""
    table = db.table("outbox")
    ids = []
    for item in items:
        table.insert(
            {
                "method": item.method,
                "channel": item.channel,
                "args": json.dumps(dict(item.args)),
                "message_key": item.message_key,
                "thread_key": item.thread_key,
                "incident_id": item.incident_id,
                "urgency": int(item.urgency),
                "state": str(OutboxState.PENDING),
                "attempts": 0,
                "not_before": 0.0,
                "created_at": created,
                "updated_at": created,
            }
        )
        ids.append(_last_id(table))
    return ids


def _coalesce_replies(db: Database, head: OutboxRow) -> tuple[OutboxRow, list[int]]:
    """A thread's change replies queued behind the head (a backlog) go out as one message, in
    the head's place: one post instead of one per change, the changes kept in order. A head
    that may already be posted keeps what it said (the history lookup finds it by its id)."""
    if head.state != OutboxState.PENDING:
        return head, []
    rows = SqliteBase._rows(
        db,
        "SELECT * FROM outbox WHERE channel = ? AND message_key = ? AND method = ?"
        " AND state = ? AND id >= ? ORDER BY id",
        [head.channel, head.message_key, head.method, OutboxState.PENDING.value, head.id],
    )
    merged = merged_reply(head, rows)
    if merged is None:
        return head, []
    args, stale = merged
    db.execute(
        "UPDATE outbox SET args = ?, updated_at = ? WHERE id = ?",
        [json.dumps(args), _now(), head.id],
    )
    db.execute(
        f"UPDATE outbox SET state = ?, updated_at = ? WHERE id IN ({','.join('?' * len(stale))})",
        [OutboxState.SUPERSEDED.value, _now(), *stale],
    )
    return replace(head, args=args), stale


class OutboxStore(SqliteBase):
    # outbox --------------------------------------------------------------------------------

    async def enqueue(self, items: Sequence[NewOutboxItem]) -> list[int]:
        created = _now()
        return await self._write(lambda db: insert_outbox_items(db, items, created))

    async def outbox_heads(self) -> list[OutboxRow]:
        def read(db: Database) -> list[OutboxRow]:
            rows = self._rows(
                db,
                "SELECT o.* FROM outbox o JOIN (SELECT min(id) AS id FROM outbox"
                " WHERE state IN (?, ?) GROUP BY channel) h ON o.id = h.id ORDER BY o.id",
                UNFINISHED,
            )
            return [outbox_record(r) for r in rows]

        return await self._read(read)

    async def ready_update(
        self, head: OutboxRow, now: float, *, posts_with_key: str | None = None
    ) -> OutboxRow | None:
        def read(db: Database) -> OutboxRow | None:
            if posts_with_key is not None:
                rows = self._rows(
                    db,
                    # Top-level posts and replies alike: only a thread's change replies carry
                    # a key in a thread.
                    "SELECT * FROM outbox INDEXED BY idx_outbox_state_channel_id"
                    " WHERE state = ? AND channel = ? AND id > ? AND method = ?"
                    " AND substr(message_key, 1, ?) = ?"
                    " AND not_before <= ? ORDER BY id LIMIT 1",
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
                rows = self._rows(
                    db,
                    "SELECT o.* FROM outbox o INDEXED BY idx_outbox_state_channel_id"
                    " JOIN slack_messages m ON m.message_key = o.message_key"
                    " WHERE o.state = ? AND o.channel = ? AND o.id > ? AND o.method = ?"
                    " AND o.not_before <= ? ORDER BY o.urgency, o.id LIMIT 1",
                    [OutboxState.PENDING.value, head.channel, head.id, "chat.update", now],
                )
            return outbox_record(rows[0]) if rows else None

        return await self._read(read)

    async def coalesce_update(self, head: OutboxRow) -> tuple[OutboxRow, list[int]]:
        if is_change_reply(head):
            return await self._write(lambda db: _coalesce_replies(db, head))
        if head.method != "chat.update" or head.message_key is None:
            return head, []

        def write(db: Database) -> tuple[OutboxRow, list[int]]:
            # The head may be in flight from an attempt that died; a newer state still wins.
            # Older renders waiting too (a retry held back by Slack while urgency sent a newer
            # one first) go with it: landing after it, they would show a state already left.
            # Ids first: in a storm a digest message has hundreds of renders queued, and
            # only the newest is read whole.
            newer = [
                int(r[0])
                for r in db.execute(
                    "SELECT id FROM outbox WHERE channel = ? AND message_key = ? AND method = ?"
                    " AND state IN (?, ?) ORDER BY id",
                    [head.channel, head.message_key, "chat.update", *UNFINISHED],
                ).fetchall()
            ]
            if len(newer) <= 1:
                return head, []
            stale = newer[:-1]
            db.execute(
                f"UPDATE outbox SET state = ?, updated_at = ? WHERE id IN"
                f" ({','.join('?' * len(stale))})",
                [OutboxState.SUPERSEDED.value, _now(), *stale],
            )
            [row] = self._rows(db, "SELECT * FROM outbox WHERE id = ?", [newer[-1]])
            return outbox_record(row), stale

        return await self._write(write)

    async def _set(self, row_id: int, **values: Any) -> None:
        values["updated_at"] = _now()
        await self._write(lambda db: db.table("outbox").update(row_id, values))

    async def mark_in_flight(self, row_id: int, lease: Lease | None = None) -> bool:
        def write(db: Database) -> bool:
            if lease is not None and not lease_holds(db, lease):
                return False
            db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
                [OutboxState.IN_FLIGHT.value, _now(), row_id],
            )
            return True

        return await self._write(write)

    async def mark_sent(
        self, row_id: int, result: Mapping[str, Any], message: SlackMessageRef | None
    ) -> None:
        def write(db: Database) -> None:
            db.table("outbox").update(
                row_id,
                {
                    "state": OutboxState.SENT.value,
                    "result": json.dumps(dict(result)),
                    "updated_at": _now(),
                    "last_error": None,
                },
            )
            key = db.execute("SELECT message_key FROM outbox WHERE id = ?", [row_id]).fetchone()
            # The sender names a message only for a post (or an update sent as the post of a
            # message that was never posted).
            if message is not None and key and key[0]:
                db.table("slack_messages").insert(
                    {
                        "message_key": key[0],
                        "channel": message.channel,
                        "ts": message.ts,
                        "created_at": _now(),
                    },
                    replace=True,
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

        def write(db: Database) -> bool:
            row = db.execute(
                "SELECT channel, last_error FROM outbox WHERE id = ?", [row_id]
            ).fetchone()
            if row is None:
                return False
            waited = db.execute(
                "SELECT 1 FROM outbox WHERE channel = ? AND state IN (?, ?)"
                " AND substr(last_error, 1, ?) = ? LIMIT 1",
                [row[0], *UNFINISHED, len(AWAITING_INVITE), AWAITING_INVITE],
            ).fetchone()
            db.table("outbox").update(
                row_id,
                {
                    "state": OutboxState.PENDING.value,
                    "not_before": not_before,
                    "last_error": marker,
                    "updated_at": _now(),
                },
            )
            return waited is None

        return await self._write(write)

    async def channels_awaiting_invite(self) -> list[ChannelAccess]:
        def read(db: Database) -> list[ChannelAccess]:
            rows = self._rows(
                db,
                "SELECT h.channel, h.last_error, count(o.id) AS waiting,"
                " min(o.created_at) AS since FROM (SELECT channel, max(last_error) AS last_error"
                " FROM outbox WHERE state IN (?, ?) AND substr(last_error, 1, ?) = ?"
                " GROUP BY channel) h JOIN outbox o ON o.channel = h.channel AND o.state IN (?, ?)"
                " GROUP BY h.channel ORDER BY h.channel",
                [*UNFINISHED, len(AWAITING_INVITE), AWAITING_INVITE, *UNFINISHED],
            )
            return [channel_access(r) for r in rows]

        return await self._read(read)

    async def retry_channel(self, channel: str) -> int:
        def write(db: Database) -> int:
            cursor = db.execute(
                "UPDATE outbox SET not_before = 0 WHERE channel = ? AND state IN (?, ?)",
                [channel, *UNFINISHED],
            )
            return int(cursor.rowcount)

        return await self._write(write)

    async def latest_post(self, message_key: str) -> OutboxRow | None:
        def read(db: Database) -> OutboxRow | None:
            rows = self._rows(
                db,
                "SELECT * FROM outbox WHERE message_key = ? AND method = ?"
                " ORDER BY id DESC LIMIT 1",
                [message_key, "chat.postMessage"],
            )
            return outbox_record(rows[0]) if rows else None

        return await self._read(read)

    async def outbox_row(self, row_id: int) -> OutboxRow | None:
        def read(db: Database) -> OutboxRow | None:
            rows = self._rows(db, "SELECT * FROM outbox WHERE id = ?", [row_id])
            return outbox_record(rows[0]) if rows else None

        return await self._read(read)

    async def outbox_stats(self, now: float) -> OutboxStats:
        def read(db: Database) -> OutboxStats:
            by_state = {
                r["state"]: r["n"]
                for r in self._rows(db, "SELECT state, count(*) AS n FROM outbox GROUP BY state")
            }
            oldest = db.execute(
                "SELECT min(created_at) FROM outbox WHERE state IN (?, ?)", UNFINISHED
            ).fetchone()[0]
            return outbox_stats(by_state, oldest, now)

        return await self._read(read)

    async def message_ref(self, message_key: str) -> SlackMessageRef | None:
        def read(db: Database) -> SlackMessageRef | None:
            row = db.execute(
                "SELECT channel, ts FROM slack_messages WHERE message_key = ?", [message_key]
            ).fetchone()
            return SlackMessageRef(row[0], row[1]) if row else None

        return await self._read(read)
