"""People's names from Slack's directory (users.info), so drafts read "Alice Ng", not "U01…"."""

from __future__ import annotations

from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

# users.info is Tier 4 (100+ a minute); a draft names a handful of people, a huge timeline
# must not spend the minute's calls on it.
MAX_LOOKUPS = 50


class SlackDirectory:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def __call__(self, users: Iterable[str]) -> dict[str, str]:
        """Each Slack user id's real name (or handle); ids Slack does not know are left out,
        as is anything that is not a user id (a CLI user's name, "alertmanager")."""
        names: dict[str, str] = {}
        for user in list(dict.fromkeys(u for u in users if u[:1] in ("U", "W")))[:MAX_LOOKUPS]:
            try:
                found = (await self._client.users_info(user=user)).get("user") or {}
            except SlackApiError:
                continue
            profile = found.get("profile") or {}
            names[user] = str(
                profile.get("real_name") or found.get("real_name") or found.get("name") or user
            )
        return names
