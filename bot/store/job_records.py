"""Durable jobs: work that must happen once after a request was answered (a slash command's
work after Slack's ack), kept as a row a replica claims, renews while it works and finishes,
so that another replica takes it over when its holder stops renewing (it died)."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class JobState(enum.StrEnum):
    RUNNING = "running"  # claimed by `holder` until `expires_at`; renewed while it works
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    key: str  # the request's identity (Slack's trigger_id): a retried delivery is one job
    payload: Mapping[str, Any]
    state: JobState
    holder: str
    expires_at: float  # unix seconds (PostgreSQL: the database's clock)
    attempts: int
    created_at: datetime
    last_error: str | None = None


def job_record(row: Mapping[str, Any]) -> Job:
    return Job(
        id=int(row["id"]),
        kind=row["kind"],
        key=row["key"],
        payload=json.loads(row["payload"] or "{}"),
        state=JobState(row["state"]),
        holder=row["holder"],
        expires_at=float(row["expires_at"]),
        attempts=int(row["attempts"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        last_error=row["last_error"],
    )


# The key a declaration made for a request is recorded under, in its `declared` event's data.
REQUEST_KEY = "request_key"
# The longest error text a failed job keeps.
MAX_ERROR = 2000
