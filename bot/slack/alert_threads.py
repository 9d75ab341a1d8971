"""Keeps one Slack thread per alert group showing the group's true state.

Webhooks only store; this worker turns each stored change into outbox rows, recording what the
thread will show in the same transaction, so restarts neither lose nor repeat a message. When a
channel's backlog already exceeds Slack's rate, new groups join one digest message instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.config import PlatformConfig
from bot.domain.alerts import Alert, Changes, GroupView, diff, summarize, summarize_group
from bot.domain.clock import Clock
from bot.services.outbox import message
from bot.services.store_outage import StoreOutage
from bot.slack import alert_messages
from bot.slack.blocks import Block
from bot.store.base import Store, StoreUnavailable
from bot.store.digest_records import (
    CHANGE_REPLY_KEY_PREFIX,
    DIGEST_KEY_PREFIX,
    THREAD_KEY_PREFIX,
    DigestPage,
)
from bot.store.records import AlertGroupState, NewOutboxItem, Urgency

log = logging.getLogger(__name__)
# Seconds of queued posts (at Slack's 1 per second) beyond which new groups go to the digest.
STORM_BACKLOG = 8
IDLE_POLL_SECONDS = 5.0


class AlertEnricher(Protocol):
    """Adds context to a new alert thread (the playbooks' quick steps plug in here)."""

    async def enrich(self, view: GroupView) -> list[tuple[str, list[Block]]]: ...


class NoEnrichment:
    async def enrich(self, view: GroupView) -> list[tuple[str, list[Block]]]:
        return []


class AutoDeclare(Protocol):
    """Declares (or finds) the incident an alert group's severity calls for."""

    async def __call__(self, group: AlertGroupState, view: GroupView) -> int | None: ...


@dataclass(frozen=True)
class Routing:
    config: PlatformConfig
    default_channel: str | None

    def channel_for(self, group: AlertGroupState) -> str | None:
        labels = {**group.common_labels, **group.group_labels}
        for route in self.config.channels.routes:
            if route.receiver is not None and route.receiver != group.receiver:
                continue
            if all(labels.get(k) == v for k, v in route.labels.items()):
                return route.channel
        return self.default_channel


def _changed(group: AlertGroupState) -> tuple[Alert, ...]:
    """The alerts whose state the thread may not show yet: those changed since its last sync
    when the store says, else every alert."""
    return group.changed if group.changed is not None else group.alerts


def parent_key(group: AlertGroupState) -> str:
    return f"{THREAD_KEY_PREFIX}{group.group_id}"


def change_key(group: AlertGroupState) -> str:
    return f"{CHANGE_REPLY_KEY_PREFIX}{group.group_id}"


def urgency_of(changes: Changes) -> Urgency:
    """How soon an edit showing `changes` should go when edits are short: new firing first,
    resolutions next, count changes last."""
    if changes.newly_firing:
        return Urgency.NEW_FIRING
    return Urgency.RESOLVED if changes.newly_resolved else Urgency.COUNTS


def _digest_message(page: DigestPage, urgency: Urgency = Urgency.NEW_FIRING) -> NewOutboxItem:
    text, blocks = alert_messages.digest_page(page)
    method = "chat.postMessage" if page.new else "chat.update"
    return message(
        method, page.channel, text, blocks=blocks, message_key=page.message_key, urgency=urgency
    )


def view_digest(payload: Any) -> str:
    """What a message shows, as the digest a thread keeps in `posted_view`: when the next
    render has the same digest, the message is not edited."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class AlertThreads:
    def __init__(
        self,
        store: Store,
        config: PlatformConfig,
        routing: Routing,
        clock: Clock,
        *,
        enricher: AlertEnricher | None = None,
        auto_declare: AutoDeclare | None = None,
        outbox_wakeup: asyncio.Event | None = None,
    ) -> None:
        self._store = store
        self._config = config
        self._routing = routing
        self._clock = clock
        self._enricher = enricher or NoEnrichment()
        self._auto_declare = auto_declare
        self._outbox_wakeup = outbox_wakeup
        self.wakeup = asyncio.Event()
        self._known_services = {
            alias: svc.name for svc in config.services for alias in (svc.name, svc.deployment)
        }
        self._background: set[asyncio.Task[None]] = set()
        self._outage = StoreOutage("alert threads", log)

    def view(self, group: AlertGroupState) -> GroupView:
        if group.summary is not None:
            return summarize_group(
                group.group_key,
                group.summary,
                group.alerts,
                common_labels=group.common_labels,
                common_annotations=group.common_annotations,
                external_url=group.external_url,
                known_services=self._known_services,
                unseen=group.truncated_alerts,
            )
        return summarize(
            group.group_key,
            group.alerts,
            common_labels=group.common_labels,
            common_annotations=group.common_annotations,
            external_url=group.external_url,
            known_services=self._known_services,
            unseen=group.truncated_alerts,
        )

    async def run(self) -> None:
        try:
            while True:
                self.wakeup.clear()
                try:
                    if await self.sync_pending():
                        self._outage.recovered()
                except StoreUnavailable as exc:
                    # Said once; a webhook's wakeup does not cut the pause short.
                    await asyncio.sleep(self._outage.failed(exc))
                except Exception:
                    # A bug must not stop every thread for good: log it, retry on the next pass.
                    log.exception("alert thread sync failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), IDLE_POLL_SECONDS)
        finally:
            for task in list(self._background):
                task.cancel()

    async def sync_pending(self) -> int:
        """Brings every changed group's thread up to date; returns how many were synced."""
        done = 0
        while groups := await self._store.dirty_alert_groups(limit=200):
            for group in groups:
                await self.sync(group)
                done += 1
            if self._outbox_wakeup is not None:
                self._outbox_wakeup.set()
        return done

    async def sync(self, group: AlertGroupState) -> None:
        channel = group.channel or self._routing.channel_for(group)
        view = self.view(group)
        posted_state = {a.fingerprint: a.status for a in _changed(group)}
        # Checked on every change, not only the first: a warning can turn critical.
        if group.incident_id is None and await self._maybe_declare(group, view):
            return  # the link bumped the group's version; the next pass posts it linked
        if channel is None:
            # Nowhere to post: stored and listed in /api/alerts, nothing more.
            await self._complete(group, [], posted_state, None, None, None)
            return
        incident = f"Incident #{group.incident_id}" if group.incident_id else None
        blocks = alert_messages.parent_blocks(
            view, group.group_id, acked_by=group.acked_by, incident=incident
        )
        text = alert_messages.parent_text(view)
        shown = view_digest({"text": text, "blocks": blocks})
        items: list[NewOutboxItem] = []
        digest_key = group.digest_key
        is_new = group.posted_view is None and digest_key is None

        if is_new and await self._store.channel_backlog(channel) >= STORM_BACKLOG:
            digest_key = await self._store.open_digest(channel, self._clock.now())
            digest_key = digest_key or f"{DIGEST_KEY_PREFIX}{channel}:{group.group_id}"
            await self._digest_sync(group, view, channel, digest_key, posted_state)
            return
        if digest_key is not None:
            if not await self._leaves_digest(group, channel):
                await self._digest_sync(group, view, channel, digest_key, posted_state)
                return
            post = message(
                "chat.postMessage",
                channel,
                text,
                blocks=blocks,
                message_key=parent_key(group),
                incident_id=group.incident_id,
            )
            if await self._digest_sync(
                group, view, channel, digest_key, posted_state, leave=post, shown=shown
            ):
                self._enrich_later(channel, parent_key(group), view)
            return

        key = parent_key(group)
        if is_new:
            items.append(
                message(
                    "chat.postMessage",
                    channel,
                    text,
                    blocks=blocks,
                    message_key=key,
                    incident_id=group.incident_id,
                )
            )
        else:
            changes = diff(group.posted_state, _changed(group))
            if shown != group.posted_view:
                items.append(
                    message(
                        "chat.update",
                        channel,
                        text,
                        blocks=blocks,
                        message_key=key,
                        urgency=urgency_of(changes),
                    )
                )
            if changes:
                reply_text, reply_blocks = alert_messages.change_reply(changes)
                items.append(
                    message(
                        "chat.postMessage",
                        channel,
                        reply_text,
                        blocks=reply_blocks,
                        message_key=change_key(group),
                        thread_key=key,
                        incident_id=group.incident_id,
                    )
                )
        if await self._complete(group, items, posted_state, shown, channel, None) and is_new:
            self._enrich_later(channel, key, view)

    async def _leaves_digest(self, group: AlertGroupState, channel: str) -> bool:
        """A digest member gets its own thread when it starts firing anew after the storm:
        the new alerts need a place to be discussed. One at a time (an idle channel only), so
        groups leave at Slack's pace instead of bringing the storm back."""
        if not diff(group.posted_state, _changed(group)).newly_firing:
            return False
        return await self._store.channel_backlog(channel) == 0

    async def _digest_sync(
        self,
        group: AlertGroupState,
        view: GroupView,
        channel: str,
        digest_key: str,
        posted_state: Mapping[str, str],
        *,
        leave: NewOutboxItem | None = None,
        shown: str | None = None,
    ) -> bool:
        """Stores the group's digest line and redraws only the message holding it; leaving,
        the line goes and the group's own thread is queued behind that redraw, in one
        transaction, so the group is never live in two messages."""
        line = (
            None
            if leave is not None
            else alert_messages.digest_line(view, group.group_labels, group.external_url)
        )
        # Leaving, the redraw goes first: the group's new alerts wait behind it.
        urgency = (
            Urgency.NEW_FIRING
            if leave is not None
            else urgency_of(diff(group.posted_state, _changed(group)))
        )
        return await self._store.complete_digest_sync(
            group.group_key,
            group.version,
            digest_key=digest_key,
            channel=channel,
            line=line,
            render=functools.partial(_digest_message, urgency=urgency),
            posted_state=posted_state,
            posted_view=shown if leave is not None else group.posted_view,
            then=[leave] if leave is not None else [],
        )

    async def _complete(
        self,
        group: AlertGroupState,
        items: Sequence[NewOutboxItem],
        posted_state: Mapping[str, str],
        shown: str | None,
        channel: str | None,
        digest_key: str | None,
    ) -> bool:
        return await self._store.complete_alert_sync(
            group.group_key,
            group.version,
            items=items,
            posted_state=posted_state,
            posted_view=shown if shown is not None else group.posted_view,
            channel=channel,
            digest_key=digest_key,
        )

    async def _maybe_declare(self, group: AlertGroupState, view: GroupView) -> bool:
        if self._auto_declare is None or view.status != "firing":
            return False
        try:
            incident_id = await self._auto_declare(group, view)
        except StoreUnavailable:
            raise
        except Exception:
            log.exception("auto-declare failed", extra={"group": group.group_id})
            return False
        if incident_id is None:
            return False
        await self._store.update_alert_group(group.group_key, incident_id=incident_id)
        return True

    def _enrich_later(self, channel: str, key: str, view: GroupView) -> None:
        """Enrichment may take seconds (Kubernetes, Prometheus): never hold up other threads."""

        async def enrich() -> None:
            try:
                replies = await self._enricher.enrich(view)
                items = [
                    message("chat.postMessage", channel, text, blocks=blocks, thread_key=key)
                    for text, blocks in replies
                ]
                if items:
                    await self._store.enqueue(items)
                    if self._outbox_wakeup is not None:
                        self._outbox_wakeup.set()
            except Exception:
                log.exception("alert enrichment failed", extra={"key": key})

        task = asyncio.create_task(enrich())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
