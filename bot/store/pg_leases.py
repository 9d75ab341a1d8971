"""Leases for the work that must happen once, in PostgreSQL: the replicas of one bot agree on
one holder through the database they share, with no other broker. Times are the database's
clock, so replicas whose clocks disagree still agree on when a lease expired."""

from __future__ import annotations

from bot.domain.leases import Lease, claim
from bot.store.pg_base import Conn, PgBase

DB_NOW = "SELECT extract(epoch FROM clock_timestamp())::double precision"


async def read_lease(conn: Conn, name: str, *, lock: bool = False) -> Lease | None:
    row = await conn.fetchrow(
        "SELECT holder, epoch, expires_at FROM leases WHERE name = $1"
        + (" FOR UPDATE" if lock else ""),
        name,
    )
    return Lease(name, row["holder"], int(row["epoch"]), float(row["expires_at"])) if row else None


async def lease_holds(conn: Conn, lease: Lease) -> bool:
    """Inside a write: whether `lease` is still the one held. The row is locked until the
    write commits, so no other replica can take the lease in between."""
    current = await read_lease(conn, lease.name, lock=True)
    return (
        current is not None
        and current.holder == lease.holder
        and current.epoch == lease.epoch
        and current.expires_at > float(await conn.fetchval(DB_NOW))
    )


class LeaseStore(PgBase):
    async def hold_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        async def write(conn: Conn) -> Lease | None:
            now = float(await conn.fetchval(DB_NOW))
            taken = claim(await read_lease(conn, name, lock=True), name, holder, now, ttl)
            if taken is not None:
                # Two replicas asking for a lease nobody has held yet both see no row: the
                # primary key lets one insert win, and the serializable retry reruns the other.
                await conn.execute(
                    "INSERT INTO leases (name, holder, epoch, expires_at) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
                    " epoch = excluded.epoch, expires_at = excluded.expires_at",
                    name,
                    taken.holder,
                    taken.epoch,
                    taken.expires_at,
                )
            return taken

        return await self._write(write)

    async def release_lease(self, lease: Lease) -> None:
        async def write(conn: Conn) -> None:
            await conn.execute(
                "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2 AND epoch = $3",
                lease.name,
                lease.holder,
                lease.epoch,
            )

        await self._write(write)

    async def lease(self, name: str) -> Lease | None:
        async def read(conn: Conn) -> Lease | None:
            return await read_lease(conn, name)

        return await self._read(read)
