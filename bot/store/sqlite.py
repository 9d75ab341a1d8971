"""The embedded store: SQLite through sqlite-utils, WAL, one writer thread, readers beside it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database
from sqlite_utils.db import Table

from bot.domain.incident import Incident, NewIncident, Severity, Status
from bot.domain.timeline import GENESIS, EventKind, NewEvent, TimelineEvent, event_hash
from bot.store.base import StoreUnavailable
from bot.store.migrations import migrate
from bot.store.records import (
    NewOutboxItem,
    OutboxRow,
    OutboxState,
    OutboxStats,
    SlackMessageRef,
)
from bot.store.sqlite_writer import Writer, connect

T = TypeVar("T")
UNFINISHED = (OutboxState.PENDING.value, OutboxState.IN_FLIGHT.value)
INCIDENT_FIELDS = {
    "title",
    "severity",
    "status",
    "commander",
    "services",
    "description",
    "channel_id",
    "channel_name",
    "resolved_at",
    "summary",
    "roles",
}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _incident(row: Mapping[str, Any]) -> Incident:
    return Incident(
        id=row["id"],
        title=row["title"],
        severity=Severity(row["severity"]),
        status=Status(row["status"]),
        declared_by=row["declared_by"],
        declared_at=datetime.fromisoformat(row["declared_at"]),
        commander=row["commander"],
        services=tuple(json.loads(row["services"] or "[]")),
        description=row["description"] or "",
        channel_id=row["channel_id"],
        channel_name=row["channel_name"],
        resolved_at=_dt(row["resolved_at"]),
        summary=row["summary"] or "",
        roles=json.loads(row["roles"] or "{}"),
    )


def _event(row: Mapping[str, Any]) -> TimelineEvent:
    return TimelineEvent(
        id=row["id"],
        incident_id=row["incident_id"],
        seq=row["seq"],
        kind=EventKind(row["kind"]),
        actor=row["actor"] or "",
        text=row["text"] or "",
        at=datetime.fromisoformat(row["at"]),
        data=json.loads(row["data"] or "{}"),
        key=bool(row["key"]),
        public=bool(row["public"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def _outbox(row: Mapping[str, Any]) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        method=row["method"],
        channel=row["channel"],
        args=json.loads(row["args"]),
        message_key=row["message_key"],
        thread_key=row["thread_key"],
        incident_id=row["incident_id"],
        state=OutboxState(row["state"]),
        attempts=row["attempts"],
        not_before=row["not_before"],
        created_at=datetime.fromisoformat(row["created_at"]),
        last_error=row["last_error"],
        result=json.loads(row["result"] or "{}"),
    )


def _last_id(table: Table) -> int:
    assert table.last_pk is not None
    return int(table.last_pk)


def _append_event(db: Database, incident_id: int, event: NewEvent) -> TimelineEvent:
    # Hashed as stored (UTC), so verification recomputes the same digest.
    event = replace(event, at=event.at.astimezone(UTC))
    last = db.execute(
        "SELECT seq, hash FROM timeline_events WHERE incident_id = ? ORDER BY seq DESC LIMIT 1",
        [incident_id],
    ).fetchone()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    digest = event_hash(prev, incident_id, seq, event)
    table = db.table("timeline_events")
    table.insert(
        {
            "incident_id": incident_id,
            "seq": seq,
            "kind": str(event.kind),
            "actor": event.actor,
            "text": event.text,
            "at": _iso(event.at),
            "data": json.dumps(dict(event.data), default=str),
            "key": int(event.key),
            "public": int(event.public),
            "prev_hash": prev,
            "hash": digest,
        }
    )
    return _event(table.get(_last_id(table)))


class SqliteStore:
    """Implements Store on a single SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._writer = Writer(self.path)
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="store-read")
        self._local = threading.local()
        self._opened = False

    # lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)

        def setup(db: Database) -> None:
            db.conn.execute("PRAGMA journal_mode = WAL")
            migrate(db)

        await asyncio.to_thread(self._writer.start, setup)
        self._opened = True

    async def close(self) -> None:
        if self._opened:
            await asyncio.to_thread(self._writer.stop)
            self._readers.shutdown(wait=True)
            self._opened = False

    async def ping(self) -> None:
        """Through the writer, so "ready" means writes can commit, not only reads."""
        await self._write(lambda db: db.execute("SELECT 1").fetchone())

    @property
    def write_batches(self) -> int:
        return self._writer.batches

    async def _write(self, fn: Callable[[Database], T]) -> T:
        return await self._writer.run(fn)

    async def _read(self, fn: Callable[[Database], T]) -> T:
        def run() -> T:
            db: Database | None = getattr(self._local, "db", None)
            if db is None:
                db = connect(self.path)
                self._local.db = db
            try:
                return fn(db)
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"database unavailable: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._readers, run)

    @staticmethod
    def _rows(db: Database, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(db.query(sql, list(params)))

    # webhook deliveries and alerts ---------------------------------------------------------

    async def record_delivery(
        self, source: str, delivery_id: str, body: Mapping[str, Any], received_at: datetime
    ) -> bool:
        def write(db: Database) -> bool:
            cur = db.execute(
                "INSERT OR IGNORE INTO webhook_deliveries (source, delivery_id, received_at, body)"
                " VALUES (?, ?, ?, ?)",
                [source, delivery_id, _iso(received_at), json.dumps(body)],
            )
            if cur.rowcount == 0:
                return False
            if source == "alertmanager":
                self._upsert_alerts(db, body, received_at)
            return True

        return await self._write(write)

    @staticmethod
    def _upsert_alerts(db: Database, body: Mapping[str, Any], at: datetime) -> None:
        group_key = str(body.get("groupKey", ""))
        for alert in body.get("alerts", []):
            db.execute(
                "INSERT INTO alerts (group_key, fingerprint, status, labels, annotations,"
                " starts_at, ends_at, generator_url, updated_at) VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(group_key, fingerprint) DO UPDATE SET status=excluded.status,"
                " labels=excluded.labels, annotations=excluded.annotations,"
                " starts_at=excluded.starts_at, ends_at=excluded.ends_at,"
                " generator_url=excluded.generator_url, updated_at=excluded.updated_at",
                [
                    group_key,
                    alert.get("fingerprint", ""),
                    alert.get("status", ""),
                    json.dumps(alert.get("labels", {})),
                    json.dumps(alert.get("annotations", {})),
                    alert.get("startsAt"),
                    alert.get("endsAt"),
                    alert.get("generatorURL"),
                    _iso(at),
                ],
            )

    async def list_alerts(
        self, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        def read(db: Database) -> tuple[list[dict[str, Any]], int]:
            where, params = ("WHERE status = ?", [status]) if status else ("", [])
            total = db.execute(f"SELECT count(*) FROM alerts {where}", params).fetchone()[0]
            rows = self._rows(
                db,
                f"SELECT * FROM alerts {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            for row in rows:
                row["labels"] = json.loads(row["labels"] or "{}")
                row["annotations"] = json.loads(row["annotations"] or "{}")
            return rows, int(total)

        return await self._read(read)

    # incidents -----------------------------------------------------------------------------

    async def create_incident(self, new: NewIncident) -> Incident:
        def write(db: Database) -> Incident:
            table = db.table("incidents")
            table.insert(
                {
                    "title": new.title,
                    "severity": str(new.severity),
                    "status": str(Status.INVESTIGATING),
                    "declared_by": new.declared_by,
                    "declared_at": _iso(new.declared_at),
                    "commander": new.declared_by,
                    "services": json.dumps(list(new.services)),
                    "description": new.description,
                    "summary": "",
                    "roles": json.dumps({"commander": new.declared_by}),
                    "updated_at": _now(),
                }
            )
            incident_id = _last_id(table)
            _append_event(
                db,
                incident_id,
                NewEvent(
                    EventKind.DECLARED,
                    new.declared_by,
                    f"{new.severity} incident declared: {new.title}",
                    new.declared_at,
                    {"severity": str(new.severity), "services": list(new.services)},
                    key=True,
                    public=True,
                ),
            )
            return _incident(table.get(incident_id))

        return await self._write(write)

    async def get_incident(self, incident_id: int) -> Incident | None:
        def read(db: Database) -> Incident | None:
            rows = self._rows(db, "SELECT * FROM incidents WHERE id = ?", [incident_id])
            return _incident(rows[0]) if rows else None

        return await self._read(read)

    async def list_incidents(self, *, open_only: bool = False, limit: int = 100) -> list[Incident]:
        def read(db: Database) -> list[Incident]:
            where = "WHERE status NOT IN ('resolved', 'closed')" if open_only else ""
            rows = self._rows(
                db, f"SELECT * FROM incidents {where} ORDER BY id DESC LIMIT ?", [limit]
            )
            return [_incident(r) for r in rows]

        return await self._read(read)

    async def update_incident(self, incident_id: int, **changes: Any) -> Incident:
        unknown = set(changes) - INCIDENT_FIELDS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if isinstance(value, datetime):
                value = _iso(value)
            elif isinstance(value, list | tuple | dict):
                value = json.dumps(list(value) if not isinstance(value, dict) else value)
            elif value is not None and name in ("severity", "status"):
                value = str(value)
            values[name] = value
        values["updated_at"] = _now()

        def write(db: Database) -> Incident:
            db.table("incidents").update(incident_id, values)
            return _incident(db.table("incidents").get(incident_id))

        return await self._write(write)

    async def append_event(self, incident_id: int, event: NewEvent) -> TimelineEvent:
        return await self._write(lambda db: _append_event(db, incident_id, event))

    async def timeline(self, incident_id: int) -> list[TimelineEvent]:
        def read(db: Database) -> list[TimelineEvent]:
            rows = self._rows(
                db,
                "SELECT * FROM timeline_events WHERE incident_id = ? ORDER BY seq",
                [incident_id],
            )
            return [_event(r) for r in rows]

        return await self._read(read)

    # outbox --------------------------------------------------------------------------------

    async def enqueue(self, items: Sequence[NewOutboxItem]) -> list[int]:
        created = _now()

        def write(db: Database) -> list[int]:
            ids = []
            for item in items:
                table = db.table("outbox")
                table.insert(
                    {
                        "method": item.method,
                        "channel": item.channel,
                        "args": json.dumps(dict(item.args)),
                        "message_key": item.message_key,
                        "thread_key": item.thread_key,
                        "incident_id": item.incident_id,
                        "state": str(OutboxState.PENDING),
                        "attempts": 0,
                        "not_before": 0.0,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
                ids.append(_last_id(table))
            return ids

        return await self._write(write)

    async def outbox_heads(self) -> list[OutboxRow]:
        def read(db: Database) -> list[OutboxRow]:
            rows = self._rows(
                db,
                "SELECT o.* FROM outbox o JOIN (SELECT min(id) AS id FROM outbox"
                " WHERE state IN (?, ?) GROUP BY channel) h ON o.id = h.id ORDER BY o.id",
                UNFINISHED,
            )
            return [_outbox(r) for r in rows]

        return await self._read(read)

    async def coalesce_update(self, head: OutboxRow) -> tuple[OutboxRow, list[int]]:
        if head.method != "chat.update" or head.message_key is None:
            return head, []

        def write(db: Database) -> tuple[OutboxRow, list[int]]:
            # The head may be in flight from an attempt that died; a newer state still wins.
            newer = self._rows(
                db,
                "SELECT * FROM outbox WHERE channel = ? AND message_key = ? AND method = ?"
                " AND state IN (?, ?) AND id >= ? ORDER BY id",
                [head.channel, head.message_key, "chat.update", *UNFINISHED, head.id],
            )
            if len(newer) <= 1:
                return head, []
            stale = [r["id"] for r in newer[:-1]]
            db.execute(
                f"UPDATE outbox SET state = ?, updated_at = ? WHERE id IN"
                f" ({','.join('?' * len(stale))})",
                [OutboxState.SUPERSEDED.value, _now(), *stale],
            )
            return _outbox(newer[-1]), stale

        return await self._write(write)

    async def _set(self, row_id: int, **values: Any) -> None:
        values["updated_at"] = _now()
        await self._write(lambda db: db.table("outbox").update(row_id, values))

    async def mark_in_flight(self, row_id: int) -> None:
        await self._write(
            lambda db: db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, updated_at = ? WHERE id = ?",
                [OutboxState.IN_FLIGHT.value, _now(), row_id],
            )
        )

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
            key = db.execute(
                "SELECT message_key, method FROM outbox WHERE id = ?", [row_id]
            ).fetchone()
            if message is not None and key and key[0] and key[1] == "chat.postMessage":
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

    async def outbox_row(self, row_id: int) -> OutboxRow | None:
        def read(db: Database) -> OutboxRow | None:
            rows = self._rows(db, "SELECT * FROM outbox WHERE id = ?", [row_id])
            return _outbox(rows[0]) if rows else None

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
            age = now - datetime.fromisoformat(oldest).timestamp() if oldest else 0.0
            depth = sum(by_state.get(s, 0) for s in UNFINISHED)
            return OutboxStats(depth=depth, oldest_age_seconds=max(0.0, age), by_state=by_state)

        return await self._read(read)

    async def message_ref(self, message_key: str) -> SlackMessageRef | None:
        def read(db: Database) -> SlackMessageRef | None:
            row = db.execute(
                "SELECT channel, ts FROM slack_messages WHERE message_key = ?", [message_key]
            ).fetchone()
            return SlackMessageRef(row[0], row[1]) if row else None

        return await self._read(read)
