"""Rows the store keeps besides incidents and timelines: the outbox and alert groups."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.alerts import Alert, GroupSummary


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"  # a send was started; after a crash, look before re-sending
    SENT = "sent"
    SUPERSEDED = "superseded"  # a newer update of the same message replaced it
    UNDELIVERED = "undelivered"  # offline mode, or Slack refused it for good
    FAILED = "failed"


class Urgency(enum.IntEnum):
    """When a channel's edits are short (Slack allows about 50 a minute), which waiting edit
    goes first: what a responder most needs to see. Lower goes first."""

    NEW_FIRING = 0  # something started firing (or the edit is not an alert's)
    RESOLVED = 1  # something resolved
    COUNTS = 2  # only counts or details changed


@dataclass(frozen=True)
class NewOutboxItem:
    """One Slack write to make. `message_key` names the logical message a post creates or an
    update edits, so updates can find the ts and coalesce."""

    method: str
    channel: str
    args: Mapping[str, Any]
    message_key: str | None = None
    thread_key: str | None = None  # post as a reply in the thread of this logical message
    incident_id: int | None = None
    urgency: Urgency = Urgency.NEW_FIRING


@dataclass(frozen=True)
class OutboxRow:
    id: int
    method: str
    channel: str
    args: Mapping[str, Any]
    message_key: str | None
    thread_key: str | None
    incident_id: int | None
    state: OutboxState
    attempts: int
    not_before: float  # unix seconds
    created_at: datetime
    last_error: str | None = None
    result: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SlackMessageRef:
    channel: str
    ts: str


# The start of a row's last_error when Slack refused it because the bot is not a member of
# its channel (not_in_channel, channel_not_found): the row waits, pending, for an invite.
AWAITING_INVITE = "awaiting invite: "


@dataclass(frozen=True)
class ChannelAccess:
    """A channel whose Slack writes wait because the bot is not a member of it."""

    channel: str
    error: str  # what Slack answered
    waiting: int  # unsent rows of the channel
    since: datetime  # when the oldest of them was queued


@dataclass(frozen=True)
class OutboxStats:
    depth: int
    oldest_age_seconds: float
    by_state: Mapping[str, int]


@dataclass(frozen=True)
class AlertGroupState:
    """An alert group as stored: its alerts now, and what its Slack thread last showed."""

    group_key: str
    group_id: str
    receiver: str
    status: str
    channel: str | None
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str
    first_seen: datetime
    last_seen: datetime
    version: int
    synced_version: int
    posted_state: Mapping[str, str]  # fingerprint -> status, as the thread last showed
    posted_view: str | None  # digest of the parent message last queued
    acked_by: str | None
    incident_id: int | None
    digest_key: str | None
    pd_incident_id: str | None
    # A thread sync reads only `listed` alerts (what the parent lists) and `changed` ones
    # (what its reply says); a single group read (a button) has every alert here.
    alerts: tuple[Alert, ...]
    truncated_alerts: int = 0  # left out of the last notification (max_alerts)
    # Counts, severity, services, names and first links, kept with every change (part of
    # what a digest line shows, too): no read of the group's alerts needed to show them.
    summary: GroupSummary | None = None
    # Alerts changed since the thread last showed the group; `posted_state` holds what the
    # thread showed for these (a sync records their statuses, nothing about the others).
    changed: tuple[Alert, ...] | None = None


@dataclass(frozen=True)
class PagerDutyEvent:
    id: str
    incident_id: str
    event_type: str  # e.g. "incident.acknowledged"
    agent: str
    occurred_at: datetime
    data: Mapping[str, Any]


@dataclass(frozen=True)
class PagerDutyIncident:
    """A PagerDuty incident as its webhooks described it, and its Slack thread's progress."""

    id: str
    number: int | None
    title: str
    status: str
    urgency: str
    service: str
    html_url: str
    incident_key: str | None
    assignees: tuple[str, ...]
    version: int
    synced_version: int
    posted_status: str | None
    channel: str | None
    thread_key: str | None
    pending_events: tuple[PagerDutyEvent, ...] = ()
    priority: str = ""  # the priority's name ("P1"), empty when it has none
    posted_view: str | None = None  # digest of the parent message last queued
