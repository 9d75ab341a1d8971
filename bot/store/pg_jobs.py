"""Durable jobs in PostgreSQL: every replica sees the same rows, so a job whose holder died is
taken over by another. Claims run on the database's clock (as leases do), and replicas asking
for abandoned work at once each get a different job (`FOR UPDATE SKIP LOCKED`), never one
twice."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.domain.incident import Incident, NewIncident
from bot.store.columns import iso, now_iso
from bot.store.incident_rows import declared_event, incident_record, new_incident_columns
from bot.store.job_records import MAX_ERROR, REQUEST_KEY, Job, JobState, job_record
from bot.store.outbox_rows import outbox_record
from bot.store.pg_base import Conn, PgBase, affected
from bot.store.pg_incidents import append_chained, insert_returning
from bot.store.records import OutboxRow

RUNNING = JobState.RUNNING.value
# The database's clock, as leases use it: replicas whose clocks disagree agree on expiry.
NOW = "extract(epoch FROM clock_timestamp())::double precision"
# The claim a job was handed: its holder and its attempt ($1..$4 after the SET's own).
HOLDS = " WHERE id = $%d AND holder = $%d AND attempts = $%d AND state = $%d"


def _holds(job: Job, first: int) -> tuple[str, list[Any]]:
    return HOLDS % tuple(range(first, first + 4)), [job.id, job.holder, job.attempts, RUNNING]


async def declared_under(conn: Conn, request_key: str) -> int | None:
    # Matched here rather than by PostgreSQL's JSON operators, as find_event does: those
    # refuse a whole row whose data holds a \u0000 anywhere.
    rows = await conn.fetch(
        "SELECT incident_id, data FROM timeline_events WHERE kind = 'declared'"
        " AND strpos(data, $1) > 0 ORDER BY id",
        json.dumps(request_key),
    )
    for row in rows:
        if json.loads(row["data"] or "{}").get(REQUEST_KEY) == request_key:
            return int(row["incident_id"])
    return None


class JobStore(PgBase):
    async def start_job(
        self, kind: str, key: str, payload: Mapping[str, Any], holder: str, ttl: float
    ) -> Job | None:
        async def write(conn: Conn) -> Job | None:
            now = now_iso()
            # The same request at two replicas: the unique key lets one insert win, and the
            # serializable retry reruns the other, which then finds the key taken.
            row = await conn.fetchrow(
                "INSERT INTO jobs (kind, key, payload, state, holder, expires_at, attempts,"
                " created_at, updated_at) VALUES ($1, $2, $3, $4, $5,"
                f" ({NOW}) + $6, 1, $7, $7) ON CONFLICT (key) DO NOTHING RETURNING *",
                kind,
                key,
                json.dumps(dict(payload)),
                RUNNING,
                holder,
                float(ttl),
                now,
            )
            return job_record(row) if row is not None else None

        return await self._write(write)

    async def renew_job(self, job: Job, ttl: float) -> bool:
        async def write(conn: Conn) -> bool:
            where, params = _holds(job, 3)
            status = await conn.execute(
                f"UPDATE jobs SET expires_at = ({NOW}) + $1, updated_at = $2" + where,
                float(ttl),
                now_iso(),
                *params,
            )
            return affected(status) == 1

        return await self._write(write)

    async def take_abandoned_job(self, holder: str, ttl: float) -> Job | None:
        async def write(conn: Conn) -> Job | None:
            # SKIP LOCKED: a replica asking at the same moment passes over the row another is
            # taking and takes the next; the serializable retry settles anything else.
            row = await conn.fetchrow(
                f"SELECT id FROM jobs WHERE state = $1 AND expires_at <= ({NOW})"
                " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
                RUNNING,
            )
            if row is None:
                return None
            taken = await conn.fetchrow(
                f"UPDATE jobs SET holder = $1, expires_at = ({NOW}) + $2,"
                " attempts = attempts + 1, updated_at = $3 WHERE id = $4 AND state = $5"
                " RETURNING *",
                holder,
                float(ttl),
                now_iso(),
                row["id"],
                RUNNING,
            )
            return job_record(taken) if taken is not None else None

        return await self._write(write)

    async def finish_job(self, job: Job, state: JobState, error: str | None = None) -> bool:
        if state == JobState.RUNNING:
            raise ValueError("a job finishes done or failed")

        async def write(conn: Conn) -> bool:
            where, params = _holds(job, 4)
            status = await conn.execute(
                "UPDATE jobs SET state = $1, last_error = $2, updated_at = $3" + where,
                state.value,
                error[:MAX_ERROR] if error else None,
                now_iso(),
                *params,
            )
            return affected(status) == 1

        return await self._write(write)

    async def release_job(self, job: Job) -> bool:
        async def write(conn: Conn) -> bool:
            where, params = _holds(job, 2)
            status = await conn.execute(
                "UPDATE jobs SET expires_at = 0, updated_at = $1" + where, now_iso(), *params
            )
            return affected(status) == 1

        return await self._write(write)

    async def job(self, key: str) -> Job | None:
        async def read(conn: Conn) -> Job | None:
            row = await conn.fetchrow("SELECT * FROM jobs WHERE key = $1", key)
            return job_record(row) if row is not None else None

        return await self._read(read)

    # what a rerun finds of its first run -----------------------------------------------------

    async def declare_once(self, new: NewIncident, request_key: str) -> tuple[Incident, bool]:
        async def write(conn: Conn) -> tuple[Incident, bool]:
            # Serializable: two runs of one request at once both find nothing, and the one
            # that commits second is rerun, now finding the first one's incident.
            found = await declared_under(conn, request_key)
            if found is not None:
                row = await conn.fetchrow("SELECT * FROM incidents WHERE id = $1", found)
                assert row is not None
                return incident_record(dict(row)), False
            row = await insert_returning(conn, "incidents", new_incident_columns(new, now_iso()))
            event = declared_event(new)
            await append_chained(
                conn, row["id"], replace(event, data={**event.data, REQUEST_KEY: request_key})
            )
            return incident_record(row), True

        return await self._write(write)

    async def calls_since(self, method: str, channel: str, since: datetime) -> list[OutboxRow]:
        async def read(conn: Conn) -> list[OutboxRow]:
            rows = await self._rows(
                conn,
                "SELECT * FROM outbox WHERE method = $1 AND channel = $2"
                ' AND created_at COLLATE "C" >= $3 ORDER BY id',
                [method, channel, iso(since)],
            )
            return [outbox_record(r) for r in rows]

        return await self._read(read)
