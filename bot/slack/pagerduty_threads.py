"""One Slack thread per PagerDuty incident, or the alert group's thread when the incident came
from an alert the channel already shows (Alertmanager's dedup key is the group key's hash)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import timedelta

from bot.domain.clock import Clock
from bot.domain.timeline import EventKind, NewEvent
from bot.services.outbox import message
from bot.services.store_outage import StoreOutage
from bot.slack import pagerduty_messages as messages
from bot.slack.alert_threads import parent_key, view_digest
from bot.store.base import Store, StoreUnavailable
from bot.store.records import NewOutboxItem, PagerDutyIncident

log = logging.getLogger(__name__)
IDLE_POLL_SECONDS = 5.0
ALERT_GRACE = timedelta(seconds=30)
# The dedup key of a page the bot sent for one of its incidents (services/paging.dedup_key).
OUR_PAGE = re.compile(r"incident-bot-([0-9]{1,18})")


class PagerDutyThreads:
    def __init__(
        self,
        store: Store,
        channel: str | None,
        clock: Clock,
        *,
        outbox_wakeup: asyncio.Event | None = None,
    ) -> None:
        self._clock = clock
        self._store = store
        self._channel = channel
        self._outbox_wakeup = outbox_wakeup
        self.wakeup = asyncio.Event()
        self._outage = StoreOutage("pagerduty threads", log)

    async def run(self) -> None:
        while True:
            self.wakeup.clear()
            try:
                if await self.sync_pending():
                    self._outage.recovered()
            except StoreUnavailable as exc:
                await asyncio.sleep(self._outage.failed(exc))
            except Exception:
                log.exception("pagerduty thread sync failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), IDLE_POLL_SECONDS)

    async def sync_pending(self) -> int:
        done = 0
        while incidents := await self._store.dirty_pagerduty_incidents(limit=1000):
            synced = [await self.sync(incident) for incident in incidents]
            done += sum(synced)
            if not any(synced):
                break  # all waiting for their alert thread; the next pass will see it
            if self._outbox_wakeup is not None:
                self._outbox_wakeup.set()
        return done

    def _young(self, incident: PagerDutyIncident) -> bool:
        first = min((e.occurred_at for e in incident.pending_events), default=None)
        return first is not None and self._clock.now() - first < ALERT_GRACE

    async def _record_acknowledgements(self, incident: PagerDutyIncident) -> None:
        """A PagerDuty acknowledgement goes into the timeline of the bot's incident it belongs
        to (its page, or its alert group's): the post-mortem's time to acknowledge is read
        there. Once per webhook event, however often the sync is retried."""
        acks = [e for e in incident.pending_events if e.event_type == "incident.acknowledged"]
        if not acks or not incident.incident_key:
            return
        ours = OUR_PAGE.fullmatch(incident.incident_key)
        if ours is not None:
            incident_id: int | None = int(ours.group(1))
        else:
            group = await self._store.alert_group_by_dedup(incident.incident_key)
            incident_id = group.incident_id if group is not None else None
        if incident_id is None or await self._store.get_incident(incident_id) is None:
            return
        for ack in acks:
            by = ack.agent or "PagerDuty"
            await self._store.append_event_once(
                incident_id,
                NewEvent(
                    EventKind.ACTION,
                    by,
                    f"PagerDuty acknowledgement by {by} ({incident.title})",
                    ack.occurred_at,
                    {"pagerduty": "acknowledged", "pagerduty_incident": incident.id},
                ),
                f"pagerduty-ack:{ack.id}",
            )

    async def sync(self, incident: PagerDutyIncident) -> bool:
        """False when the incident waits for its alert group's thread to be posted first."""
        await self._record_acknowledgements(incident)
        channel, thread_key, link = incident.channel, incident.thread_key, None
        items: list[NewOutboxItem] = []
        new_parent = False
        if thread_key is None and incident.incident_key:
            group = await self._store.alert_group_by_dedup(incident.incident_key)
            if group is not None and group.channel and group.posted_view is not None:
                channel, thread_key, link = group.channel, parent_key(group), group.group_key
            elif group is not None and group.digest_key is None and group.synced_version == 0:
                # PagerDuty's webhook beat the alert's own thread: wait for it to exist.
                return False
            elif group is None and self._young(incident):
                # Alertmanager's delivery to the bot may still be on its way (or retrying).
                return False
        if thread_key is None and self._channel is not None:
            channel, thread_key, new_parent = self._channel, f"pd:{incident.id}", True
        if channel is None or thread_key is None:
            await self._store.complete_pagerduty_sync(
                incident, items=[], channel=None, thread_key=None, link_group=None
            )
            return True
        own = thread_key == f"pd:{incident.id}"
        shown = incident.posted_view
        if new_parent or own:
            text, blocks = messages.parent_text(incident), messages.parent_blocks(incident)
            shown = view_digest({"text": text, "blocks": blocks})
            # Edited only when what it shows changed: a note or a status update is a reply.
            if new_parent or shown != incident.posted_view:
                method = "chat.postMessage" if new_parent else "chat.update"
                items.append(message(method, channel, text, blocks=blocks, message_key=thread_key))
        for event in incident.pending_events:
            if new_parent and event.event_type == "incident.triggered":
                continue  # the new parent says as much
            items.append(
                message(
                    "chat.postMessage",
                    channel,
                    messages.event_text(incident, event),
                    thread_key=thread_key,
                )
            )
        await self._store.complete_pagerduty_sync(
            incident,
            items=items,
            channel=channel,
            thread_key=thread_key,
            link_group=link,
            posted_view=shown,
        )
        return True
