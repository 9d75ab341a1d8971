"""Alerts and alert groups in PostgreSQL: storing deliveries (written in
pg_alert_writes, committed together by pg_delivery_batches) and reading what a thread, a
digest and the API show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.domain.alerts import LISTED_ALERTS, Alert
from bot.store.alert_rows import (
    ALERT_SOURCES,
    DIGEST_OPEN_FOR,
    GROUP_FIELDS,
    alert_record,
    api_alert,
    changed_group,
    group_record,
)
from bot.store.columns import json_text, now_iso
from bot.store.pg_alert_writes import Delivery, RefusedDelivery, write_batch, write_delivery
from bot.store.pg_base import Conn, PgBase, affected
from bot.store.pg_delivery_batches import DeliveryBatches
from bot.store.pg_outbox import insert_outbox_items
from bot.store.records import AlertGroupState, NewOutboxItem


async def mark_synced(
    conn: Conn,
    group_key: str,
    version: int,
    *,
    posted_state: Mapping[str, str],
    posted_view: str | None,
    channel: str | None,
    digest_key: str | None,
) -> bool:
    """Records that a thread or digest line now shows the group at `version`, and what it
    shows per alert; False when another sync already recorded this version or a later one.
    Two replicas completing the same sync meet on the group's row lock: the second sees the
    first's version and records nothing."""
    status = await conn.execute(
        "UPDATE alert_groups SET synced_version = $1, posted_state = $2, posted_view = $3,"
        " channel = $4, digest_key = $5 WHERE group_key = $6 AND synced_version < $7",
        version,
        "{}",
        posted_view,
        channel,
        digest_key,
        group_key,
        version,
    )
    if affected(status) == 0:
        return False
    await record_posted_state(conn, group_key, posted_state)
    return True


async def record_posted_state(conn: Conn, group_key: str, posted_state: Mapping[str, str]) -> None:
    """What a thread now shows of the alerts a sync read (fingerprint -> status), kept per
    alert, so that the next change compares against them without reading the rest."""
    if not posted_state:
        return
    await conn.execute(
        "UPDATE alerts SET posted_status = shown.status"
        " FROM unnest($2::text[], $3::text[]) AS shown (fingerprint, status)"
        " WHERE alerts.group_key = $1 AND alerts.fingerprint = shown.fingerprint",
        group_key,
        list(posted_state),
        list(posted_state.values()),
    )


async def _groups(
    conn: Conn, where: str, params: Sequence[Any], limit: int | None = None
) -> list[AlertGroupState]:
    """Groups matching `where` (its parameters numbered from $1), each with every alert."""
    rows = await PgBase._rows(
        conn,
        f"SELECT * FROM alert_groups WHERE {where} ORDER BY seq LIMIT ${len(params) + 1}",
        [*params, limit],
    )
    if not rows:
        return []
    keys = [r["group_key"] for r in rows]
    alerts: dict[str, list[Alert]] = {k: [] for k in keys}
    for a in await PgBase._rows(
        conn, "SELECT * FROM alerts WHERE group_key = ANY($1::text[]) ORDER BY id", [keys]
    ):
        alerts[a["group_key"]].append(alert_record(a))
    return [group_record(r, alerts[r["group_key"]]) for r in rows]


async def _changed_group(conn: Conn, row: Mapping[str, Any]) -> AlertGroupState:
    key = row["group_key"]
    if not row["summary"]:
        [whole] = await _groups(conn, "group_key = $1", [key])
        return whole
    listed = await PgBase._rows(
        conn,
        "SELECT * FROM alerts WHERE group_key = $1 AND status = 'firing' ORDER BY id LIMIT $2",
        [key, LISTED_ALERTS],
    ) or await PgBase._rows(
        conn,
        "SELECT * FROM alerts WHERE group_key = $1 ORDER BY id LIMIT $2",
        [key, LISTED_ALERTS],
    )
    changed = await PgBase._rows(
        conn,
        "SELECT * FROM alerts WHERE group_key = $1 AND changed_version > $2 ORDER BY id",
        [key, row["synced_version"]],
    )
    return changed_group(row, listed, changed)


async def _changed_groups(conn: Conn, limit: int) -> list[AlertGroupState]:
    """Dirty groups with their summary, the alerts the parent lists and the alerts changed
    since the last sync: what a sync needs, whatever the size of the group."""
    rows = await PgBase._rows(
        conn,
        "SELECT * FROM alert_groups WHERE version > synced_version ORDER BY seq LIMIT $1",
        [limit],
    )
    return [await _changed_group(conn, row) for row in rows]


class AlertStore(PgBase):
    _batches: DeliveryBatches | None = None
    # Batches the database refused written together, and so written again one by one.
    batches_rewritten = 0

    async def record_delivery(
        self,
        source: str,
        delivery_id: str,
        body: Mapping[str, Any],
        received_at: datetime,
        *,
        raw: bytes | None = None,
    ) -> bool:
        kept = raw.decode() if raw is not None else json_text(body)
        if source in ALERT_SOURCES:
            delivery = Delivery(source, delivery_id, body, received_at, kept)
            return await self._delivery_batches().submit(delivery)
        return await self._write(
            lambda conn: write_delivery(conn, source, delivery_id, body, received_at, kept)
        )

    async def _write_deliveries(self, batch: Sequence[Delivery]) -> list[bool | Exception]:
        # Nearly every batch has no refused delivery: written together first.
        try:
            return await self._write(
                lambda conn: write_batch(conn, batch, isolated=False), isolation="read_committed"
            )
        except RefusedDelivery:
            self.batches_rewritten += 1
            return await self._write(
                lambda conn: write_batch(conn, batch, isolated=True), isolation="read_committed"
            )

    def _delivery_batches(self) -> DeliveryBatches:
        if self._batches is None:
            self._batches = DeliveryBatches(self._write_deliveries)
        return self._batches

    async def list_alerts(
        self, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        async def read(conn: Conn) -> tuple[list[dict[str, Any]], int]:
            where, params = ("WHERE status = $1", [status]) if status else ("", [])
            n = len(params)
            total = await conn.fetchval(f"SELECT count(*) FROM alerts {where}", *params)
            rows = await self._rows(
                conn,
                f"SELECT * FROM alerts {where} ORDER BY id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
                [*params, limit, offset],
            )
            return [api_alert(row) for row in rows], int(total)

        return await self._read(read)

    # alert groups as Slack threads ---------------------------------------------------------

    async def dirty_alert_groups(self, limit: int = 100) -> list[AlertGroupState]:
        """Groups whose thread does not yet show their latest state, oldest first."""
        return await self._read(lambda conn: _changed_groups(conn, limit))

    async def alert_group(self, group_id: str) -> AlertGroupState | None:
        found = await self._read(lambda conn: _groups(conn, "group_id = $1", [group_id]))
        return found[0] if found else None

    async def alert_group_by_dedup(self, dedup_hash: str) -> AlertGroupState | None:
        found = await self._read(lambda conn: _groups(conn, "dedup_hash = $1", [dedup_hash]))
        return found[0] if found else None

    async def open_digest(self, channel: str, now: datetime) -> str | None:
        """The channel's digest still taking new groups (one touched in the last 30 min)."""

        async def read(conn: Conn) -> str | None:
            row = await conn.fetchrow(
                "SELECT digest_key, last_seen FROM alert_groups WHERE channel = $1"
                ' AND digest_key IS NOT NULL ORDER BY last_seen COLLATE "C" DESC LIMIT 1',
                channel,
            )
            if row and datetime.fromisoformat(row["last_seen"]) > now - DIGEST_OPEN_FOR:
                return str(row["digest_key"])
            return None

        return await self._read(read)

    async def channel_backlog(self, channel: str) -> int:
        """Posts still waiting for this channel: at 1 per second, the seconds of backlog."""

        async def read(conn: Conn) -> int:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE channel = $1 AND method = $2"
                    " AND state IN ('pending', 'in_flight')",
                    channel,
                    "chat.postMessage",
                )
            )

        return await self._read(read)

    async def complete_alert_sync(
        self,
        group_key: str,
        version: int,
        *,
        items: Sequence[NewOutboxItem],
        posted_state: Mapping[str, str],
        posted_view: str | None,
        channel: str | None,
        digest_key: str | None,
    ) -> bool:
        """Queues the thread's messages and records what they show, in one transaction, so a
        crash can neither lose nor repeat them. False if another sync got there first."""

        async def write(conn: Conn) -> bool:
            synced = await mark_synced(
                conn,
                group_key,
                version,
                posted_state=posted_state,
                posted_view=posted_view,
                channel=channel,
                digest_key=digest_key,
            )
            if synced:
                await insert_outbox_items(conn, items, now_iso())
            return synced

        return await self._write(write)

    async def update_alert_group(self, group_key: str, **changes: Any) -> None:
        """Records an acknowledgement or a link; the thread's parent is redrawn for it."""
        unknown = set(changes) - GROUP_FIELDS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        sets = ", ".join(f"{k} = ${n}" for n, k in enumerate(changes, start=1))

        async def write(conn: Conn) -> None:
            await conn.execute(
                f"UPDATE alert_groups SET {sets}, version = version + 1"
                f" WHERE group_key = ${len(changes) + 1}",
                *changes.values(),
                group_key,
            )

        await self._write(write)
