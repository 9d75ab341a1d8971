"""Webhook deliveries, alerts and alert groups, in SQLite."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from bot.store.sqlite_base import SqliteBase, _iso


class AlertStore(SqliteBase):
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
