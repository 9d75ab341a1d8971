"""Durable jobs in SQLite: the work after a request's answer, claimed by one holder at a time
and taken over once its holder stops renewing; and what a rerun job needs to find the work
its first run did (the incident a declaration made, the Slack calls it queued)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from bot.domain.incident import Incident, NewIncident
from bot.store.incident_rows import declared_event, incident_record, new_incident_columns
from bot.store.job_records import MAX_ERROR, REQUEST_KEY, Job, JobState, job_record
from bot.store.outbox_rows import outbox_record
from bot.store.records import OutboxRow
from bot.store.sqlite_base import SqliteBase, _iso, _last_id, _now
from bot.store.sqlite_incidents import _append_event

RUNNING = JobState.RUNNING.value


def _job(db: Database, job_id: int) -> Job:
    rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    return job_record(rows[0])


def _holds(job: Job) -> tuple[str, list[Any]]:
    """The claim `job` was handed: its holder and its attempt (a takeover adds one, so a
    holder that lost the job cannot act on it even if it takes it back later)."""
    return (
        " WHERE id = ? AND holder = ? AND attempts = ? AND state = ?",
        [job.id, job.holder, job.attempts, RUNNING],
    )


def declared_under(db: Database, request_key: str) -> int | None:
    row = db.execute(
        "SELECT incident_id FROM timeline_events WHERE kind = 'declared'"
        " AND json_extract(data, '$." + REQUEST_KEY + "') = ? ORDER BY id LIMIT 1",
        [request_key],
    ).fetchone()
    return int(row[0]) if row else None


class JobStore(SqliteBase):
    async def start_job(
        self, kind: str, key: str, payload: Mapping[str, Any], holder: str, ttl: float
    ) -> Job | None:
        def write(db: Database) -> Job | None:
            now = _now()
            cur = db.execute(
                "INSERT OR IGNORE INTO jobs (kind, key, payload, state, holder, expires_at,"
                " attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
                [
                    kind,
                    key,
                    json.dumps(dict(payload)),
                    RUNNING,
                    holder,
                    time.time() + ttl,
                    now,
                    now,
                ],
            )
            if cur.rowcount != 1:
                return None
            assert cur.lastrowid is not None
            return _job(db, cur.lastrowid)

        return await self._write(write)

    async def renew_job(self, job: Job, ttl: float) -> bool:
        def write(db: Database) -> bool:
            where, params = _holds(job)
            cur = db.execute(
                "UPDATE jobs SET expires_at = ?, updated_at = ?" + where,
                [time.time() + ttl, _now(), *params],
            )
            return bool(cur.rowcount == 1)

        return await self._write(write)

    async def take_abandoned_job(self, holder: str, ttl: float) -> Job | None:
        def write(db: Database) -> Job | None:
            now = time.time()
            row = db.execute(
                "SELECT id FROM jobs WHERE state = ? AND expires_at <= ? ORDER BY id LIMIT 1",
                [RUNNING, now],
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET holder = ?, expires_at = ?, attempts = attempts + 1,"
                " updated_at = ? WHERE id = ?",
                [holder, now + ttl, _now(), row[0]],
            )
            return _job(db, int(row[0]))

        return await self._write(write)

    async def finish_job(self, job: Job, state: JobState, error: str | None = None) -> bool:
        if state == JobState.RUNNING:
            raise ValueError("a job finishes done or failed")

        def write(db: Database) -> bool:
            where, params = _holds(job)
            cur = db.execute(
                "UPDATE jobs SET state = ?, last_error = ?, updated_at = ?" + where,
                [state.value, error[:MAX_ERROR] if error else None, _now(), *params],
            )
            return bool(cur.rowcount == 1)

        return await self._write(write)

    async def release_job(self, job: Job) -> bool:
        def write(db: Database) -> bool:
            where, params = _holds(job)
            cur = db.execute(
                "UPDATE jobs SET expires_at = 0, updated_at = ?" + where, [_now(), *params]
            )
            return bool(cur.rowcount == 1)

        return await self._write(write)

    async def job(self, key: str) -> Job | None:
        def read(db: Database) -> Job | None:
            rows = self._rows(db, "SELECT * FROM jobs WHERE key = ?", [key])
            return job_record(rows[0]) if rows else None

        return await self._read(read)

    # what a rerun finds of its first run -----------------------------------------------------

    async def declare_once(self, new: NewIncident, request_key: str) -> tuple[Incident, bool]:
        def write(db: Database) -> tuple[Incident, bool]:
            table = db.table("incidents")
            found = declared_under(db, request_key)
            if found is not None:
                return incident_record(table.get(found)), False
            table.insert(new_incident_columns(new, _now()))
            incident_id = _last_id(table)
            event = declared_event(new)
            _append_event(
                db, incident_id, replace(event, data={**event.data, REQUEST_KEY: request_key})
            )
            return incident_record(table.get(incident_id)), True

        return await self._write(write)

    async def calls_since(self, method: str, channel: str, since: datetime) -> list[OutboxRow]:
        def read(db: Database) -> list[OutboxRow]:
            rows = self._rows(
                db,
                "SELECT * FROM outbox WHERE method = ? AND channel = ? AND created_at >= ?"
                " ORDER BY id",
                [method, channel, _iso(since)],
            )
            return [outbox_record(r) for r in rows]

        return await self._read(read)
