"""Alert-storm digests in SQLite: each member group's rendered line, kept as the group syncs.

A change to one group rewrites its line and redraws only the message (page) holding it, plus
the first message when the digest's totals moved: never a read of every member group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlite_utils import Database

from bot.store.digest_records import PAGE_LINES, DigestLine, DigestPage, DigestRender
from bot.store.records import NewOutboxItem
from bot.store.sqlite_alerts import mark_synced
from bot.store.sqlite_base import SqliteBase, _now
from bot.store.sqlite_outbox import insert_outbox_items


def _page(db: Database, digest_key: str, channel: str, page: int, new: bool) -> DigestPage:
    lines = [
        str(r[0])
        for r in db.execute(
            "SELECT line FROM digest_lines WHERE digest_key = ? AND page = ? ORDER BY position",
            [digest_key, page],
        ).fetchall()
    ]
    if page != 0:  # only the first message shows the totals
        return DigestPage(digest_key, channel, page, lines, 0, 0, new)
    groups, firing = db.execute(
        "SELECT count(*), coalesce(sum(status = 'firing'), 0) FROM digest_lines"
        " WHERE digest_key = ?",
        [digest_key],
    ).fetchone()
    return DigestPage(digest_key, channel, page, lines, int(groups), int(firing), new)


class DigestStore(SqliteBase):
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

        def write(db: Database) -> bool:
            if not mark_synced(
                db,
                group_key,
                version,
                posted_state=posted_state,
                posted_view=posted_view,
                channel=channel,
                digest_key=digest_key if line is not None else None,
            ):
                return False
            pages = self._store_line(db, digest_key, group_key, line)
            if not pages:
                insert_outbox_items(db, then, _now())
                return True
            row = db.execute(
                "SELECT pages_posted FROM digests WHERE digest_key = ?", [digest_key]
            ).fetchone()
            posted = int(row[0]) if row else 0
            items = [render(_page(db, digest_key, channel, p, p >= posted)) for p in sorted(pages)]
            db.execute(
                "UPDATE digests SET pages_posted = ? WHERE digest_key = ?",
                [max(posted, max(pages) + 1), digest_key],
            )
            insert_outbox_items(db, [*items, *then], _now())
            return True

        return await self._write(write)

    @staticmethod
    def _store_line(
        db: Database, digest_key: str, group_key: str, line: DigestLine | None
    ) -> set[int]:
        """Writes the line; the pages to redraw. The first page shows the digest's totals, so
        it is redrawn whenever a group joins, leaves or changes between firing and resolved."""
        old = db.execute(
            "SELECT page, status, line FROM digest_lines WHERE group_key = ? AND digest_key = ?",
            [group_key, digest_key],
        ).fetchone()
        if line is None:
            if old is None:
                return set()
            db.execute("DELETE FROM digest_lines WHERE group_key = ?", [group_key])
            return {int(old[0]), 0}
        if old is not None:
            if (old[1], old[2]) == (line.status, line.text):
                return set()
            db.execute(
                "UPDATE digest_lines SET status = ?, line = ? WHERE group_key = ?",
                [line.status, line.text, group_key],
            )
            return {int(old[0]), 0} if old[1] != line.status else {int(old[0])}
        db.execute(
            "INSERT INTO digests (digest_key, next_position, pages_posted) VALUES (?, 0, 0)"
            " ON CONFLICT(digest_key) DO NOTHING",
            [digest_key],
        )
        # Positions only grow (a leaving group leaves a gap), so a line never moves to
        # another message and each message is posted once, when its first line arrives.
        position = int(
            db.execute(
                "UPDATE digests SET next_position = next_position + 1 WHERE digest_key = ?"
                " RETURNING next_position - 1",
                [digest_key],
            ).fetchone()[0]
        )
        page = position // PAGE_LINES
        db.execute(
            "INSERT OR REPLACE INTO digest_lines (group_key, digest_key, position, page, status,"
            " line) VALUES (?, ?, ?, ?, ?, ?)",
            [group_key, digest_key, position, page, line.status, line.text],
        )
        return {page, 0}
