"""Webhook deliveries, alerts and alert groups, in PostgreSQL.

Replicas share the rows: a delivery is stored once by the (source, delivery_id) key, and a
delivery to a group holds the group's lock, so two deliveries to one group commit one after
the other (the later one reading the earlier's counts and summary), never side by side.

An alert delivery runs at READ COMMITTED under those locks, not SERIALIZABLE: in a storm the
deliveries to different groups touch the same heap and index pages of `alerts`, and
serializable's page-level read tracking then aborts them as if they conflicted, faster than
retries get through (three replicas, forty growing groups: the twelfth retry failed). The
group's locks already give each delivery the group to itself, which is all it reads.

Alert deliveries arriving together share a transaction (group commit), each in a savepoint,
as the SQLite writer batches them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    group_record,
    group_values,
    new_group_values,
    sent_alert,
    severity_of,
    stored_state,
)
from bot.store.base import StoreUnavailable
from bot.store.columns import from_json_text, iso, json_text, now_iso
from bot.store.pg_base import Conn, PgBase, _unavailable, affected, conflict, without_nul
from bot.store.pg_outbox import insert_outbox_items
from bot.store.pg_pagerduty import store_pagerduty_event
from bot.store.records import AlertGroupState, NewOutboxItem

# Deliveries a transaction takes at most, and transactions of them writing at once (of the
# pool's connections).
BATCH_LIMIT = 100
PARALLEL_BATCHES = 4

# The first key of the advisory locks a delivery takes on its group (the second is a hash of
# the group key): the two-key space is apart from the migrations' single key.
GROUP_LOCKS = 0x1BC1

# A late retry of an older notification must not turn a resolved alert back to firing; a real
# re-fire starts later than the instance that resolved. Times compare bytewise, as in SQLite.
UPSERT_ALERT = (
    "INSERT INTO alerts (group_key, fingerprint, status, labels, annotations,"
    " starts_at, ends_at, generator_url, updated_at, extra, changed_version)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    " ON CONFLICT (group_key, fingerprint) DO UPDATE SET status = excluded.status,"
    " labels = excluded.labels, annotations = excluded.annotations,"
    " starts_at = excluded.starts_at, ends_at = excluded.ends_at,"
    " generator_url = excluded.generator_url, updated_at = excluded.updated_at,"
    " extra = excluded.extra, changed_version = excluded.changed_version"
    " WHERE NOT (alerts.status = 'resolved' AND excluded.status = 'firing'"
    ' AND excluded.starts_at COLLATE "C" <= alerts.starts_at)'
)


async def _stored_states(
    conn: Conn, group_key: str, alerts: Sequence[Mapping[str, Any]]
) -> dict[str, tuple[str, str]]:
    """(status, severity) of the delivery's alerts already stored, by fingerprint."""
    fingerprints = [without_nul(str(a.get("fingerprint", ""))) for a in alerts]
    rows = await conn.fetch(
        "SELECT fingerprint, status, labels FROM alerts"
        " WHERE group_key = $1 AND fingerprint = ANY($2::text[])",
        group_key,
        fingerprints,
    )
    return {row["fingerprint"]: stored_state(row["status"], row["labels"]) for row in rows}


async def summary_of(conn: Conn, group_key: str) -> GroupSummary:
    """A group's summary folded from every stored alert: only for rows from before summaries
    (a group copied from an old SQLite file)."""
    return folded_summary(
        await PgBase._rows(
            conn, "SELECT * FROM alerts WHERE group_key = $1 ORDER BY id", [group_key]
        )
    )


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


@dataclass(frozen=True)
class Delivery:
    source: str
    delivery_id: str
    body: Mapping[str, Any]
    received_at: datetime
    kept: str

    @property
    def group_key(self) -> str:
        return str(self.body.get("groupKey", ""))


class _RefusedDelivery(Exception):
    """A delivery the database refused, in a batch written without savepoints."""


async def write_batch(
    conn: Conn, batch: Sequence[Delivery], *, isolated: bool
) -> list[bool | Exception]:
    """Alert deliveries in one transaction. `isolated`: each in its own savepoint, so a
    delivery that fails (a body the database refuses) undoes only itself and its caller alone
    gets the error. Without: two round trips fewer per delivery, and the first refusal undoes
    the batch (the caller then writes it again, isolated)."""
    await hold_groups(conn, batch)
    outcomes: list[bool | Exception] = []
    for d in batch:
        try:
            if isolated:
                async with conn.transaction():
                    stored = await _write_one(conn, d)
            else:
                stored = await _write_one(conn, d)
        except Exception as exc:
            if conflict(exc) or _unavailable(exc):
                raise  # the whole batch is rerun, or fails as one
            if not isolated:
                raise _RefusedDelivery from exc
            outcomes.append(exc)
        else:
            outcomes.append(stored)
    return outcomes


async def _write_one(conn: Conn, d: Delivery) -> bool:
    return await write_delivery(conn, d.source, d.delivery_id, d.body, d.received_at, d.kept)


class DeliveryBatches:
    """Group commit for alert deliveries: those arriving while a batch commits go together in
    the next one (up to BATCH_LIMIT), and each caller is answered once its batch committed.
    A few batches run at once, so one slow batch does not hold up the next."""

    def __init__(
        self, write: Callable[[Sequence[Delivery]], Awaitable[list[bool | Exception]]]
    ) -> None:
        self._write = write
        self._waiting: list[tuple[Delivery, asyncio.Future[bool]]] = []
        self._writers = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, delivery: Delivery) -> bool:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, done))
        self._start_writer()
        return await done

    def _start_writer(self) -> None:
        if self._waiting and self._writers < PARALLEL_BATCHES:
            self._writers += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        try:
            while self._waiting:
                # A share of what waits, so that the other writers have some too.
                size = min(BATCH_LIMIT, -(-len(self._waiting) // PARALLEL_BATCHES))
                batch = self._waiting[:size]
                del self._waiting[:size]
                self._start_writer()
                await self._commit(batch)
        finally:
            self._writers -= 1

    async def _commit(self, batch: list[tuple[Delivery, asyncio.Future[bool]]]) -> None:
        try:
            outcomes = await self._write([d for d, _ in batch])
        except Exception as exc:
            outcomes = [exc] * len(batch)
        except BaseException:
            # Cancelled (the loop is closing): nothing waiting will be written now.
            stranded = batch + self._waiting
            self._waiting.clear()
            _answer(stranded, [StoreUnavailable("the store is closing")] * len(stranded))
            raise
        _answer(batch, outcomes)


def _answer(
    batch: list[tuple[Delivery, asyncio.Future[bool]]], outcomes: Sequence[bool | Exception]
) -> None:
    for (_, done), outcome in zip(batch, outcomes, strict=True):
        if done.done():  # its caller went away; the delivery is stored all the same
            continue
        if isinstance(outcome, Exception):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)


async def write_delivery(
    conn: Conn,
    source: str,
    delivery_id: str,
    body: Mapping[str, Any],
    received_at: datetime,
    kept: str | None,
) -> bool:
    """Inside the write's transaction: the delivery's dedup row with the body as sent, then
    what it changes; False for a delivery already stored. Replicas given the same delivery at
    once meet on the unique key: one inserts, the others wait for it and find its row. An
    alert delivery's group must be held already (hold_groups)."""
    at = iso(received_at)
    status = await conn.execute(
        "INSERT INTO webhook_deliveries (source, delivery_id, received_at, seen_at, body)"
        " VALUES ($1, $2, $3, $3, $4) ON CONFLICT (source, delivery_id) DO NOTHING",
        source,
        delivery_id,
        at,
        kept if kept is not None else json_text(body),
    )
    if affected(status) == 0:
        # Still being sent: the retention prune must keep recognising it.
        await conn.execute(
            "UPDATE webhook_deliveries SET seen_at = $1 WHERE source = $2 AND delivery_id = $3",
            at,
            source,
            delivery_id,
        )
        return False
    if source in ALERT_SOURCES:
        version, summary = await _upsert_alerts(conn, body, received_at)
        await _upsert_group(conn, body, received_at, version, summary)
    elif source == "pagerduty" and isinstance(body.get("event"), dict):
        await store_pagerduty_event(conn, body["event"])
    return True


async def hold_groups(conn: Conn, deliveries: Sequence[Delivery]) -> None:
    """Takes the deliveries' groups for this transaction: at READ COMMITTED from here on (the
    write's first statement, so the isolation can still change), and behind each group's
    advisory lock, which holds off another delivery to it even before the group's row exists.
    Taken all at once in the lock keys' order, so two replicas' batches cannot deadlock."""
    await conn.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
    keys = sorted({without_nul(d.group_key) for d in deliveries if d.source in ALERT_SOURCES})
    hashes = await conn.fetchval(
        "SELECT array_agg(DISTINCT hashtext(k)) FROM unnest($1::text[]) AS k", keys
    )
    await conn.executemany(
        "SELECT pg_advisory_xact_lock($1, $2)", [(GROUP_LOCKS, h) for h in sorted(hashes or [])]
    )


async def _upsert_alerts(
    conn: Conn, body: Mapping[str, Any], at: datetime
) -> tuple[int, GroupSummary]:
    """Stores the delivery's alerts, each marked with the group's next version, and folds
    them into the group's summary: the work is the delivery's, whatever the group's size."""
    group_key = str(body.get("groupKey", ""))
    # The row lock holds off a sync or an acknowledgement of the group until this commits:
    # the version read here is the one this delivery's write raises.
    row = await conn.fetchrow(
        "SELECT version, summary FROM alert_groups WHERE group_key = $1 FOR UPDATE", group_key
    )
    version = (row["version"] if row else 0) + 1
    if row is None:
        summary = GroupSummary()
    elif row["summary"]:
        summary = GroupSummary.from_json(from_json_text(row["summary"]))
    else:
        summary = await summary_of(conn, group_key)
    alerts = body.get("alerts", [])
    # A new group has no stored alerts to compare with.
    befores = {} if row is None else await _stored_states(conn, group_key, alerts)
    for alert in alerts:
        fingerprint = alert.get("fingerprint", "")
        extra = extra_of(alert)
        status = await conn.execute(
            UPSERT_ALERT, *alert_params(group_key, alert, at, version, extra)
        )
        if affected(status):
            sent = sent_alert(alert, extra)
            summary.add(sent, befores.get(fingerprint))
            befores[fingerprint] = (sent.status, severity_of(sent.labels))
    return version, summary


async def _upsert_group(
    conn: Conn, body: Mapping[str, Any], at: datetime, version: int, summary: GroupSummary
) -> None:
    group_key = str(body["groupKey"])
    values = group_values(body, at, version, summary)
    # One statement either way: a new group's row is made with its first values, a known
    # one's gets only the delivery's. No other delivery can be making it meanwhile: they wait
    # on the group's advisory lock.
    row = {**values, **new_group_values(group_key, at)}
    marks = ", ".join(f"${n}" for n in range(1, len(row) + 1))
    sets = ", ".join(f"{k} = excluded.{k}" for k in values)
    await conn.execute(
        f"INSERT INTO alert_groups ({', '.join(row)}) VALUES ({marks})"
        f" ON CONFLICT (group_key) DO UPDATE SET {sets}",
        *row.values(),
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
        # Nearly every batch has no refused delivery: written without savepoints first.
        try:
            return await self._write(lambda conn: write_batch(conn, batch, isolated=False))
        except _RefusedDelivery:
            return await self._write(lambda conn: write_batch(conn, batch, isolated=True))

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
