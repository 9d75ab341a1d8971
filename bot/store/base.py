"""The Store protocol: every durable read and write the bot makes, as a narrow async interface."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.domain.actions import ActionPlan, ActionState, PendingAction
from bot.domain.incident import Incident, NewIncident
from bot.domain.leases import Lease
from bot.domain.publication import (
    Maintenance,
    NewMaintenance,
    Opening,
    PublicIncident,
    PublicStatus,
)
from bot.domain.timeline import NewEvent, TimelineEvent
from bot.store.digest_records import DigestLine, DigestRender
from bot.store.job_records import Job, JobState
from bot.store.records import (
    AlertGroupState,
    ChannelAccess,
    NewOutboxItem,
    OutboxRow,
    OutboxState,
    OutboxStats,
    PagerDutyIncident,
    SlackMessageRef,
)


class StoreUnavailable(Exception):
    """The store could not commit (locked, disk full, …); the caller should ask for a retry."""


class Store(Protocol):
    # "sqlite" or "postgresql": /readyz names it.
    backend: str

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...

    # Webhook intake: idempotency and the stored payloads.
    async def record_delivery(
        self,
        source: str,
        delivery_id: str,
        body: Mapping[str, Any],
        received_at: datetime,
        *,
        raw: bytes | None = None,
    ) -> bool:
        """Stores a delivery once; False when this (source, id) was seen before. `raw` is the
        body as it came, kept instead of serialising `body` again (a big group is megabytes)."""
        ...

    async def list_alerts(
        self, *, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]: ...
    async def alert_page(
        self,
        *,
        status: str | None = None,
        limit: int = 100,
        before: int | None = None,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Alerts newest first with an id below `before` (keyset paging), and how many match
        the status in all."""
        ...

    # Slack requests: a signed command or click is handled once.
    async def claim_slack_request(self, signature: str, expires_at: float, now: float) -> bool:
        """True the first time this signature is seen; entries past `expires_at` (when a
        replay would no longer verify) are forgotten."""
        ...

    # Alert groups as Slack threads.
    async def dirty_alert_groups(self, limit: int = 100) -> list[AlertGroupState]: ...
    async def alert_group(self, group_id: str) -> AlertGroupState | None: ...
    async def alert_group_by_dedup(self, dedup_hash: str) -> AlertGroupState | None: ...
    async def open_digest(self, channel: str, now: datetime) -> str | None: ...
    async def channel_backlog(self, channel: str) -> int: ...
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
    ) -> bool: ...
    async def update_alert_group(self, group_key: str, **changes: Any) -> None: ...
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
        """A storm digest member's sync: stores its rendered line (or, `line` None, removes it
        and queues `then`, its own thread) and queues the redraw of only the digest messages
        that changed, in the sync's transaction; `render` draws one message from stored lines."""
        ...

    # PagerDuty incidents as Slack threads.
    async def dirty_pagerduty_incidents(self, limit: int = 100) -> list[PagerDutyIncident]: ...
    async def pagerduty_incident(self, incident_id: str) -> PagerDutyIncident | None: ...
    async def complete_pagerduty_sync(
        self,
        incident: PagerDutyIncident,
        *,
        items: Sequence[NewOutboxItem],
        channel: str | None,
        thread_key: str | None,
        link_group: str | None,
        posted_view: str | None = None,
    ) -> bool: ...

    # Dangerous actions waiting for confirmation.
    async def create_action(
        self,
        plan: ActionPlan,
        requested_by: str,
        channel: str,
        incident_id: int | None,
        *,
        needed: int = 1,
        at: datetime | None = None,
    ) -> PendingAction:
        """`needed`: the confirmations it takes, fixed now; `at`: when it was asked for."""
        ...

    async def get_action(self, action_id: int) -> PendingAction | None: ...
    async def actions_in_state(self, states: Iterable[ActionState]) -> list[PendingAction]: ...
    async def transition_action(
        self,
        action_id: int,
        expected: Iterable[ActionState],
        to: ActionState,
        *,
        approvals: Iterable[str] | None = None,
        result: str | None = None,
    ) -> PendingAction | None: ...

    # Incidents and their timelines.
    async def create_incident(self, new: NewIncident) -> Incident: ...
    async def get_incident(self, incident_id: int) -> Incident | None: ...
    async def list_incidents(
        self, *, open_only: bool = False, limit: int = 100
    ) -> list[Incident]: ...
    async def update_incident(self, incident_id: int, **changes: Any) -> Incident: ...
    async def append_event(self, incident_id: int, event: NewEvent) -> TimelineEvent: ...
    async def timeline(self, incident_id: int) -> list[TimelineEvent]: ...
    async def incident_by_channel(self, channel_id: str) -> Incident | None: ...
    async def append_event_once(
        self,
        incident_id: int,
        event: NewEvent,
        dedup_key: str,
        *,
        outbox: Sequence[NewOutboxItem] = (),
    ) -> TimelineEvent | None:
        """Appends unless an event with this key was recorded before (Slack's retries, or
        two replicas computing the same reminder); `outbox` is queued in the same write, so
        a message and the event that records it are both there or neither is."""
        ...

    async def find_event(
        self, incident_id: int, data_key: str, value: str
    ) -> TimelineEvent | None: ...

    # The Slack outbox.
    async def enqueue(self, items: Sequence[NewOutboxItem]) -> list[int]: ...
    async def outbox_heads(self) -> list[OutboxRow]:
        """The oldest unfinished row of each channel: what may be sent next, in order."""
        ...

    async def ready_update(
        self, head: OutboxRow, now: float, *, posts_with_key: str | None = None
    ) -> OutboxRow | None:
        """A row queued behind `head` in its channel, due by `now`, that may go before it
        (back-pressure): the oldest update of a message Slack already has or, with
        `posts_with_key`, the oldest post whose message key starts so (a top-level post, or
        a thread's change reply: only those carry a key inside a thread)."""
        ...

    async def coalesce_update(self, head: OutboxRow) -> tuple[OutboxRow, list[int]]:
        """For an update at the head of its channel, the newest pending update of the same
        message; for a thread's change reply at the head, one reply holding it and the
        change replies queued behind it. Either way with the ids of the rows it replaces,
        now marked superseded."""
        ...

    async def mark_in_flight(self, row_id: int, lease: Lease | None = None) -> bool:
        """Marks a row as being sent; False, with nothing changed, when `lease` is given and no
        longer held: a replica that lost the lead (paused past its lease) must not send."""
        ...

    async def mark_sent(
        self, row_id: int, result: Mapping[str, Any], message: SlackMessageRef | None
    ) -> None: ...
    async def reschedule(
        self, row_id: int, not_before: float, error: str, *, maybe_sent: bool = False
    ) -> None:
        """Puts a row back in line; `maybe_sent` keeps it in flight (look before re-posting)."""
        ...

    async def mark_unsent(self, row_id: int, state: OutboxState, reason: str) -> None:
        """Finishes a row that will never be sent (offline mode, or Slack refused it)."""
        ...

    async def await_invite(self, row_id: int, not_before: float, error: str) -> bool:
        """Keeps a row Slack refused because the bot is not in its channel waiting (pending,
        retried from `not_before`); True for the first row of that channel to wait so, since
        the last one of them was sent: the moment to say that the bot must be invited."""
        ...

    async def channels_awaiting_invite(self) -> list[ChannelAccess]: ...
    async def retry_channel(self, channel: str) -> int:
        """Makes every unsent row of a channel due now (the bot was just invited)."""
        ...

    async def latest_post(self, message_key: str) -> OutboxRow | None:
        """The newest chat.postMessage row of that logical message, whatever its state."""
        ...

    async def outbox_row(self, row_id: int) -> OutboxRow | None: ...
    async def outbox_stats(self, now: float) -> OutboxStats: ...
    async def message_ref(self, message_key: str) -> SlackMessageRef | None: ...

    # Leases: the work that must happen once across replicas.
    async def hold_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        """Takes or renews the lease for `ttl` seconds; None while another holder has it."""
        ...

    async def release_lease(self, lease: Lease) -> None:
        """Gives the lease up at once (a clean stop), so another replica need not wait."""
        ...

    async def lease(self, name: str) -> Lease | None: ...

    # Jobs: the work after a request's answer (a slash command's after Slack's ack), done once
    # by whichever replica holds it, and taken over when its holder stops renewing (it died).
    async def start_job(
        self, kind: str, key: str, payload: Mapping[str, Any], holder: str, ttl: float
    ) -> Job | None:
        """A new job, already claimed by `holder` for `ttl` seconds; None when a job with this
        key exists (the same request delivered again)."""
        ...

    async def renew_job(self, job: Job, ttl: float) -> bool:
        """Extends the claim; False when the job is no longer this claim's (taken over, or
        finished)."""
        ...

    async def take_abandoned_job(self, holder: str, ttl: float) -> Job | None:
        """One running job whose claim expired, now claimed by `holder` with attempts + 1;
        replicas asking at once never get the same one."""
        ...

    async def finish_job(self, job: Job, state: JobState, error: str | None = None) -> bool:
        """Done or failed, only by the job's current claim; False (nothing changed) otherwise."""
        ...

    async def release_job(self, job: Job) -> bool:
        """Gives a running job up at once (a clean stop), so another replica need not wait for
        its claim to expire; only by its current claim."""
        ...

    async def job(self, key: str) -> Job | None: ...

    async def declare_once(self, new: NewIncident, request_key: str) -> tuple[Incident, bool]:
        """The incident declared for this request (its `declared` event's data holds the key),
        created with that event in one write unless one exists; whether it was created now."""
        ...

    async def calls_since(self, method: str, channel: str, since: datetime) -> list[OutboxRow]:
        """The outbox rows of `method` in `channel` queued since then, oldest first, whatever
        their state: what an interrupted run already asked Slack for."""
        ...

    # The public status page: only what a person published, apart from the timeline.
    async def publish(
        self,
        incident_id: int,
        status: PublicStatus,
        body: str,
        at: datetime,
        opening: Opening | None = None,
    ) -> PublicIncident | None:
        """Adds a public update to the incident's published record, first making the record
        from `opening` (or changing its title, impact and components to it); None, with
        nothing written, when the incident was never published and no opening is given."""
        ...

    async def published_incident(self, incident_id: int) -> PublicIncident | None: ...
    async def public_incident(self, public_id: str) -> PublicIncident | None: ...
    async def public_incidents(self, since: datetime) -> list[PublicIncident]:
        """Published incidents still open or first published since then, newest first."""
        ...

    async def add_maintenance(self, new: NewMaintenance, at: datetime) -> Maintenance: ...
    async def maintenances(self, ending_after: datetime) -> list[Maintenance]:
        """Scheduled maintenances not ended by then, soonest first."""
        ...

    async def status_page_version(self) -> str:
        """Changes whenever anything is published: what a cached rendering is keyed on."""
        ...

    # Retention.
    async def prune(self, older_than: datetime, limit: int) -> dict[str, int]:
        """Deletes at most `limit` rows of each prunable kind (webhook bodies, finished outbox
        rows, Slack event ids) last used before `older_than`; how many of each went."""
        ...
