"""Slack's published rate limits, as the outbox pacing needs them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

# Calls per minute by Slack's tier (Tier 2: 20+, Tier 3: 50+, Tier 4: 100+).
TIER_PER_MINUTE = {2: 20, 3: 50, 4: 100}
METHOD_TIER = {
    "chat.update": 3,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "conversations.create": 2,
    "conversations.invite": 3,
    "conversations.setTopic": 2,
    "conversations.setPurpose": 2,
    "conversations.archive": 2,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.join": 3,
    "bookmarks.add": 2,
    "pins.add": 2,
    "reactions.add": 3,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.upload_v2": 4,
    "views.open": 4,
    "views.update": 4,
}
# chat.postMessage is "special": about one message per second per channel.
POST_INTERVAL_SECONDS = 1.0


@dataclass
class CallWindow:
    """Slack's "N per minute" as it counts it: at most `per_minute` calls in any 60 s. Calls
    under way count too, so several sends started together cannot overrun it."""

    per_minute: int
    calls: deque[float] = field(default_factory=deque)
    under_way: int = 0

    def next_free(self, now: float) -> float:
        """When a call may go: now if the last minute has room, else when its oldest call
        leaves it."""
        while self.calls and self.calls[0] <= now - 60.0:
            self.calls.popleft()
        over = len(self.calls) + self.under_way - self.per_minute
        if over < 0:
            return now
        if over >= len(self.calls):  # the calls under way alone fill it: wait for them
            return now + 1.0
        return self.calls[over] + 60.0  # enough older calls have left the minute

    def take(self, now: float) -> None:
        self.calls.append(now)


@dataclass
class Pacing:
    """Where the next call of each kind may go, from limits and from Slack's Retry-After."""

    post_interval: float = POST_INTERVAL_SECONDS
    _post_free_at: dict[str, float] = field(default_factory=dict)
    _blocked_until: dict[str, float] = field(default_factory=dict)
    _windows: dict[str, CallWindow] = field(default_factory=dict)

    def _key(self, method: str, channel: str) -> str:
        # chat.postMessage limits are per channel; the others are per workspace.
        return f"{method}#{channel}" if method == "chat.postMessage" else method

    def ready_at(self, method: str, channel: str, now: float) -> float:
        at = self._blocked_until.get(self._key(method, channel), 0.0)
        if method == "chat.postMessage":
            return max(at, self._post_free_at.get(channel, 0.0))
        if (window := self._window(method)) is not None:
            at = max(at, window.next_free(now))
        return at

    def _window(self, method: str) -> CallWindow | None:
        tier = METHOD_TIER.get(method)
        if tier is None:
            return None
        return self._windows.setdefault(method, CallWindow(TIER_PER_MINUTE[tier]))

    def spare(self, method: str, now: float) -> float:
        """The share of `method`'s per-minute allowance still free now (1.0 with no tier)."""
        if (window := self._window(method)) is None:
            return 1.0
        window.next_free(now)  # forgets the calls that left the minute
        used = len(window.calls) + window.under_way
        return max(0.0, 1.0 - used / window.per_minute)

    def begin(self, method: str) -> None:
        """A send of `method` was started: it counts until `end`."""
        if (window := self._window(method)) is not None:
            window.under_way += 1

    def end(self, method: str) -> None:
        if (window := self._window(method)) is not None:
            window.under_way = max(0, window.under_way - 1)

    def sent(self, method: str, channel: str, now: float) -> None:
        """Slack answered a call (counted from its answer, never earlier than it arrived)."""
        if method == "chat.postMessage":
            self._post_free_at[channel] = now + self.post_interval
        elif (window := self._window(method)) is not None:
            window.take(now)

    def retry_after(self, method: str, channel: str, until: float) -> None:
        key = self._key(method, channel)
        self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), until)
