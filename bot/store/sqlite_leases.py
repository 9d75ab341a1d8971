"""Leases for the work that must happen once, in SQLite (one process: held from the start,
but two processes pointed at one file by mistake still do not both send)."""

from __future__ import annotations

import time

from sqlite_utils import Database

from bot.domain.leases import Lease, claim
from bot.store.sqlite_base import SqliteBase


def read_lease(db: Database, name: str) -> Lease | None:
    row = db.execute(
        "SELECT holder, epoch, expires_at FROM leases WHERE name = ?", [name]
    ).fetchone()
    return Lease(name, str(row[0]), int(row[1]), float(row[2])) if row else None


def lease_holds(db: Database, lease: Lease) -> bool:
    """Inside a write: whether `lease` is still the one held (its holder, its epoch, unexpired)."""
    current = read_lease(db, lease.name)
    return (
        current is not None
        and current.holder == lease.holder
        and current.epoch == lease.epoch
        and current.expires_at > time.time()
    )


class LeaseStore(SqliteBase):
    async def hold_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        def write(db: Database) -> Lease | None:
            taken = claim(read_lease(db, name), name, holder, time.time(), ttl)
            if taken is not None:
                db.execute(
                    "INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                    " epoch = excluded.epoch, expires_at = excluded.expires_at",
                    [name, taken.holder, taken.epoch, taken.expires_at],
                )
            return taken

        return await self._write(write)

    async def release_lease(self, lease: Lease) -> None:
        def write(db: Database) -> None:
            db.execute(
                "UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ? AND epoch = ?",
                [lease.name, lease.holder, lease.epoch],
            )

        await self._write(write)

    async def lease(self, name: str) -> Lease | None:
        return await self._read(lambda db: read_lease(db, name))
