"""Numbered schema migrations for the SQLite store; PRAGMA user_version records the last applied."""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database


def _v1_initial(db: Database) -> None:
    db.table("incidents").create(
        {
            "id": int,
            "title": str,
            "severity": str,
            "status": str,
            "declared_by": str,
            "declared_at": str,
            "commander": str,
            "services": str,
            "description": str,
            "channel_id": str,
            "channel_name": str,
            "resolved_at": str,
            "summary": str,
            "roles": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"title", "severity", "status", "declared_by", "declared_at", "commander"},
    )
    db.table("timeline_events").create(
        {
            "id": int,
            "incident_id": int,
            "seq": int,
            "kind": str,
            "actor": str,
            "text": str,
            "at": str,
            "data": str,
            "key": int,
            "public": int,
            "prev_hash": str,
            "hash": str,
        },
        pk="id",
        foreign_keys=[("incident_id", "incidents", "id")],
        not_null={"incident_id", "seq", "kind", "at", "hash", "prev_hash"},
    )
    db.table("timeline_events").create_index(["incident_id", "seq"], unique=True)
    db.table("webhook_deliveries").create(
        {"id": int, "source": str, "delivery_id": str, "received_at": str, "body": str},
        pk="id",
        not_null={"source", "delivery_id", "received_at"},
    )
    db.table("webhook_deliveries").create_index(["source", "delivery_id"], unique=True)
    db.table("alerts").create(
        {
            "id": int,
            "group_key": str,
            "fingerprint": str,
            "status": str,
            "labels": str,
            "annotations": str,
            "starts_at": str,
            "ends_at": str,
            "generator_url": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"group_key", "fingerprint", "status"},
    )
    db.table("alerts").create_index(["group_key", "fingerprint"], unique=True)
    db.table("alerts").create_index(["status", "id"])
    db.table("alert_groups").create(
        {
            "group_key": str,
            "receiver": str,
            "status": str,
            "channel": str,
            "labels": str,
            "payload": str,
            "first_seen": str,
            "last_seen": str,
            "incident_id": int,
        },
        pk="group_key",
    )
    db.table("outbox").create(
        {
            "id": int,
            "method": str,
            "channel": str,
            "args": str,
            "message_key": str,
            "thread_key": str,
            "incident_id": int,
            "state": str,
            "attempts": int,
            "not_before": float,
            "created_at": str,
            "updated_at": str,
            "last_error": str,
            "result": str,
        },
        pk="id",
        not_null={"method", "channel", "args", "state", "attempts", "not_before", "created_at"},
    )
    db.table("outbox").create_index(["state", "channel", "id"])
    db.table("outbox").create_index(["message_key", "state"])
    db.table("slack_messages").create(
        {"message_key": str, "channel": str, "ts": str, "created_at": str},
        pk="message_key",
        not_null={"channel", "ts"},
    )


def _v2_alert_threads(db: Database) -> None:
    """Alert groups become Slack threads: what was last shown, and the links to act on."""
    groups = db.table("alert_groups")
    for name, kind in (
        ("group_id", str),
        ("dedup_hash", str),
        ("posted_state", str),
        ("posted_view", str),
        ("acked_by", str),
        ("digest_key", str),
        ("group_labels", str),
        ("common_labels", str),
        ("common_annotations", str),
        ("external_url", str),
        ("pd_incident_id", str),
    ):
        groups.add_column(name, kind)
    groups.add_column("version", int, not_null_default=0)
    groups.add_column("synced_version", int, not_null_default=0)
    groups.create_index(["group_id"], unique=True)
    groups.create_index(["dedup_hash"])
    groups.create_index(["digest_key"])
    db.table("pd_incidents").create(
        {
            "id": str,
            "number": int,
            "title": str,
            "status": str,
            "urgency": str,
            "service": str,
            "html_url": str,
            "incident_key": str,
            "group_key": str,
            "assignees": str,
            "channel": str,
            "thread_key": str,
            "version": int,
            "synced_version": int,
            "posted_status": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"version", "synced_version"},
        defaults={"version": 0, "synced_version": 0},
    )
    db.table("pd_events").create(
        {
            "id": str,
            "incident_id": str,
            "event_type": str,
            "agent": str,
            "occurred_at": str,
            "data": str,
            "synced": int,
        },
        pk="id",
        not_null={"synced"},
        defaults={"synced": 0},
    )
    db.table("pd_events").create_index(["incident_id", "synced"])


def _v3_slack_events(db: Database) -> None:
    """Slack retries events; each is recorded once, by its event id."""
    db.table("seen_events").create({"key": str, "at": str}, pk="key")
    db.table("incidents").create_index(["channel_id"])


def _v4_pending_actions(db: Database) -> None:
    """Dangerous actions wait here for confirmation; state changes are compare-and-set."""
    db.table("pending_actions").create(
        {
            "id": int,
            "kind": str,
            "service": str,
            "params": str,
            "plan": str,
            "before": str,
            "after": str,
            "requested_by": str,
            "channel": str,
            "incident_id": int,
            "state": str,
            "approvals": str,
            "result": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"kind", "state", "requested_by", "created_at"},
    )


def _v5_dirty_groups_index(db: Database) -> None:
    """Finding the groups whose thread is behind must not scan every group ever seen: a
    partial index holds only those (the query repeats its WHERE clause to use it)."""
    db.execute(
        "CREATE INDEX IF NOT EXISTS alert_groups_dirty ON alert_groups (synced_version)"
        " WHERE version > synced_version"
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS pd_incidents_dirty ON pd_incidents (synced_version)"
        " WHERE version > synced_version"
    )
    # Every webhook counts its group's firing alerts; every new group in a storm looks for
    # the channel's open digest. Both must stay lookups as the tables grow.
    db.execute("CREATE INDEX IF NOT EXISTS alerts_group_status ON alerts (group_key, status)")
    db.execute(
        "CREATE INDEX IF NOT EXISTS alert_groups_open_digest ON alert_groups (channel, last_seen)"
        " WHERE digest_key IS NOT NULL"
    )


def _v6_unseen_alerts_and_sender_links(db: Database) -> None:
    """Alertmanager's max_alerts leaves alerts out of a notification and says how many: the
    group keeps that count, so it is never shown resolved while some may still fire. Grafana's
    alerts bring their own silence, dashboard and panel links and values: kept per alert."""
    db.execute("ALTER TABLE alert_groups ADD COLUMN truncated_alerts INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE alerts ADD COLUMN extra TEXT")


def _v7_pagerduty_priority_and_view(db: Database) -> None:
    """A PagerDuty thread's parent shows the incident's priority, and is edited only when what
    it shows changed: the digest of the parent last queued, as alert groups keep theirs."""
    db.execute("ALTER TABLE pd_incidents ADD COLUMN priority TEXT")
    db.execute("ALTER TABLE pd_incidents ADD COLUMN posted_view TEXT")


def _v8_slack_request_replays(db: Database) -> None:
    """A signed slash command or button click replayed inside Slack's five minutes must not
    run twice: each is kept by its signature until its timestamp leaves the window."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS slack_requests_seen"
        " (signature TEXT PRIMARY KEY, expires_at REAL NOT NULL)"
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS slack_requests_seen_expiry ON slack_requests_seen (expires_at)"
    )


def _v9_retention_and_heartbeat(db: Database) -> None:
    """Old webhook bodies and finished Slack messages are pruned. A delivery is kept while its
    sender still repeats it (Alertmanager re-sends an unchanged group every repeat_interval), so
    it ages from when it was last received; the prune finds its rows by index, not by scan."""
    db.execute("ALTER TABLE webhook_deliveries ADD COLUMN seen_at TEXT")
    db.execute("UPDATE webhook_deliveries SET seen_at = received_at")
    db.execute("CREATE INDEX IF NOT EXISTS webhook_deliveries_seen ON webhook_deliveries (seen_at)")
    db.execute(
        "CREATE INDEX IF NOT EXISTS outbox_finished ON outbox (updated_at)"
        " WHERE state IN ('sent', 'superseded', 'undelivered', 'failed')"
    )
    db.execute("CREATE INDEX IF NOT EXISTS seen_events_at ON seen_events (at)")
    # Readiness commits a write here: a store that reads but cannot write is not ready.
    db.execute(
        "CREATE TABLE IF NOT EXISTS store_heartbeat"
        " (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL)"
    )


def _v10_action_approvals_needed(db: Database) -> None:
    """The confirmations a dangerous action needs are fixed when it is asked for (lowering the
    incident's severity before the Confirm must not drop the second operator). Actions waiting
    from before this are judged at Confirm, as they were; the running ones are looked up at
    every start, by state."""
    db.execute("ALTER TABLE pending_actions ADD COLUMN approvals_needed INTEGER NOT NULL DEFAULT 1")
    db.execute("CREATE INDEX IF NOT EXISTS pending_actions_state ON pending_actions (state)")


def _v11_digest_lines(db: Database) -> None:
    """An alert-storm digest keeps each member group's rendered line, so a change to one group
    redraws only the message holding it. Digests from before this come along: their members
    get lines in the order they joined (the first message is the one already posted), and a
    version bump so the next sync renders each line."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS digests (digest_key TEXT PRIMARY KEY,"
        " next_position INTEGER NOT NULL, pages_posted INTEGER NOT NULL)"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS digest_lines (group_key TEXT PRIMARY KEY,"
        " digest_key TEXT NOT NULL, position INTEGER NOT NULL, page INTEGER NOT NULL,"
        " status TEXT NOT NULL, line TEXT NOT NULL)"
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS digest_lines_page ON digest_lines (digest_key, page, position)"
    )
    db.execute(
        "INSERT INTO digest_lines (group_key, digest_key, position, page, status, line)"
        " SELECT group_key, digest_key, n, n / 40, status, '' FROM (SELECT group_key,"
        " digest_key, status, row_number() OVER (PARTITION BY digest_key ORDER BY rowid) - 1"
        " AS n FROM alert_groups WHERE digest_key IS NOT NULL)"
    )
    db.execute(
        "INSERT INTO digests (digest_key, next_position, pages_posted)"
        " SELECT digest_key, max(position) + 1, 1 FROM digest_lines GROUP BY digest_key"
    )
    db.execute("UPDATE alert_groups SET version = version + 1 WHERE digest_key IS NOT NULL")


def _v12_group_summaries(db: Database) -> None:
    """A group keeps a summary of what its thread shows and each alert what the thread last
    showed of it, so a change costs what the delivery holds, not what the group does. Groups
    from before this come along: summaries folded from their alerts, each thread's posted
    state moved onto its alerts, and the alerts of a group not yet synced marked changed."""
    import json

    from bot.store.sqlite_alerts import record_posted_state, summary_of

    db.execute("ALTER TABLE alerts ADD COLUMN posted_status TEXT")
    db.execute("ALTER TABLE alerts ADD COLUMN changed_version INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE alert_groups ADD COLUMN summary TEXT")
    db.execute(
        "CREATE INDEX IF NOT EXISTS alerts_group_changed ON alerts (group_key, changed_version)"
    )
    groups = db.execute(
        "SELECT group_key, posted_state, version, synced_version FROM alert_groups"
    ).fetchall()
    for group_key, posted_state, version, synced_version in groups:
        record_posted_state(db, group_key, json.loads(posted_state or "{}"))
        if version > synced_version:
            db.execute(
                "UPDATE alerts SET changed_version = ? WHERE group_key = ?", [version, group_key]
            )
        db.execute(
            "UPDATE alert_groups SET summary = ?, posted_state = '{}' WHERE group_key = ?",
            [json.dumps(summary_of(db, group_key).to_json()), group_key],
        )


def _v13_outbox_urgency(db: Database) -> None:
    """How urgent a queued edit is (records.Urgency), so back-pressure spends a short edit
    allowance on new firing first, resolutions next, count changes last. Rows already queued
    keep the order they had: all equally urgent."""
    db.execute("ALTER TABLE outbox ADD COLUMN urgency INTEGER NOT NULL DEFAULT 0")


def _v14_leases(db: Database) -> None:
    """Who does the work that must happen once (sending the outbox, syncing threads,
    reminders): one holder per lease at a time, and an epoch that grows with each new holder
    so that a holder that lost its lease cannot act as if it still held it."""
    db.execute(
        "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL,"
        " epoch INTEGER NOT NULL, expires_at REAL NOT NULL)"
    )


def _v15_jobs(db: Database) -> None:
    """The work after a Slack ack as durable jobs: one row per request (`key`, Slack's
    trigger_id, unique, so a retried delivery makes no second job), claimed by a holder until
    `expires_at` and renewed while it works; one whose holder stopped renewing is taken over.
    The `declared` events are indexed so a declaration rerun finds the incident its request
    already made (their data's `request_key`)."""
    db.execute(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL UNIQUE,"
        " payload TEXT NOT NULL, state TEXT NOT NULL, holder TEXT NOT NULL,"
        " expires_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 1,"
        " created_at TEXT NOT NULL, updated_at TEXT NOT NULL, last_error TEXT)"
    )
    db.execute("CREATE INDEX jobs_running ON jobs (expires_at) WHERE state = 'running'")
    db.execute(
        "CREATE INDEX timeline_declared ON timeline_events (incident_id) WHERE kind = 'declared'"
    )


def _v16_status_page(db: Database) -> None:
    """What the public status page shows, kept apart from the (hash-chained) timeline: an
    incident a person published (its public id, title, impact and components), the updates
    they published, and scheduled maintenances. Nothing existing is copied in: every update
    written before this version stays internal."""
    db.execute(
        "CREATE TABLE status_incidents (id INTEGER PRIMARY KEY,"
        " incident_id INTEGER NOT NULL UNIQUE REFERENCES incidents (id),"
        " public_id TEXT NOT NULL UNIQUE, title TEXT NOT NULL, impact TEXT NOT NULL,"
        " components TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL,"
        " updated_at TEXT NOT NULL, resolved_at TEXT)"
    )
    db.execute("CREATE INDEX status_incidents_created ON status_incidents (created_at)")
    db.execute(
        "CREATE TABLE status_updates (id INTEGER PRIMARY KEY,"
        " status_incident_id INTEGER NOT NULL REFERENCES status_incidents (id),"
        " status TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX status_updates_incident ON status_updates (status_incident_id, id)")
    db.execute(
        "CREATE TABLE maintenances (id INTEGER PRIMARY KEY, public_id TEXT NOT NULL UNIQUE,"
        " title TEXT NOT NULL, body TEXT NOT NULL, components TEXT NOT NULL,"
        " starts_at TEXT NOT NULL, ends_at TEXT NOT NULL, created_by TEXT NOT NULL,"
        " created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX maintenances_ends ON maintenances (ends_at)")


MIGRATIONS: list[Callable[[Database], None]] = [
    _v1_initial,
    _v2_alert_threads,
    _v3_slack_events,
    _v4_pending_actions,
    _v5_dirty_groups_index,
    _v6_unseen_alerts_and_sender_links,
    _v7_pagerduty_priority_and_view,
    _v8_slack_request_replays,
    _v9_retention_and_heartbeat,
    _v10_action_approvals_needed,
    _v11_digest_lines,
    _v12_group_summaries,
    _v13_outbox_urgency,
    _v14_leases,
    _v15_jobs,
    _v16_status_page,
]


def migrate(db: Database) -> int:
    """Applies the migrations not yet applied, each in its own transaction; returns the version."""
    current = int(db.execute("PRAGMA user_version").fetchone()[0])
    for number, step in enumerate(MIGRATIONS[current:], start=current + 1):
        with db.atomic():
            step(db)
            db.execute(f"PRAGMA user_version = {number}")
    return len(MIGRATIONS)
