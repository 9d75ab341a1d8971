"""The public status page's rows in PostgreSQL: published incidents, public updates,
maintenances (the SQLite store's columns, so `store copy` moves them unchanged)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.domain.publication import (
    Maintenance,
    NewMaintenance,
    Opening,
    PublicIncident,
    PublicStatus,
)
from bot.store.columns import iso
from bot.store.pg_base import Conn, PgBase
from bot.store.pg_incidents import insert_returning, storable
from bot.store.status_rows import (
    MOST,
    maintenance_columns,
    maintenance_record,
    opening_columns,
    progress_columns,
    reopening_columns,
    update_columns,
    version_text,
    with_updates,
)


async def _published(conn: Conn, where: str, params: list[Any]) -> list[PublicIncident]:
    rows = [
        dict(r) for r in await conn.fetch(f"SELECT * FROM status_incidents WHERE {where}", *params)
    ]
    if not rows:
        return []
    updates = await conn.fetch(
        "SELECT * FROM status_updates WHERE status_incident_id = ANY($1::bigint[])",
        [r["id"] for r in rows],
    )
    return with_updates(rows, [dict(u) for u in updates])


async def _set(conn: Conn, row_id: int, columns: Mapping[str, Any]) -> None:
    values = storable(columns)
    sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(values, start=2))
    await conn.execute(
        f"UPDATE status_incidents SET {sets} WHERE id = $1", row_id, *values.values()
    )


class StatusPageStore(PgBase):
    async def publish(
        self,
        incident_id: int,
        status: PublicStatus,
        body: str,
        at: datetime,
        opening: Opening | None = None,
    ) -> PublicIncident | None:
        async def write(conn: Conn) -> PublicIncident | None:
            found = await conn.fetchval(
                "SELECT id FROM status_incidents WHERE incident_id = $1", incident_id
            )
            if found is not None:
                row_id = int(found)
                if opening is not None:
                    await _set(conn, row_id, reopening_columns(opening))
            elif opening is None:
                return None
            else:
                row = await insert_returning(
                    conn, "status_incidents", opening_columns(incident_id, opening, at)
                )
                row_id = int(row["id"])
            await _set(conn, row_id, progress_columns(status, at))
            await insert_returning(conn, "status_updates", update_columns(row_id, status, body, at))
            return (await _published(conn, "id = $1", [row_id]))[0]

        return await self._write(write)

    async def published_incident(self, incident_id: int) -> PublicIncident | None:
        async def read(conn: Conn) -> PublicIncident | None:
            found = await _published(conn, "incident_id = $1", [incident_id])
            return found[0] if found else None

        return await self._read(read)

    async def public_incident(self, public_id: str) -> PublicIncident | None:
        async def read(conn: Conn) -> PublicIncident | None:
            found = await _published(conn, "public_id = $1", [public_id.replace("\x00", "")])
            return found[0] if found else None

        return await self._read(read)

    async def public_incidents(self, since: datetime) -> list[PublicIncident]:
        async def read(conn: Conn) -> list[PublicIncident]:
            return await _published(
                conn,
                "id IN (SELECT id FROM status_incidents WHERE status != 'resolved'"
                " OR created_at >= $1 ORDER BY id DESC LIMIT $2) ORDER BY id DESC",
                [iso(since), MOST],
            )

        return await self._read(read)

    async def add_maintenance(self, new: NewMaintenance, at: datetime) -> Maintenance:
        async def write(conn: Conn) -> Maintenance:
            row = await insert_returning(conn, "maintenances", maintenance_columns(new, at))
            return maintenance_record(row)

        return await self._write(write)

    async def maintenances(self, ending_after: datetime) -> list[Maintenance]:
        async def read(conn: Conn) -> list[Maintenance]:
            rows = await self._rows(
                conn,
                "SELECT * FROM maintenances WHERE ends_at >= $1 ORDER BY starts_at, id LIMIT $2",
                [iso(ending_after), MOST],
            )
            return [maintenance_record(r) for r in rows]

        return await self._read(read)

    async def status_page_version(self) -> str:
        async def read(conn: Conn) -> str:
            row = await conn.fetchrow(
                "SELECT (SELECT max(id) FROM status_updates) AS u,"
                " (SELECT max(id) FROM maintenances) AS m"
            )
            assert row is not None
            return version_text(row["u"], row["m"])

        return await self._read(read)
