"""The public status page's rows in SQLite: published incidents, public updates, maintenances."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlite_utils import Database

from bot.domain.publication import (
    Maintenance,
    NewMaintenance,
    Opening,
    PublicIncident,
    PublicStatus,
)
from bot.store.columns import iso
from bot.store.sqlite_base import SqliteBase, _last_id
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


def _published(db: Database, where: str, params: list[Any]) -> list[PublicIncident]:
    rows = list(db.query(f"SELECT * FROM status_incidents WHERE {where}", params))
    if not rows:
        return []
    marks = ", ".join("?" for _ in rows)
    updates = db.query(
        f"SELECT * FROM status_updates WHERE status_incident_id IN ({marks})",
        [r["id"] for r in rows],
    )
    return with_updates(rows, updates)


class StatusPageStore(SqliteBase):
    async def publish(
        self,
        incident_id: int,
        status: PublicStatus,
        body: str,
        at: datetime,
        opening: Opening | None = None,
    ) -> PublicIncident | None:
        def write(db: Database) -> PublicIncident | None:
            table = db.table("status_incidents")
            found = list(
                db.query("SELECT id FROM status_incidents WHERE incident_id = ?", [incident_id])
            )
            if found:
                row_id = int(found[0]["id"])
                if opening is not None:
                    table.update(row_id, reopening_columns(opening))
            elif opening is None:
                return None
            else:
                table.insert(opening_columns(incident_id, opening, at))
                row_id = _last_id(table)
            table.update(row_id, progress_columns(status, at))
            db.table("status_updates").insert(update_columns(row_id, status, body, at))
            return _published(db, "id = ?", [row_id])[0]

        return await self._write(write)

    async def published_incident(self, incident_id: int) -> PublicIncident | None:
        def read(db: Database) -> PublicIncident | None:
            found = _published(db, "incident_id = ?", [incident_id])
            return found[0] if found else None

        return await self._read(read)

    async def public_incident(self, public_id: str) -> PublicIncident | None:
        def read(db: Database) -> PublicIncident | None:
            found = _published(db, "public_id = ?", [public_id])
            return found[0] if found else None

        return await self._read(read)

    async def public_incidents(self, since: datetime) -> list[PublicIncident]:
        def read(db: Database) -> list[PublicIncident]:
            return _published(
                db,
                "id IN (SELECT id FROM status_incidents WHERE status != 'resolved'"
                " OR created_at >= ? ORDER BY id DESC LIMIT ?) ORDER BY id DESC",
                [iso(since), MOST],
            )

        return await self._read(read)

    async def add_maintenance(self, new: NewMaintenance, at: datetime) -> Maintenance:
        def write(db: Database) -> Maintenance:
            table = db.table("maintenances")
            table.insert(maintenance_columns(new, at))
            return maintenance_record(table.get(_last_id(table)))

        return await self._write(write)

    async def maintenances(self, ending_after: datetime) -> list[Maintenance]:
        def read(db: Database) -> list[Maintenance]:
            rows = self._rows(
                db,
                "SELECT * FROM maintenances WHERE ends_at >= ? ORDER BY starts_at, id LIMIT ?",
                [iso(ending_after), MOST],
            )
            return [maintenance_record(r) for r in rows]

        return await self._read(read)

    async def status_page_version(self) -> str:
        def read(db: Database) -> str:
            row = db.execute(
                "SELECT (SELECT max(id) FROM status_updates), (SELECT max(id) FROM maintenances)"
            ).fetchone()
            return version_text(row[0], row[1])

        return await self._read(read)
