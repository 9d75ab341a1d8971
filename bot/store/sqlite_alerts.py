"""Webhook deliveries, alerts and alert groups, in SQLite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from bot.domain.alerts import LISTED_ALERTS, Alert, GroupSummary
from bot.store.alert_rows import (
    ALERT_SOURCES,
    DIGEST_OPEN_FOR,
    GROUP_FIELDS,
    alert_params,
    alert_record,
    api_alert,
    changed_group,
    extra_of,
    folded_summary,
    group_id_of,
    group_record,
    group_values,
    new_group_values,
    sent_alert,
    severity_of,
    stored_state,
)
from bot.store.columns import from_json_text, json_text
from bot.store.records import AlertGroupState, NewOutboxItem
from bot.store.sqlite_base import SqliteBase, _iso, _now
from bot.store.sqlite_outbox import insert_outbox_items
from bot.store.sqlite_pagerduty import store_pagerduty_event

# group_id_of is imported from here by callers that predate alert_rows.
__all__ = ["group_id_of", "mark_synced", "record_posted_state", "summary_of"]


def _stored_states(
    db: Database, group_key: str, alerts: Sequence[Mapping[str, Any]]
) -> dict[str, tuple[str, str]]:
    """(status, severity) of the delivery's alerts already stored, by fingerprint."""
    found: dict[str, tuple[str, str]] = {}
    fingerprints = [str(a.get("fingerprint", "")) for a in alerts]
    for chunk in range(0, len(fingerprints), 500):
        part = fingerprints[chunk : chunk + 500]
        for fp, status, labels in db.execute(
            "SELECT fingerprint, status, labels FROM alerts WHERE group_key = ?"
            f" AND fingerprint IN ({','.join('?' * len(part))})",
            [group_key, *part],
        ).fetchall():
            found[fp] = stored_state(status, labels)
    return found


def summary_of(db: Database, group_key: str) -> GroupSummary:
    """A group's summary folded from every stored alert: only for rows from before summaries."""
    return folded_summary(
        db.query("SELECT * FROM alerts WHERE group_key = ? ORDER BY id", [group_key])
    )


def mark_synced(
    db: Database,
    group_key: str,
    version: int,
    *,
    posted_state: Mapping[str, str],
    posted_view: str | None,
    channel: str | None,
    digest_key: str | None,
) -> bool:
    """Records that a thread or digest line now shows the group at `version`, and what it
    shows per alert; False when another sync already recorded this version or a later one."""
    cur = db.execute(
        "UPDATE alert_groups SET synced_version = ?, posted_state = ?, posted_view = ?,"
        " channel = ?, digest_key = ? WHERE group_key = ? AND synced_version < ?",
        [version, "{}", posted_view, channel, digest_key, group_key, version],
    )
    if cur.rowcount == 0:
        return False
    record_posted_state(db, group_key, posted_state)
    return True


def record_posted_state(db: Database, group_key: str, posted_state: Mapping[str, str]) -> None:
    """What a thread now shows of the alerts a sync read (fingerprint -> status), kept per
    alert, so that the next change compares against them without reading the rest."""
    db.conn.executemany(
        "UPDATE alerts SET posted_status = ? WHERE group_key = ? AND fingerprint = ?",
        [(status, group_key, fp) for fp, status in posted_state.items()],
    )


class AlertStore(SqliteBase):
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
        return await self._write(
            lambda db: self.write_delivery(db, source, delivery_id, body, received_at, kept)
        )

    @classmethod
    def write_delivery(
        cls,
        db: Database,
        source: str,
        delivery_id: str,
        body: Mapping[str, Any],
        received_at: datetime,
        kept: str | None,
    ) -> bool:
        """Inside the writer's transaction: the delivery's dedup row with the body as sent,
        then what it changes; False for a delivery already stored."""
        at = _iso(received_at)
        cur = db.execute(
            "INSERT OR IGNORE INTO webhook_deliveries"
            " (source, delivery_id, received_at, seen_at, body) VALUES (?, ?, ?, ?, ?)",
            [source, delivery_id, at, at, kept if kept is not None else json_text(body)],
        )
        if cur.rowcount == 0:
            # Still being sent: the retention prune must keep recognising it.
            db.execute(
                "UPDATE webhook_deliveries SET seen_at = ? WHERE source = ? AND delivery_id = ?",
                [at, source, delivery_id],
            )
            return False
        if source in ALERT_SOURCES:
            version, summary = cls._upsert_alerts(db, body, received_at)
            cls._upsert_group(db, body, received_at, version, summary)
        elif source == "pagerduty" and isinstance(body.get("event"), dict):
            store_pagerduty_event(db, body["event"])
        return True

    @staticmethod
    def _upsert_alerts(
        db: Database, body: Mapping[str, Any], at: datetime
    ) -> tuple[int, GroupSummary]:
        """Stores the delivery's alerts, each marked with the group's next version, and folds
        them into the group's summary: the work is the delivery's, whatever the group's size."""
        group_key = str(body.get("groupKey", ""))
        row = db.execute(
            "SELECT version, summary FROM alert_groups WHERE group_key = ?", [group_key]
        ).fetchone()
        version = (row[0] if row else 0) + 1
        if row is None:
            summary = GroupSummary()
        elif row[1]:
            summary = GroupSummary.from_json(from_json_text(row[1]))
        else:
            summary = summary_of(db, group_key)
        alerts = body.get("alerts", [])
        # A new group has no stored alerts to compare with.
        befores = {} if row is None else _stored_states(db, group_key, alerts)
        for alert in alerts:
            fingerprint = alert.get("fingerprint", "")
            extra = extra_of(alert)
            # A late retry of an older notification must not turn a resolved alert back to
            # firing; a real re-fire starts later than the instance that resolved.
            cur = db.execute(
                "INSERT INTO alerts (group_key, fingerprint, status, labels, annotations,"
                " starts_at, ends_at, generator_url, updated_at, extra, changed_version)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(group_key, fingerprint) DO UPDATE SET status=excluded.status,"
                " labels=excluded.labels, annotations=excluded.annotations,"
                " starts_at=excluded.starts_at, ends_at=excluded.ends_at,"
                " generator_url=excluded.generator_url, updated_at=excluded.updated_at,"
                " extra=excluded.extra, changed_version=excluded.changed_version"
                " WHERE NOT (alerts.status = 'resolved' AND excluded.status = 'firing'"
                " AND excluded.starts_at <= alerts.starts_at)",
                alert_params(group_key, alert, at, version, extra),
            )
            if cur.rowcount:
                sent = sent_alert(alert, extra)
                summary.add(sent, befores.get(fingerprint))
                befores[fingerprint] = (sent.status, severity_of(sent.labels))
        return version, summary

    @staticmethod
    def _upsert_group(
        db: Database, body: Mapping[str, Any], at: datetime, version: int, summary: GroupSummary
    ) -> None:
        group_key = str(body["groupKey"])
        values = group_values(body, at, version, summary)
        cur = db.execute(
            f"UPDATE alert_groups SET {', '.join(f'{k} = ?' for k in values)} WHERE group_key = ?",
            [*values.values(), group_key],
        )
        if cur.rowcount == 0:
            db.table("alert_groups").insert({**values, **new_group_values(group_key, at)})

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
            return [api_alert(row) for row in rows], int(total)

        return await self._read(read)

    # alert groups as Slack threads ---------------------------------------------------------

    def _groups(
        self,
        db: Database,
        where: str,
        params: Sequence[Any],
        limit: int = -1,
        source: str = "alert_groups",
    ) -> list[AlertGroupState]:
        rows = self._rows(
            db, f"SELECT * FROM {source} WHERE {where} ORDER BY rowid LIMIT ?", [*params, limit]
        )
        if not rows:
            return []
        keys = [r["group_key"] for r in rows]
        alerts: dict[str, list[Alert]] = {k: [] for k in keys}
        for chunk in range(0, len(keys), 500):
            part = keys[chunk : chunk + 500]
            for a in self._rows(
                db,
                f"SELECT * FROM alerts WHERE group_key IN ({','.join('?' * len(part))})"
                " ORDER BY id",
                part,
            ):
                alerts[a["group_key"]].append(alert_record(a))
        return [group_record(r, alerts[r["group_key"]]) for r in rows]

    def _changed_groups(self, db: Database, limit: int) -> list[AlertGroupState]:
        """Dirty groups with their summary, the alerts the parent lists and the alerts changed
        since the last sync: what a sync needs, whatever the size of the group."""
        rows = self._rows(
            db,
            # Without statistics SQLite would scan every group to keep rowid order.
            "SELECT * FROM alert_groups INDEXED BY alert_groups_dirty"
            " WHERE version > synced_version ORDER BY rowid LIMIT ?",
            [limit],
        )
        found = []
        for row in rows:
            key = row["group_key"]
            if not row["summary"]:
                found.extend(self._groups(db, "group_key = ?", [key]))
                continue
            listed = self._rows(
                db,
                "SELECT * FROM alerts WHERE group_key = ? AND status = 'firing'"
                " ORDER BY id LIMIT ?",
                [key, LISTED_ALERTS],
            ) or self._rows(
                db,
                "SELECT * FROM alerts WHERE group_key = ? ORDER BY id LIMIT ?",
                [key, LISTED_ALERTS],
            )
            changed = self._rows(
                db,
                "SELECT * FROM alerts WHERE group_key = ? AND changed_version > ? ORDER BY id",
                [key, row["synced_version"]],
            )
            found.append(changed_group(row, listed, changed))
        return found

    async def dirty_alert_groups(self, limit: int = 100) -> list[AlertGroupState]:
        """Groups whose thread does not yet show their latest state, oldest first."""
        return await self._read(lambda db: self._changed_groups(db, limit))

    async def alert_group(self, group_id: str) -> AlertGroupState | None:
        found = await self._read(lambda db: self._groups(db, "group_id = ?", [group_id]))
        return found[0] if found else None

    async def alert_group_by_dedup(self, dedup_hash: str) -> AlertGroupState | None:
        found = await self._read(lambda db: self._groups(db, "dedup_hash = ?", [dedup_hash]))
        return found[0] if found else None

    async def open_digest(self, channel: str, now: datetime) -> str | None:
        """The channel's digest still taking new groups (one touched in the last 30 min)."""

        def read(db: Database) -> str | None:
            row = db.execute(
                "SELECT digest_key, last_seen FROM alert_groups WHERE channel = ?"
                " AND digest_key IS NOT NULL ORDER BY last_seen DESC LIMIT 1",
                [channel],
            ).fetchone()
            if row and datetime.fromisoformat(row[1]) > now - DIGEST_OPEN_FOR:
                return str(row[0])
            return None

        return await self._read(read)

    async def channel_backlog(self, channel: str) -> int:
        """Posts still waiting for this channel: at 1 per second, the seconds of backlog."""

        def read(db: Database) -> int:
            return int(
                db.execute(
                    "SELECT count(*) FROM outbox WHERE channel = ? AND method = ?"
                    " AND state IN ('pending', 'in_flight')",
                    [channel, "chat.postMessage"],
                ).fetchone()[0]
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

        def write(db: Database) -> bool:
            synced = mark_synced(
                db,
                group_key,
                version,
                posted_state=posted_state,
                posted_view=posted_view,
                channel=channel,
                digest_key=digest_key,
            )
            if synced:
                insert_outbox_items(db, items, _now())
            return synced

        return await self._write(write)

    async def update_alert_group(self, group_key: str, **changes: Any) -> None:
        """Records an acknowledgement or a link; the thread's parent is redrawn for it."""
        unknown = set(changes) - GROUP_FIELDS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")

        def write(db: Database) -> None:
            db.execute(
                f"UPDATE alert_groups SET {', '.join(f'{k} = ?' for k in changes)},"
                " version = version + 1 WHERE group_key = ?",
                [*changes.values(), group_key],
            )

        await self._write(write)
