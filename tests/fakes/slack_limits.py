"""What the fake Slack allows an app: each Web API method's rate-limit tier, the scopes each
method needs, and the scopes the bot's own app manifest asks for.

Tiers are those on each method's reference page (https://docs.slack.dev/reference/methods/
<method>, "Rate limits"), and their counts those of https://docs.slack.dev/apis/web-api/
rate-limits: Tier 1 1+ per minute, Tier 2 20+, Tier 3 50+, Tier 4 100+, "per API method per
workspace per app"; the fake allows exactly that many calls in any 60 s and answers the next
with HTTP 429, `{"ok": false, "error": "ratelimited"}` and `Retry-After` (the seconds until a
call is allowed again), as that page describes. chat.postMessage is "special" (one message
per second per channel, see `FakeSlack.enforce_post_rate`), auth.test is "special" with no
published number, so neither has a tier here. conversations.history and .replies keep Tier 3:
the 2025 limit of 1 per minute applies to commercially distributed non-Marketplace apps only,
not to an internal app like this one.

Scopes are each reference page's "Required scopes" (any one of them will do); `missing_scope`
answers name what was `needed` and what was `provided`, as Slack's do.
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path

import yaml

TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
METHOD_TIER = {
    "users.info": 4,
    "users.lookupByEmail": 3,
    "usergroups.list": 2,
    "usergroups.users.list": 2,
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "chat.delete": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.create": 2,
    "conversations.list": 2,
    "conversations.invite": 3,
    "conversations.setTopic": 2,
    "conversations.setPurpose": 2,
    "conversations.archive": 2,
    "conversations.info": 3,
    "conversations.join": 3,
    "bookmarks.add": 2,
    "pins.add": 2,
    "reactions.add": 3,
    "views.open": 4,
    "views.update": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "apps.connections.open": 3,
}
_HISTORY = ("channels:history", "groups:history", "im:history", "mpim:history")
_MANAGE = ("channels:manage", "groups:write", "im:write", "mpim:write")
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "users.info": ("users:read",),
    "users.lookupByEmail": ("users:read.email",),
    "usergroups.list": ("usergroups:read",),
    "usergroups.users.list": ("usergroups:read",),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.delete": ("chat:write",),
    "conversations.history": _HISTORY,
    "conversations.replies": _HISTORY,
    "conversations.create": _MANAGE,
    "conversations.invite": _MANAGE,
    "conversations.setTopic": _MANAGE,
    "conversations.setPurpose": _MANAGE,
    "conversations.archive": _MANAGE,
    "conversations.info": ("channels:read", "groups:read", "im:read", "mpim:read"),
    "conversations.list": ("channels:read", "groups:read", "im:read", "mpim:read"),
    "conversations.join": ("channels:join", "channels:write"),
    "bookmarks.add": ("bookmarks:write",),
    "pins.add": ("pins:write",),
    "reactions.add": ("reactions:write",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
}
MANIFEST = Path(__file__).resolve().parents[2] / "slack-app-manifest.yml"
# A response_url "can be used up to 5 times within 30 minutes"
# (https://api.slack.com/interactivity/handling#message_responses).
RESPONSE_URL_USES, RESPONSE_URL_TTL = 5, 30 * 60.0


def manifest_scopes(path: Path = MANIFEST) -> frozenset[str]:
    """The bot scopes slack-app-manifest.yml asks for: what an install of the app grants."""
    manifest = yaml.safe_load(path.read_text())
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])


class RateWindow:
    """At most `per_minute` calls in any 60 s; the calls Slack counts are those it answered."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._calls: deque[float] = deque()

    def retry_after(self, now: float) -> int | None:
        """None if a call may go now (and counts it), else the whole seconds to wait."""
        while self._calls and self._calls[0] <= now - 60.0:
            self._calls.popleft()
        if len(self._calls) >= self.per_minute:
            return max(1, math.ceil(self._calls[0] + 60.0 - now))
        self._calls.append(now)
        return None
