"""Channels the bot is not a member of: their Slack writes wait for an invite, and a person
hears so once.

Slack answers `not_in_channel`, or `channel_not_found` for a private channel the bot cannot
see (https://docs.slack.dev/reference/methods/chat.postMessage#errors), until someone invites
the bot. Failing the row would break its thread for good (updates of a parent never posted,
replies without their parent), so the row stays pending and is retried with a backoff, and
at once when the bot joins (channel_events' member_joined_channel). The first refusal of a
channel logs a warning and, when a fallback channel is configured, says there that the bot
must be invited; /readyz and /metrics read the waiting rows from the store.
"""

from __future__ import annotations

import logging
import random
import re

from bot.services.outbox import Outbox
from bot.slack.blocks import escape
from bot.store.base import Store
from bot.store.records import OutboxRow

log = logging.getLogger(__name__)

NOT_A_MEMBER = {"not_in_channel", "channel_not_found"}
RETRY_FIRST, RETRY_MAX = 15.0, 300.0
CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")
# Queues that are not channels: a DM to a user id, the workspace-wide queue (channel creation).
NOT_CHANNELS = re.compile(r"[UW][A-Z0-9_]+|workspace")


class Invites:
    def __init__(self, store: Store, outbox: Outbox, fallback_channel: str | None) -> None:
        self._store = store
        self._outbox = outbox
        self._fallback = fallback_channel

    @staticmethod
    def applies(row: OutboxRow, error: str) -> bool:
        """Whether this refusal means the bot is not a member of the row's channel."""
        return error in NOT_A_MEMBER and not NOT_CHANNELS.fullmatch(row.channel)

    async def wait(self, row: OutboxRow, method: str, error: str, now: float) -> None:
        """Keeps the row (and so its channel) waiting; the first time, says so."""
        delay = min(RETRY_MAX, RETRY_FIRST * 2.0 ** max(0, row.attempts - 1))
        first = await self._store.await_invite(
            row.id, now + delay * random.uniform(0.8, 1.0), error
        )
        if not first:
            return
        log.warning(
            "the bot must be invited to a Slack channel; its messages wait until then",
            extra={"channel": row.channel, "method": method, "error": error},
        )
        if self._fallback and self._fallback != row.channel:
            where = (
                f"<#{row.channel}>" if CHANNEL_ID.fullmatch(row.channel) else escape(row.channel)
            )
            await self._outbox.post(
                self._fallback,
                f":warning: I cannot post in {where}: Slack answers `{escape(error)}`. "
                "Invite me there (`/invite @incident-bot` in that channel); its messages "
                "wait and go out, in order, once I am in.",
            )
