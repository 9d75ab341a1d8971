"""The outbox: every Slack write becomes a stored row first, so none is lost or sent twice."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from bot.domain.report import Line, to_data
from bot.store.base import Store
from bot.store.records import NewOutboxItem, OutboxRow, OutboxState, Urgency

# The metadata event type that ties a posted message back to its outbox row.
METADATA_EVENT_TYPE = "incident_bot_outbox"
# A message row's structured text (`domain.report` lines, stored as data): the sender renders
# it into the message's text when it sends the row, so outside text is escaped there, once.
LINES_ARG = "lines"
FINISHED = {OutboxState.SENT, OutboxState.SUPERSEDED, OutboxState.UNDELIVERED, OutboxState.FAILED}
# A row another replica sends is looked for in the store this often while waiting for it.
WAIT_POLL_SECONDS = 0.25


def message(
    method: str,
    channel: str,
    text: str,
    *,
    blocks: Sequence[Mapping[str, Any]] | None = None,
    message_key: str | None = None,
    thread_key: str | None = None,
    incident_id: int | None = None,
    urgency: Urgency = Urgency.NEW_FIRING,
    **extra: Any,
) -> NewOutboxItem:
    """A chat.postMessage or chat.update row; the thread workers queue these inside their own
    transactions, Outbox.post and Outbox.update one at a time."""
    args: dict[str, Any] = {"channel": channel, "text": text, **extra}
    if blocks is not None:
        args["blocks"] = list(blocks)
    return NewOutboxItem(method, channel, args, message_key, thread_key, incident_id, urgency)


def saying(
    channel: str,
    lines: Sequence[Line],
    *,
    message_key: str | None = None,
    thread_key: str | None = None,
    incident_id: int | None = None,
) -> NewOutboxItem:
    """The row `Outbox.say` queues, for a store write that queues it with other changes."""
    args = {"channel": channel, LINES_ARG: to_data(lines)}
    return NewOutboxItem("chat.postMessage", channel, args, message_key, thread_key, incident_id)


class Outbox:
    """Queues Slack writes. The sender (outbox_sender) drains them in the background."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.wakeup = asyncio.Event()
        self._finished: dict[int, asyncio.Future[OutboxRow]] = {}

    async def write(self, *items: NewOutboxItem) -> list[int]:
        ids = await self._store.enqueue(items)
        self.wakeup.set()
        return ids

    async def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        message_key: str | None = None,
        thread_key: str | None = None,
        incident_id: int | None = None,
        **extra: Any,
    ) -> int:
        [row_id] = await self.write(
            message(
                "chat.postMessage",
                channel,
                text,
                blocks=blocks,
                message_key=message_key,
                thread_key=thread_key,
                incident_id=incident_id,
                **extra,
            )
        )
        return row_id

    async def say(
        self,
        channel: str,
        lines: Sequence[Line],
        *,
        message_key: str | None = None,
        thread_key: str | None = None,
        incident_id: int | None = None,
    ) -> int:
        """A chat.postMessage of what the bot means to say, as report lines; the Slack sender
        renders them, so neither outside text nor a name can become a mention or a link."""
        [row_id] = await self.write(
            saying(
                channel,
                lines,
                message_key=message_key,
                thread_key=thread_key,
                incident_id=incident_id,
            )
        )
        return row_id

    async def update(
        self,
        channel: str,
        message_key: str,
        text: str,
        *,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        incident_id: int | None = None,
    ) -> int:
        [row_id] = await self.write(
            message(
                "chat.update",
                channel,
                text,
                blocks=blocks,
                message_key=message_key,
                incident_id=incident_id,
            )
        )
        return row_id

    async def call(
        self, method: str, channel: str, args: Mapping[str, Any], *, incident_id: int | None = None
    ) -> int:
        """Any other Slack write (invite, topic, bookmark, pin…), kept in the channel's order."""
        [row_id] = await self.write(NewOutboxItem(method, channel, args, None, None, incident_id))
        return row_id

    async def upload(
        self,
        channel: str,
        filename: str,
        content: str | bytes,
        *,
        title: str,
        thread_key: str | None = None,
        incident_id: int | None = None,
    ) -> int:
        """A file (long logs, a post-mortem, a chart), shared in the channel or a thread
        through Slack's external upload flow. Bytes are kept base64 in the row."""
        args = {"channel": channel, "filename": filename, "title": title}
        if isinstance(content, bytes):
            args["content_base64"] = base64.b64encode(content).decode()
        else:
            args["content"] = content
        [row_id] = await self.write(
            NewOutboxItem("files.upload_v2", channel, args, None, thread_key, incident_id)
        )
        return row_id

    async def wait(self, row_id: int, timeout: float) -> OutboxRow:
        """Waits for a row to be finished (sent, undelivered or failed) and returns it. The
        sender in this process says so at once; a row another replica sends (the one that
        leads) is seen in the store, looked at every WAIT_POLL_SECONDS."""
        loop = asyncio.get_running_loop()
        fut = self._finished.setdefault(row_id, loop.create_future())
        try:
            async with asyncio.timeout(timeout):
                while True:
                    row = await self._store.outbox_row(row_id)
                    if row is not None and row.state in FINISHED:
                        return row
                    with contextlib.suppress(TimeoutError):
                        return await asyncio.wait_for(asyncio.shield(fut), WAIT_POLL_SECONDS)
        finally:
            self._finished.pop(row_id, None)

    def finished(self, row: OutboxRow) -> None:
        fut = self._finished.get(row.id)
        if fut is not None and not fut.done():
            fut.set_result(row)
