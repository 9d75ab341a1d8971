"""Timeline events and the hash chain that makes an incident's timeline tamper-evident."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


class EventKind(enum.StrEnum):
    DECLARED = "declared"
    MESSAGE = "message"
    STATUS_UPDATE = "status_update"
    SEVERITY_CHANGED = "severity_changed"
    ROLE_CHANGED = "role_changed"
    COMMAND = "command"
    ALERT = "alert"
    PAGE = "page"
    ACTION = "action"
    FOLLOW_UP = "follow_up"
    REMINDER = "reminder"
    RESOLVED = "resolved"
    CLOSED = "closed"
    SLACK_UNDELIVERED = "slack_undelivered"
    NOTE = "note"
    REFUSED = "refused"  # a change someone asked for and was not allowed to make


@dataclass(frozen=True)
class NewEvent:
    kind: EventKind
    actor: str
    text: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    key: bool = False
    public: bool = False


@dataclass(frozen=True)
class TimelineEvent:
    id: int
    incident_id: int
    seq: int
    kind: EventKind
    actor: str
    text: str
    at: datetime
    data: Mapping[str, Any]
    key: bool
    public: bool
    prev_hash: str
    hash: str


def event_hash(prev_hash: str, incident_id: int, seq: int, event: NewEvent) -> str:
    """Hash over the event's content and its predecessor's hash, so any edit breaks the chain."""
    canonical = json.dumps(
        {
            "prev": prev_hash,
            "incident": incident_id,
            "seq": seq,
            "kind": str(event.kind),
            "actor": event.actor,
            "text": event.text,
            "at": event.at.isoformat(),
            "data": dict(event.data),
            "key": event.key,
            "public": event.public,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    reason: str


def verify_chain(events: Iterable[TimelineEvent]) -> list[ChainProblem]:
    """Returns every break in the chain; an empty list means the timeline is intact."""
    problems: list[ChainProblem] = []
    prev = GENESIS
    expected_seq = 1
    for ev in events:
        if ev.seq != expected_seq:
            problems.append(
                ChainProblem(ev.seq, f"expected event #{expected_seq}, found #{ev.seq}")
            )
        if ev.prev_hash != prev:
            problems.append(ChainProblem(ev.seq, "does not follow the previous event's hash"))
        content = NewEvent(ev.kind, ev.actor, ev.text, ev.at, ev.data, ev.key, ev.public)
        if event_hash(ev.prev_hash, ev.incident_id, ev.seq, content) != ev.hash:
            problems.append(ChainProblem(ev.seq, "content does not match its hash (edited?)"))
        prev = ev.hash
        expected_seq = ev.seq + 1
    return problems
