"""Stored alerts page by page, newest first, by keyset, in PostgreSQL: a page starts below the
last id the previous one ended on, so alerts stored while a client pages neither repeat nor
push rows past it (as an offset does)."""

from __future__ import annotations

from typing import Any

from bot.store.alert_rows import api_alert
from bot.store.pg_base import Conn, PgBase


class AlertPageStore(PgBase):
    async def alert_page(
        self,
        *,
        status: str | None = None,
        limit: int = 100,
        before: int | None = None,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        async def read(conn: Conn) -> tuple[list[dict[str, Any]], int]:
            # One snapshot: the total and the page agree.
            where, params = ("WHERE status = $1", [status]) if status else ("", [])
            total = await conn.fetchval(f"SELECT count(*) FROM alerts {where}", *params)
            page_where, page_params = where, list[Any](params)
            if before is not None:
                page_params.append(before)
                page_where += (" AND" if where else "WHERE") + f" id < ${len(page_params)}"
            n = len(page_params)
            rows = await self._rows(
                conn,
                f"SELECT * FROM alerts {page_where} ORDER BY id DESC"
                f" LIMIT ${n + 1} OFFSET ${n + 2}",
                [*page_params, limit, offset],
            )
            return [api_alert(row) for row in rows], int(total)

        return await self._read(read)
