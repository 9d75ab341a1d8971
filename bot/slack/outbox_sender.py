"""Drains the outbox into Slack: in order per channel, within rate limits, exactly once.

A posted message carries metadata naming its outbox row. A row whose last attempt may have
reached Slack (a crash, a timeout, a 5xx) is looked up in the channel's history before it is
sent again, because Slack has no idempotency key.

A channel the bot is not a member of (Slack answers not_in_channel, or channel_not_found for a
private channel) keeps its rows waiting, in order, and says once, in the log and the fallback
channel, that the bot must be invited; the rows go out when it is (member_joined_channel, or
the next retry). A reply never goes out without its thread's parent: it waits for a parent
still to be sent, and an update of a message that was never posted posts it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.clock import Clock
from bot.domain.leases import Lease
from bot.domain.report import from_data, plain_text
from bot.domain.timeline import EventKind, NewEvent
from bot.observability.metrics import Metrics
from bot.services.outbox import LINES_ARG, METADATA_EVENT_TYPE, Outbox
from bot.services.store_outage import StoreOutage
from bot.slack.invites import Invites
from bot.slack.rate_limits import Pacing
from bot.slack.report import mrkdwn
from bot.store.base import Store, StoreUnavailable
from bot.store.digest_records import (
    CHANGE_REPLY_KEY_PREFIX,
    DIGEST_KEY_PREFIX,
    THREAD_KEY_PREFIX,
)
from bot.store.records import OutboxRow, OutboxState, SlackMessageRef

log = logging.getLogger(__name__)

# Errors that say "try again later" rather than "this request is wrong".
TRANSIENT_ERRORS = {
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
}
# History lookups that will keep failing however long we wait.
UNREADABLE_HISTORY = {"not_in_channel", "channel_not_found", "missing_scope", "is_archived"}
# Errors that mean a retried write had already taken effect.
ALREADY_DONE = {"already_in_channel", "already_pinned", "already_reacted", "already_archived"}
PARENT_WAIT = 2.0  # a reply whose parent is queued in another channel looks again after this
MAX_REQUEST_ERRORS = 5  # the SDK refused the request (a refused upload): retried, then failed
MAX_BACKOFF = 60.0
MAX_CONCURRENT_SENDS = 8
HISTORY_PAGES = 5
FENCED_PAUSE = 1.0  # a sender that lost the lead waits this long for its work to be stopped


def _is_digest(row: OutboxRow) -> bool:
    return (row.message_key or "").startswith(DIGEST_KEY_PREFIX)


@dataclass(frozen=True)
class _Hold:
    """A row that cannot go yet: it waits (`give_up` False) or never will."""

    reason: str
    give_up: bool = False


class OutboxSender:
    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        client: AsyncWebClient | None,
        clock: Clock,
        metrics: Metrics,
        *,
        pacing: Pacing | None = None,
        fallback_channel: str | None = None,
        fence: Callable[[], Lease | None] | None = None,
    ) -> None:
        """`fallback_channel` (the incidents channel) hears when the bot must be invited to
        another channel. `fence` gives the lease sends are made under (None once lost): each
        send first checks it is still held, in the write that marks the row in flight."""
        self._store = store
        self._invites = Invites(store, outbox, fallback_channel)
        self._outbox = outbox
        self._client = client
        self._clock = clock
        self._metrics = metrics
        self._pacing = pacing or Pacing()
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(MAX_CONCURRENT_SENDS)
        self._outage = StoreOutage("outbox", log)
        self._fence = fence
        self._fenced_until = 0.0

    def _now(self) -> float:
        # Slack's limits and retry delays run on real time, whatever clock the incidents use.
        return time.time()

    async def run(self) -> None:
        """Runs until cancelled."""
        try:
            while True:
                # Cleared before looking, so a row queued while we look still wakes us.
                self._outbox.wakeup.clear()
                try:
                    delay = self._outage.remaining() or await self._dispatch()
                except StoreUnavailable as exc:
                    delay = self._outage.failed(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._outbox.wakeup.wait(), timeout=delay)
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _dispatch(self) -> float:
        """Starts a send for every channel whose head is due; returns seconds to the next one."""
        now = self._now()
        if now < self._fenced_until:
            return self._fenced_until - now
        next_due = 5.0
        for head in await self._store.outbox_heads():
            if head.channel in self._busy:
                continue
            due = max(head.not_before, self._pacing.ready_at(head.method, head.channel, now))
            if head.method == "chat.postMessage" and not _is_digest(head):
                # Back-pressure: a post's turn (1/s) goes first to a digest message, which
                # names new groups, then to a new group's thread, before thread replies that
                # only report changes; while the posts wait, edits of messages already posted
                # (digest lines, parents' state) go around them.
                jump = await self._store.ready_update(
                    head, now, posts_with_key=DIGEST_KEY_PREFIX if due <= now else None
                )
                if jump is None and due <= now and head.thread_key is not None:
                    # Then a new group's own thread, before replies that report changes. Never
                    # ahead of the digest redraw a leaving group's thread is queued behind: a
                    # group leaves only while the channel has no post queued, so no older
                    # reply can be at the head then.
                    jump = await self._store.ready_update(
                        head, now, posts_with_key=THREAD_KEY_PREFIX
                    )
                # An edit goes around only while half the minute's edits are spare: the rest
                # is kept for the edits at the head, which hold the channel while they wait.
                if (
                    jump
                    and self._pacing.ready_at(jump.method, head.channel, now) <= now
                    and (
                        jump.method == "chat.postMessage"
                        or self._pacing.spare(jump.method, now) > 0.5
                    )
                ):
                    head, due = jump, now
            elif head.method == "chat.update" and due > now:
                # An edit waiting for its allowance (a spent minute, a Retry-After) would hold
                # the channel for as long: posts have their own, so a new digest message, then
                # a thread's change reply, go around it. A new group's thread does not: a
                # group leaving the digest is queued behind the redraw that takes its line out.
                post_at = self._pacing.ready_at("chat.postMessage", head.channel, now)
                if post_at > now:
                    next_due = min(next_due, post_at - now)
                elif jump := (
                    await self._store.ready_update(head, now, posts_with_key=DIGEST_KEY_PREFIX)
                    or await self._store.ready_update(
                        head, now, posts_with_key=CHANGE_REPLY_KEY_PREFIX
                    )
                ):
                    head, due = jump, now
            if due > now:
                next_due = min(next_due, due - now)
                continue
            self._busy.add(head.channel)
            self._pacing.begin(head.method)  # counted now, so the next head sees it
            task = asyncio.create_task(self._send_guarded(head))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return max(0.01, next_due)

    async def _send_guarded(self, row: OutboxRow) -> None:
        try:
            async with self._limit:
                await self._send(row)
            self._outage.recovered()  # every way through a send ends in a write
        except StoreUnavailable as exc:
            # A read-only or full store fails at once: retried after a pause, said once.
            self._outage.failed(exc)
        except Exception:
            log.exception("outbox send crashed", extra={"row": row.id})
            with contextlib.suppress(StoreUnavailable):
                await self._store.reschedule(
                    row.id, self._now() + 5, "internal error", maybe_sent=True
                )
        finally:
            self._pacing.end(row.method)
            self._busy.discard(row.channel)
            self._outbox.wakeup.set()

    async def _send(self, row: OutboxRow) -> None:
        if self._client is None:
            await self._give_up(
                row, "Slack is not configured (offline mode)", OutboxState.UNDELIVERED
            )
            return
        row, superseded = await self._store.coalesce_update(row)
        for stale_id in superseded:
            await self._notify(stale_id)
        prepared = await self._prepare(row)
        if isinstance(prepared, _Hold):
            if prepared.give_up:
                await self._give_up(row, prepared.reason, OutboxState.FAILED)
            else:
                await self._store.reschedule(
                    row.id,
                    self._now() + PARENT_WAIT,
                    prepared.reason,
                    maybe_sent=row.state == OutboxState.IN_FLIGHT,
                )
            return
        method, args = prepared
        if method == "chat.postMessage" and row.state == OutboxState.IN_FLIGHT:
            try:
                found = await self._find_posted(row, args)
            except _LookupFailed as exc:
                await self._retry(row, f"history lookup failed: {exc}", maybe_sent=True)
                return
            if found is not None:
                await self._finish(row, {"ts": found.ts, "channel": found.channel}, found)
                return
        if not await self._mark_in_flight(row):
            return
        try:
            response = await self._call(method, args)
        except SlackApiError as exc:
            await self._failed(row, exc, method)
            return
        except SlackRequestError as exc:
            # The SDK's own refusal (an upload the file host did not take): not Slack's
            # answer to the call, so retried a few times, then given up.
            if row.attempts + 1 >= MAX_REQUEST_ERRORS:
                await self._give_up(row, f"{method} refused: {exc}", OutboxState.FAILED)
            else:
                await self._retry(row, f"request refused: {exc}", maybe_sent=False)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self._retry(
                row, f"connection error: {type(exc).__name__}", maybe_sent=True, method=method
            )
            return
        finally:
            # Paced from the answer, not the request: Slack counts arrivals, and the next
            # post must arrive a full interval after this one did.
            self._pacing.sent(method, row.channel, self._now())
        data: Mapping[str, Any] = response.data if isinstance(response.data, dict) else {}
        ref = None
        if method == "chat.postMessage" and "ts" in data:
            ref = SlackMessageRef(str(data.get("channel", row.channel)), str(data["ts"]))
        result = {k: data[k] for k in ("ts", "channel") if k in data}
        await self._finish(row, result, ref)

    async def _mark_in_flight(self, row: OutboxRow) -> bool:
        if self._fence is None:
            return await self._store.mark_in_flight(row.id)
        lease = self._fence()
        if lease is not None and await self._store.mark_in_flight(row.id, lease):
            return True
        if self._now() >= self._fenced_until:
            log.warning(
                "outbox paused: this replica no longer holds the lead; the new leader sends",
                extra={"row": row.id},
            )
        self._fenced_until = self._now() + FENCED_PAUSE
        return False

    async def _call(self, method: str, args: dict[str, Any]) -> Any:
        """Through the SDK's own method where there is one: it knows how Slack wants each
        method's arguments encoded (query, form or JSON)."""
        assert self._client is not None
        named = getattr(self._client, method.replace(".", "_"), None)
        if callable(named):
            return await named(**args)
        return await self._client.api_call(method, json=args)

    async def _prepare(self, row: OutboxRow) -> tuple[str, dict[str, Any]] | _Hold:
        """The method and arguments to send now, or why the row cannot go yet."""
        method, args, thread_key = row.method, dict(row.args), row.thread_key
        if LINES_ARG in args:
            # The one place the services' report lines become mrkdwn, escaped once.
            args["text"] = mrkdwn(from_data(args.pop(LINES_ARG)))
        if method == "chat.update":
            ref = await self._store.message_ref(row.message_key or "")
            if ref is not None:
                args["channel"], args["ts"] = ref.channel, ref.ts
                return method, args
            post = await self._store.latest_post(row.message_key or "")
            if post is None or post.state == OutboxState.SENT:
                return _Hold("the message to update was never posted", give_up=True)
            if post.state not in (OutboxState.FAILED, OutboxState.UNDELIVERED):
                return _Hold("waiting for the message it updates to be posted")
            # Its post was refused for good: this newer state becomes the message.
            method, thread_key = "chat.postMessage", post.thread_key
        if method in ("chat.postMessage", "files.upload_v2") and thread_key:
            parent = await self._store.message_ref(thread_key)
            if parent is None:
                return await self._without_parent(thread_key)
            args["thread_ts"] = parent.ts
        if method == "files.upload_v2" and "content_base64" in args:
            args["file"] = base64.b64decode(args.pop("content_base64"))
        if method == "chat.postMessage":
            metadata = dict(args.get("metadata") or {})
            payload = dict(metadata.get("event_payload") or {})
            payload["outbox_id"] = row.id
            args["metadata"] = {
                "event_type": metadata.get("event_type", METADATA_EVENT_TYPE),
                "event_payload": payload,
            }
        return method, args

    async def _without_parent(self, thread_key: str) -> _Hold:
        """A reply must never go out on its own, as if it were a new thread."""
        post = await self._store.latest_post(thread_key)
        if post is not None and post.state in (OutboxState.PENDING, OutboxState.IN_FLIGHT):
            return _Hold("waiting for its thread's parent to be posted")
        return _Hold("its thread's parent was never posted", give_up=True)

    async def _find_posted(self, row: OutboxRow, args: Mapping[str, Any]) -> SlackMessageRef | None:
        """Looks for a message carrying this row's id, posted by an attempt that may have
        reached Slack before we lost track of it."""
        assert self._client is not None
        oldest = f"{row.created_at.timestamp() - 60:.6f}"
        thread_ts = args.get("thread_ts")
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            query: dict[str, Any] = {
                "channel": row.channel,
                "oldest": oldest,
                "limit": 200,
                "include_all_metadata": True,
            }
            if cursor:
                query["cursor"] = cursor
            method = "conversations.replies" if thread_ts else "conversations.history"
            if thread_ts:
                query["ts"] = thread_ts
            try:
                page = await self._call(method, query)
            except SlackApiError as exc:
                error = (
                    str(exc.response.get("error", "")) if exc.response.status_code == 200 else ""
                )
                if error in UNREADABLE_HISTORY:
                    # History we may never read: waiting would block the channel for good, so
                    # post again and accept the small risk of a duplicate.
                    log.warning(
                        "cannot check history before re-posting",
                        extra={"row": row.id, "error": error},
                    )
                    return None
                raise _LookupFailed(str(exc)) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                # Cannot tell whether it was posted; posting again risks a duplicate, so wait.
                raise _LookupFailed(str(exc)) from exc
            messages: list[dict[str, Any]] = page.get("messages", [])
            for message in messages:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("outbox_id") == row.id:
                    return SlackMessageRef(row.channel, str(message["ts"]))
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    async def _failed(self, row: OutboxRow, exc: SlackApiError, method: str) -> None:
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if status == 200 else f"HTTP {status}"
        if status == 429:
            retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
            until = self._now() + retry_after
            self._pacing.retry_after(method, row.channel, until)
            await self._store.reschedule(row.id, until, "rate limited")
            return
        if error in ALREADY_DONE:
            await self._finish(row, {"note": error}, None)
            return
        if status >= 500 or error in TRANSIENT_ERRORS:
            await self._retry(row, error, maybe_sent=status >= 500, method=method)
            return
        if Invites.applies(row, error):
            await self._invites.wait(row, method, error, self._now())
            return
        await self._give_up(row, f"Slack refused {method}: {error}", OutboxState.FAILED)

    async def _retry(
        self, row: OutboxRow, error: str, *, maybe_sent: bool, method: str | None = None
    ) -> None:
        backoff = min(MAX_BACKOFF, 2.0 ** max(0, row.attempts)) * random.uniform(0.5, 1.0)
        # A post that may have landed stays in flight, so the next attempt looks first.
        await self._store.reschedule(
            row.id,
            self._now() + backoff,
            error,
            maybe_sent=maybe_sent and (method or row.method) == "chat.postMessage",
        )

    async def _finish(
        self, row: OutboxRow, result: Mapping[str, Any], ref: SlackMessageRef | None
    ) -> None:
        await self._store.mark_sent(row.id, result, ref)
        self._metrics.outbox_sent_latency.observe(
            max(0.0, self._now() - row.created_at.timestamp())
        )
        await self._notify(row.id)

    async def _notify(self, row_id: int) -> None:
        done = await self._store.outbox_row(row_id)
        if done is not None:
            self._outbox.finished(done)

    async def _give_up(self, row: OutboxRow, reason: str, state: OutboxState) -> None:
        await self._store.mark_unsent(row.id, state, reason)
        if state == OutboxState.FAILED:
            log.warning(
                "slack write failed", extra={"row": row.id, "method": row.method, "reason": reason}
            )
        if row.incident_id is not None:
            lines = row.args.get(LINES_ARG)
            # The timeline is read by people outside Slack: words, not Slack's escapes.
            text = (
                plain_text(from_data(lines)) if lines is not None else str(row.args.get("text", ""))
            ) or row.method
            await self._store.append_event(
                row.incident_id,
                NewEvent(
                    EventKind.SLACK_UNDELIVERED,
                    "incident-bot",
                    text,
                    self._clock.now(),
                    {
                        "method": row.method,
                        "channel": row.channel,
                        "reason": reason,
                        "outbox_id": row.id,
                    },
                ),
            )
        await self._notify(row.id)


class _LookupFailed(Exception):
    pass
