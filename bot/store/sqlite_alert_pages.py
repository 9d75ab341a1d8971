"""Stored alerts page by page, newest first, by keyset: a page starts below the last id the
previous one ended on, so alerts stored while a client pages neither repeat nor push rows
past it (as an offset does)."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from bot.store.alert_rows import api_alert
from bot.store.sqlite_base import SqliteBase


class AlertPageStore(SqliteBase):
    async def alert_page(
        self,
        *,
        status: str | None = None,
        limit: int = 100,
        before: int | None = None,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        def read(db: Database) -> tuple[list[dict[str, Any]], int]:
            where, params = ("WHERE status = ?", [status]) if status else ("", [])
            total = db.execute(f"SELECT count(*) FROM alerts {where}", params).fetchone()[0]
            page_where, page_params = where, list[Any](params)
            if before is not None:
                page_where += (" AND" if where else "WHERE") + " id < ?"
                page_params.append(before)
            rows = self._rows(
                db,
                f"SELECT * FROM alerts {page_where} ORDER BY id DESC LIMIT ? OFFSET ?",
                [*page_params, limit, offset],
            )
            return [api_alert(row) for row in rows], int(total)

        return await self._read(read)
