"""Alert-storm digests in PostgreSQL: each member group's rendered line, kept as the group syncs.

A change to one group rewrites its line and redraws only the message (page) holding it, plus
the first message when the digest's totals moved: never a read of every member group. Member
groups syncing on two replicas at once take positions one after the other (the digest's row
is locked by the position counter), so no two lines share a place and no message is posted
twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.store.columns import now_iso
from bot.store.digest_records import PAGE_LINES, DigestLine, DigestPage, DigestRender
from bot.store.pg_alerts import mark_synced
from bot.store.pg_base import Conn, PgBase
from bot.store.pg_outbox import insert_outbox_items
from bot.store.records import NewOutboxItem


async def _page(conn: Conn, digest_key: str, channel: str, page: int, new: bool) -> DigestPage:
    lines = [
        str(r["line"])
        for r in await conn.fetch(
            "SELECT line FROM digest_lines WHERE digest_key = $1 AND page = $2 ORDER BY position",
            digest_key,
            page,
        )
    ]
    if page != 0:  # only the first message shows the totals
        return DigestPage(digest_key, channel, page, lines, 0, 0, new)
    totals = await conn.fetchrow(
        "SELECT count(*) AS groups, count(*) FILTER (WHERE status = 'firing') AS firing"
        " FROM digest_lines WHERE digest_key = $1",
        digest_key,
    )
    return DigestPage(
        digest_key, channel, page, lines, int(totals["groups"]), int(totals["firing"]), new
    )


async def _store_line(
    conn: Conn, digest_key: str, group_key: str, line: DigestLine | None
) -> set[int]:
    """Writes the line; the pages to redraw. The first page shows the digest's totals, so it
    is redrawn whenever a group joins, leaves or changes between firing and resolved. The
    group's row is already locked by mark_synced: no other sync of it runs beside this."""
    old = await conn.fetchrow(
        "SELECT page, status, line FROM digest_lines WHERE group_key = $1 AND digest_key = $2",
        group_key,
        digest_key,
    )
    if line is None:
        if old is None:
            return set()
        await conn.execute("DELETE FROM digest_lines WHERE group_key = $1", group_key)
        return {int(old["page"]), 0}
    if old is not None:
        if (old["status"], old["line"]) == (line.status, line.text):
            return set()
        await conn.execute(
            "UPDATE digest_lines SET status = $1, line = $2 WHERE group_key = $3",
            line.status,
            line.text,
            group_key,
        )
        return {int(old["page"]), 0} if old["status"] != line.status else {int(old["page"])}
    position = await _next_position(conn, digest_key)
    page = position // PAGE_LINES
    await conn.execute(
        "INSERT INTO digest_lines (group_key, digest_key, position, page, status, line)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (group_key) DO UPDATE SET"
        " digest_key = excluded.digest_key, position = excluded.position,"
        " page = excluded.page, status = excluded.status, line = excluded.line",
        group_key,
        digest_key,
        position,
        page,
        line.status,
        line.text,
    )
    return {page, 0}


async def _next_position(conn: Conn, digest_key: str) -> int:
    """Positions only grow (a leaving group leaves a gap), so a line never moves to another
    message and each message is posted once, when its first line arrives."""
    await conn.execute(
        "INSERT INTO digests (digest_key, next_position, pages_posted) VALUES ($1, 0, 0)"
        " ON CONFLICT (digest_key) DO NOTHING",
        digest_key,
    )
    return int(
        await conn.fetchval(
            "UPDATE digests SET next_position = next_position + 1 WHERE digest_key = $1"
            " RETURNING next_position - 1",
            digest_key,
        )
    )


async def _redraw(
    conn: Conn, digest_key: str, channel: str, pages: set[int], render: DigestRender
) -> list[NewOutboxItem]:
    """The redrawn messages; those not posted yet become posts, counted as posted now."""
    posted = int(
        await conn.fetchval("SELECT pages_posted FROM digests WHERE digest_key = $1", digest_key)
        or 0
    )
    items = [render(await _page(conn, digest_key, channel, p, p >= posted)) for p in sorted(pages)]
    await conn.execute(
        "UPDATE digests SET pages_posted = $1 WHERE digest_key = $2",
        max(posted, max(pages) + 1),
        digest_key,
    )
    return items


class DigestStore(PgBase):
    async def complete_digest_sync(
        self,
        group_key: str,
        version: int,
        *,
        digest_key: str,
        channel: str,
        line: DigestLine | None,
        render: DigestRender,
        posted_state: Mapping[str, str],
        posted_view: str | None,
        then: Sequence[NewOutboxItem] = (),
    ) -> bool:
        """Records a member group's sync: its new line (`line`), or its leaving the digest
        (`line` None, `then` queuing its own thread after the redrawn message, in the same
        transaction, so the group is never live in both). False if another sync got there."""

        async def write(conn: Conn) -> bool:
            if not await mark_synced(
                conn,
                group_key,
                version,
                posted_state=posted_state,
                posted_view=posted_view,
                channel=channel,
                digest_key=digest_key if line is not None else None,
            ):
                return False
            pages = await _store_line(conn, digest_key, group_key, line)
            items = await _redraw(conn, digest_key, channel, pages, render) if pages else []
            await insert_outbox_items(conn, [*items, *then], now_iso())
            return True

        return await self._write(write)
