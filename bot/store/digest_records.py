"""What an alert-storm digest keeps per member group, and one of its messages to (re)draw."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.store.records import NewOutboxItem

# Lines per digest message: one section each, so a message stays well inside Slack's 50 blocks
# and 40,000 characters however many groups the storm brings (more groups, more messages).
PAGE_LINES = 40
# Every digest message's key starts so: the outbox gives their posts their turn first.
DIGEST_KEY_PREFIX = "digest:"
# Every alert thread's parent message key starts so: a new group's post goes before replies.
THREAD_KEY_PREFIX = "alertgroup:"
# A thread's change replies share a key so that, queued behind a backlog, they go as one.
CHANGE_REPLY_KEY_PREFIX = "alertchanges:"


@dataclass(frozen=True)
class DigestLine:
    """A member group's line as rendered when the group last synced."""

    status: str  # "firing" or "resolved": the first message's totals count these
    text: str


@dataclass(frozen=True)
class DigestPage:
    """One message of a digest: its lines in join order and the digest's totals."""

    digest_key: str
    channel: str
    page: int
    lines: Sequence[str]
    groups: int  # the digest's totals: on the first message only (0 on the others)
    firing: int
    new: bool  # not posted yet: a chat.postMessage, else a chat.update

    @property
    def message_key(self) -> str:
        # The first message keeps the digest's own key, as digests made before paging did.
        return self.digest_key if self.page == 0 else f"{self.digest_key}#{self.page}"


DigestRender = Callable[[DigestPage], NewOutboxItem]
