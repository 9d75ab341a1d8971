"""Slack's published rate limits, as the outbox pacing needs them."""

from __future__ import annotations

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
class TokenBucket:
    per_minute: int
    tokens: float = -1.0
    updated: float = 0.0

    def next_free(self, now: float) -> float:
        """When a call may go: now if a token is left, else when the next one refills."""
        self._refill(now)
        if self.tokens >= 1:
            return now
        return now + (1 - self.tokens) * 60.0 / self.per_minute

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1

    def _refill(self, now: float) -> None:
        if self.tokens < 0 and self.updated == 0.0:
            self.tokens, self.updated = float(self.per_minute) / 4, now  # a modest burst
            return
        rate = self.per_minute / 60.0
        self.tokens = min(self.per_minute / 4, self.tokens + (now - self.updated) * rate)
        self.updated = now


@dataclass
class Pacing:
    """Where the next call of each kind may go, from limits and from Slack's Retry-After."""

    post_interval: float = POST_INTERVAL_SECONDS
    _post_free_at: dict[str, float] = field(default_factory=dict)
    _blocked_until: dict[str, float] = field(default_factory=dict)
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def _key(self, method: str, channel: str) -> str:
        # chat.postMessage limits are per channel; the others are per workspace.
        return f"{method}#{channel}" if method == "chat.postMessage" else method

    def ready_at(self, method: str, channel: str, now: float) -> float:
        at = self._blocked_until.get(self._key(method, channel), 0.0)
        if method == "chat.postMessage":
            return max(at, self._post_free_at.get(channel, 0.0))
        tier = METHOD_TIER.get(method)
        if tier is not None:
            bucket = self._buckets.setdefault(method, TokenBucket(TIER_PER_MINUTE[tier]))
            at = max(at, bucket.next_free(now))
        return at

    def sent(self, method: str, channel: str, now: float) -> None:
        if method == "chat.postMessage":
            self._post_free_at[channel] = now + self.post_interval
        elif method in METHOD_TIER:
            self._buckets.setdefault(method, TokenBucket(TIER_PER_MINUTE[METHOD_TIER[method]]))
            self._buckets[method].take(now)

    def retry_after(self, method: str, channel: str, until: float) -> None:
        key = self._key(method, channel)
        self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), until)
