"""Writing alert deliveries to PostgreSQL: a batch of them in a handful of statements.

Replicas share the rows: a delivery is stored once by the (source, delivery_id) key, and a
delivery to a group holds the group's lock, so two deliveries to one group commit one after
the other (the later one reading the earlier's counts and summary), never side by side.

An alert delivery runs at READ COMMITTED under those locks, not SERIALIZABLE: in a storm the
deliveries to different groups touch the same heap and index pages of `alerts`, and
serializable's page-level read tracking then aborts them as if they conflicted, faster than
retries get through (three replicas, forty growing groups: the twelfth retry failed). The
group's locks already give each delivery the group to itself, which is all it reads.

A batch is written set-at-a-time: its delivery rows in one statement, then in rounds (a group
at most once per round, so a group's deliveries apply in their order) its groups' rows, the
alerts' earlier states, every alert and every group in one statement each. The bot's CPU on
PostgreSQL went to sending statements (one socket write each, 41% of its samples with three
replicas), so the statements a batch takes no longer grow with its deliveries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.alerts import GroupSummary
from bot.store.alert_rows import (
    ALERT_SOURCES,
    alert_params,
    extra_of,
    folded_summary,
    group_values,
    new_group_values,
    sent_alert,
    severity_of,
    stored_state,
)
from bot.store.columns import from_json_text, iso, json_text
from bot.store.pg_base import Conn, PgBase, _unavailable, affected, conflict, without_nul
from bot.store.pg_pagerduty import store_pagerduty_event

# The first key of the advisory locks a delivery takes on its group (the second is a hash of
# the group key): the two-key space is apart from the migrations' single key.
GROUP_LOCKS = 0x1BC1

ALERT_COLUMNS = (
    "group_key",
    "fingerprint",
    "status",
    "labels",
    "annotations",
    "starts_at",
    "ends_at",
    "generator_url",
    "updated_at",
    "extra",
    "changed_version",
)
BIGINT_COLUMNS = frozenset({"changed_version", "version", "synced_version", "truncated_alerts"})

# A late retry of an older notification must not turn a resolved alert back to firing; a real
# re-fire starts later than the instance that resolved. Times compare bytewise, as in SQLite.
_ALERT_CONFLICT = (
    " ON CONFLICT (group_key, fingerprint) DO UPDATE SET status = excluded.status,"
    " labels = excluded.labels, annotations = excluded.annotations,"
    " starts_at = excluded.starts_at, ends_at = excluded.ends_at,"
    " generator_url = excluded.generator_url, updated_at = excluded.updated_at,"
    " extra = excluded.extra, changed_version = excluded.changed_version"
    " WHERE NOT (alerts.status = 'resolved' AND excluded.status = 'firing'"
    ' AND excluded.starts_at COLLATE "C" <= alerts.starts_at)'
)
UPSERT_ALERT = (
    f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)})"
    f" VALUES ({', '.join(f'${n}' for n in range(1, len(ALERT_COLUMNS) + 1))})" + _ALERT_CONFLICT
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


class RefusedDelivery(Exception):
    """A delivery the database refused, in a batch written together."""


async def write_batch(
    conn: Conn, batch: Sequence[Delivery], *, isolated: bool
) -> list[bool | Exception]:
    """Alert deliveries in one READ COMMITTED transaction. `isolated`: one by one, each in its
    own savepoint, so a delivery that fails (a body the database refuses) undoes only itself
    and its caller alone gets the error. Without: the whole batch together, and the first
    refusal undoes it (the caller then writes it again, isolated)."""
    await hold_groups(conn, batch)
    if not isolated:
        try:
            return list(await _write_together(conn, batch))
        except Exception as exc:
            if conflict(exc) or _unavailable(exc):
                raise  # the whole batch is rerun, or fails as one
            raise RefusedDelivery from exc
    outcomes: list[bool | Exception] = []
    for d in batch:
        try:
            async with conn.transaction():
                stored = await write_delivery(
                    conn, d.source, d.delivery_id, d.body, d.received_at, d.kept
                )
        except Exception as exc:
            if conflict(exc) or _unavailable(exc):
                raise
            outcomes.append(exc)
        else:
            outcomes.append(stored)
    return outcomes


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
    await _apply(conn, source, body, received_at)
    return True


async def _apply(conn: Conn, source: str, body: Mapping[str, Any], at: datetime) -> None:
    """What one stored delivery changes."""
    if source in ALERT_SOURCES:
        version, summary = await _upsert_alerts(conn, body, at)
        await _upsert_group(conn, body, at, version, summary)
    elif source == "pagerduty" and isinstance(body.get("event"), dict):
        await store_pagerduty_event(conn, body["event"])


async def hold_groups(conn: Conn, deliveries: Sequence[Delivery]) -> None:
    """Takes the deliveries' groups for this transaction, behind each group's advisory lock,
    which holds off another delivery to it even before the group's row exists. Taken all at
    once in the lock keys' order, so two replicas' batches cannot deadlock."""
    keys = sorted({without_nul(d.group_key) for d in deliveries if d.source in ALERT_SOURCES})
    if keys:
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, h) FROM"
            " (SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY h) AS held",
            GROUP_LOCKS,
            keys,
        )


# -- a batch together -------------------------------------------------------------------------


def _text(value: Any) -> Any:
    # Array elements bypass the connection's text codec, which drops U+0000 from parameters.
    return value.replace("\x00", "") if isinstance(value, str) else value


def _arrays(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Rows as one array per column, for `unnest`."""
    return [[_text(row[i]) for row in rows] for i in range(len(columns))]


def _unnest(columns: Sequence[str]) -> str:
    kinds = ("bigint" if c in BIGINT_COLUMNS else "text" for c in columns)
    return "unnest(" + ", ".join(f"${n}::{k}[]" for n, k in enumerate(kinds, 1)) + ")"


async def _write_together(conn: Conn, batch: Sequence[Delivery]) -> list[bool]:
    at = [iso(d.received_at) for d in batch]
    keys = [(d.source, without_nul(d.delivery_id)) for d in batch]
    firsts: dict[tuple[str, str], int] = {}
    for i, key in enumerate(keys):
        firsts.setdefault(key, i)
    rows = [(*key, at[i], batch[i].kept) for key, i in firsts.items()]
    inserted = await conn.fetch(
        "INSERT INTO webhook_deliveries (source, delivery_id, received_at, seen_at, body)"
        " SELECT s, d, r, r, b FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
        " AS sent (s, d, r, b) ON CONFLICT (source, delivery_id) DO NOTHING"
        " RETURNING source, delivery_id",
        *_arrays(("source", "delivery_id", "received_at", "body"), rows),
    )
    fresh = {(r["source"], r["delivery_id"]) for r in inserted}
    stored = [key in fresh and firsts[key] == i for i, key in enumerate(keys)]
    again = [(*key, at[i]) for key, i in firsts.items() if key not in fresh]
    if again:
        # Still being sent: the retention prune must keep recognising them.
        await conn.execute(
            "UPDATE webhook_deliveries SET seen_at = sent.r"
            " FROM unnest($1::text[], $2::text[], $3::text[]) AS sent (s, d, r)"
            " WHERE source = sent.s AND delivery_id = sent.d",
            *_arrays(("source", "delivery_id", "seen_at"), again),
        )
    applying = [d for d, new in zip(batch, stored, strict=True) if new]
    for d in applying:
        if d.source not in ALERT_SOURCES:
            await _apply(conn, d.source, d.body, d.received_at)
    for round_ in _rounds(d for d in applying if d.source in ALERT_SOURCES):
        await _write_round(conn, round_)
    return stored


def _rounds(deliveries: Iterable[Delivery]) -> list[list[Delivery]]:
    """The deliveries in rounds holding each group at most once, a group's in their order."""
    rounds: list[list[Delivery]] = []
    seen: dict[str, int] = {}
    for d in deliveries:
        # A body without a group key is refused (KeyError), as it is one at a time.
        key = without_nul(str(d.body["groupKey"]))
        n = seen[key] = seen.get(key, -1) + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(d)
    return rounds


def _fingerprints(d: Delivery) -> list[str]:
    return [without_nul(str(a.get("fingerprint", ""))) for a in d.body.get("alerts", [])]


async def _write_round(conn: Conn, deliveries: Sequence[Delivery]) -> None:
    """Deliveries to distinct groups, already stored as deliveries: their alerts and groups."""
    # The row locks hold off a sync or an acknowledgement of the groups until this commits:
    # the versions read here are the ones these deliveries raise.
    groups = {
        r["group_key"]: r
        for r in await conn.fetch(
            "SELECT group_key, version, summary FROM alert_groups"
            " WHERE group_key = ANY($1::text[]) FOR UPDATE",
            [without_nul(d.group_key) for d in deliveries],
        )
    }
    together: list[Delivery] = []
    for d in deliveries:
        row = groups.get(without_nul(d.group_key))
        prints = _fingerprints(d)
        if len(set(prints)) < len(prints) or (row is not None and not row["summary"]):
            # An alert twice in one body, or a group from before summaries: one at a time.
            await _apply(conn, d.source, d.body, d.received_at)
        else:
            together.append(d)
    if not together:
        return
    befores = await _stored_states_of(
        conn,
        [
            (k, f)
            for d in together
            if (k := without_nul(d.group_key)) in groups
            for f in _fingerprints(d)
        ],
    )
    versions = {
        d.group_key: (groups[k]["version"] + 1 if (k := without_nul(d.group_key)) in groups else 1)
        for d in together
    }
    alert_rows = [
        alert_params(d.group_key, alert, d.received_at, versions[d.group_key], extra_of(alert))
        for d in together
        for alert in d.body.get("alerts", [])
    ]
    changed: set[tuple[str, str]] = set()
    if alert_rows:
        changed = {
            (r["group_key"], r["fingerprint"])
            for r in await conn.fetch(
                f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)})"
                f" SELECT * FROM {_unnest(ALERT_COLUMNS)}"
                + _ALERT_CONFLICT
                + " RETURNING group_key, fingerprint",
                *_arrays(ALERT_COLUMNS, alert_rows),
            )
        }
    group_rows: list[dict[str, Any]] = []
    updated: list[str] = []
    for d in together:
        key = without_nul(d.group_key)
        row = groups.get(key)
        summary = GroupSummary.from_json(from_json_text(row["summary"])) if row else GroupSummary()
        for alert in d.body.get("alerts", []):
            fingerprint = without_nul(str(alert.get("fingerprint", "")))
            if (key, fingerprint) in changed:
                summary.add(sent_alert(alert, extra_of(alert)), befores.get((key, fingerprint)))
        values = group_values(d.body, d.received_at, versions[d.group_key], summary)
        updated = list(values)
        group_rows.append({**values, **new_group_values(d.group_key, d.received_at)})
    await _upsert_groups(conn, group_rows, updated=updated)


async def _stored_states_of(
    conn: Conn, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str]]:
    """(status, severity) of the alerts already stored, by (group key, fingerprint)."""
    if not pairs:
        return {}
    rows = await conn.fetch(
        "SELECT a.group_key, a.fingerprint, a.status, a.labels FROM alerts AS a"
        " JOIN unnest($1::text[], $2::text[]) AS sent (g, f)"
        " ON a.group_key = sent.g AND a.fingerprint = sent.f",
        [g for g, _ in pairs],
        [f for _, f in pairs],
    )
    return {
        (r["group_key"], r["fingerprint"]): stored_state(r["status"], r["labels"]) for r in rows
    }


async def _upsert_groups(
    conn: Conn, rows: Sequence[Mapping[str, Any]], *, updated: Sequence[str]
) -> None:
    """Groups' rows in one statement: a new group's made with its first values, a known one's
    given only the delivery's (`updated`). No other delivery can be making one meanwhile: they
    wait on the group's advisory lock."""
    columns = list(rows[0])
    sets = ", ".join(f"{k} = excluded.{k}" for k in updated)
    await conn.execute(
        f"INSERT INTO alert_groups ({', '.join(columns)}) SELECT * FROM {_unnest(columns)}"
        f" ON CONFLICT (group_key) DO UPDATE SET {sets}",
        *_arrays(columns, [[row[c] for c in columns] for row in rows]),
    )


# -- one delivery at a time -------------------------------------------------------------------


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
    row = {**values, **new_group_values(group_key, at)}
    await _upsert_groups(conn, [row], updated=list(values))
