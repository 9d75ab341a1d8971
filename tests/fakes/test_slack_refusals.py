"""The fake Slack refuses what Slack refuses, with Slack's answers (tests/fixtures/slack/),
driven through the real slack_sdk client: membership, Block Kit limits, chat.update, the
response_url's uses, file upload lengths, rate-limit tiers and scopes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from .slack_api import BOT_USER_ID, FakeSlack, Message
from .slack_limits import manifest_scopes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(enforce_post_rate=False) as fake:
        fake.add_channel("C0PRIVATE1", "ops-alerts", private=True, bot_member=False)
        fake.add_channel("C0PUBLIC1", "ops-general", bot_member=False)
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.url)


async def refused(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        await call
    body: dict[str, Any] = dict(info.value.response.data)
    return body


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(text: str, action_id: str, value: str = "v") -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text},
            "action_id": action_id, "value": value}  # fmt: skip


def actions(*elements: dict[str, Any], block_id: str = "a") -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


async def test_a_private_channel_the_bot_is_not_in_does_not_exist_for_it(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    not_found = fixture("error-channel_not_found.json")
    for call in (
        client.chat_postMessage(channel="C0PRIVATE1", text="firing"),
        client.chat_update(channel="C0PRIVATE1", ts="1.000001", text="x"),
        client.conversations_invite(channel="C0PRIVATE1", users="U1"),
        client.conversations_history(channel="C0PRIVATE1"),
        client.chat_postMessage(channel="C0NOSUCH", text="typo in the config"),
    ):
        assert await refused(call) == not_found

    event = fake.invite_bot("C0PRIVATE1")
    envelope_event = fixture("member_joined_channel.json")["event"]
    assert set(event) == set(envelope_event)
    assert (event["user"], event["channel"], event["channel_type"]) == (
        BOT_USER_ID,
        "C0PRIVATE1",
        "G",
    )
    assert (await client.chat_postMessage(channel="C0PRIVATE1", text="firing"))["ok"] is True


async def test_a_public_channel_takes_posts_only_with_chat_write_public() -> None:
    # The bot's manifest does not ask for chat:write.public (it posts where it is a member).
    assert "chat:write.public" not in manifest_scopes()
    public = manifest_scopes() | {"chat:write.public"}
    async with FakeSlack(enforce_post_rate=False, scopes=public) as lax:
        lax.add_channel("C0PUBLIC1", "ops-general", bot_member=False)
        client = AsyncWebClient(token=lax.bot_token, base_url=lax.url)
        # With it, posting works; everything else still needs membership.
        assert (await client.chat_postMessage(channel="C0PUBLIC1", text="hello"))["ok"] is True
        not_in = fixture("error-not_in_channel.json")
        invite = client.conversations_invite(channel="C0PUBLIC1", users="U1")
        assert await refused(invite) == not_in
        assert await refused(client.conversations_history(channel="C0PUBLIC1")) == not_in
        upload = client.files_upload_v2(channel="C0PUBLIC1", content="log", filename="x.txt")
        assert (await refused(upload))["error"] == "not_in_channel"

    without = manifest_scopes()
    async with FakeSlack(enforce_post_rate=False, scopes=without) as strict:
        strict.add_channel("C0PUBLIC1", "ops-general", bot_member=False)
        other = AsyncWebClient(token=strict.bot_token, base_url=strict.url)
        assert await refused(other.chat_postMessage(channel="C0PUBLIC1", text="x")) == not_in
        strict.invite_bot("C0PUBLIC1")
        assert (await other.chat_postMessage(channel="C0PUBLIC1", text="x"))["ok"] is True
        strict.remove_bot("C0PUBLIC1")
        assert await refused(other.chat_postMessage(channel="C0PUBLIC1", text="y")) == not_in


LIMITS: list[tuple[str, list[dict[str, Any]], str]] = [
    ("51 blocks", [section("b")] * 51, "/blocks"),
    (
        "11 fields",
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
        "/blocks/0/fields",
    ),
    (
        "a 2001-character field",
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
        "/blocks/0/fields/0/text",
    ),
    ("a 3001-character section", [section("y" * 3001)], "/blocks/0/text/text"),
    (
        "a 151-character header",
        [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        "/blocks/0/text/text",
    ),
    ("an empty section text", [section("")], "/blocks/0/text/text"),
    (
        "a mrkdwn header",
        [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
        "/blocks/0/text/type",
    ),
    (
        "11 context elements",
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
        "/blocks/0/elements",
    ),
    ("an empty context", [{"type": "context", "elements": []}], "/blocks/0/elements"),
    ("26 buttons", [actions(*[button("b", f"a{i}") for i in range(26)])], "/blocks/0/elements"),
    (
        "a 76-character button",
        [actions(button("b" * 76, "a"))],
        "/blocks/0/elements/0/text/text",
    ),
    (
        "a 2001-character value",
        [actions(button("b", "a", "v" * 2001))],
        "/blocks/0/elements/0/value",
    ),
    (
        "a duplicate action_id",
        [actions(button("b", "same"), button("c", "same"))],
        "/blocks/0/elements/1/action_id",
    ),
    (
        "a 256-character action_id",
        [actions(button("b", "a" * 256))],
        "/blocks/0/elements/0/action_id",
    ),
    (
        "a duplicate block_id",
        [section("a", block_id="x"), section("b", block_id="x")],
        "/blocks/1/block_id",
    ),
    ("a 256-character block_id", [section("a", block_id="x" * 256)], "/blocks/0/block_id"),
    ("a section with neither text nor fields", [{"type": "section"}], "/blocks/0"),
]


@pytest.mark.parametrize(("what", "blocks", "pointer"), LIMITS, ids=[w for w, _, _ in LIMITS])
async def test_block_kit_limits_are_refused_as_slack_refuses_them(
    client: AsyncWebClient, what: str, blocks: list[dict[str, Any]], pointer: str
) -> None:
    ts = (await client.chat_postMessage(channel="C_ALERTS", text="x"))["ts"]
    for call in (
        client.chat_postMessage(channel="C_ALERTS", text="x", blocks=blocks),
        client.chat_update(channel="C_ALERTS", ts=ts, text="x", blocks=blocks),
    ):
        body = await refused(call)
        assert body["error"] == "invalid_blocks", what
        assert any(f"[json-pointer:{pointer}]" in m for m in body["response_metadata"]["messages"])


async def test_a_message_at_every_limit_is_accepted(client: AsyncWebClient) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        section("s" * 3000, block_id="b" * 255),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
        actions(*[button("b" * 75, f"a{i}", "v" * 2000) for i in range(25)], block_id="x"),
        actions(button("same id, other block", "a0"), block_id="y"),
        *[{"type": "divider"}] * 44,
    ]
    assert len(blocks) == 50
    assert (await client.chat_postMessage(channel="C_ALERTS", text="x", blocks=blocks))["ok"]
    too_many = await refused(
        client.chat_postMessage(channel="C_ALERTS", text="x", blocks=[section("b")] * 51)
    )
    assert too_many == fixture("error-invalid_blocks.json")


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_chat_update_refuses_what_slack_refuses(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C_INCIDENTS", text="v1")
    assert (await refused(client.chat_update(channel="C_INCIDENTS", ts=posted["ts"])))[
        "error"
    ] == "no_text"
    unknown = await refused(client.chat_update(channel="C_INCIDENTS", ts="1.000001", text="x"))
    assert unknown["error"] == "message_not_found"
    theirs = Message("C_INCIDENTS", "1772550000.000100", "from a person", None, None, None, "U1")
    fake.messages["C_INCIDENTS"].append(theirs)
    someone_else = client.chat_update(channel="C_INCIDENTS", ts=theirs.ts, text="edited")
    assert (await refused(someone_else))["error"] == "cant_update_message"
    fake.channels["C_INCIDENTS"]["is_archived"] = True
    archived = client.chat_update(channel="C_INCIDENTS", ts=posted["ts"], text="late")
    # The reference's answer for a "frozen, archived or deleted channel".
    assert (await refused(archived))["error"] == "is_inactive"


async def test_a_response_url_takes_five_answers_within_thirty_minutes(fake: FakeSlack) -> None:
    url = fake.issue_response_url()
    stale = fake.issue_response_url(issued_ago=30 * 60 + 1)
    async with aiohttp.ClientSession() as http:
        statuses = []
        for i in range(6):
            async with http.post(url, json={"text": f"answer {i}"}) as resp:
                statuses.append((resp.status, await resp.text()))
        async with http.post(stale, json={"text": "too late"}) as resp:
            late = (resp.status, await resp.text())
    assert statuses == [(200, "ok")] * 5 + [(404, "Expired url")]
    assert late == (404, "Expired url")
    assert [r["text"] for r in fake.responses] == [f"answer {i}" for i in range(5)]


async def test_an_upload_must_be_as_long_as_announced(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    ticket = await client.files_getUploadURLExternal(filename="run.txt", length=5)
    async with aiohttp.ClientSession() as http, http.post(ticket["upload_url"], data=b"abc") as r:
        assert r.status == 400
    incomplete = client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}])
    assert (await refused(incomplete))["error"] == "file_not_found"
    empty = client.files_getUploadURLExternal(filename="empty.txt", length=0)
    assert (await refused(empty))["error"] == "missing_argument"


async def test_each_method_is_held_to_its_tier(fake: FakeSlack, client: AsyncWebClient) -> None:
    for _ in range(20):  # usergroups.list is Tier 2: 20 a minute
        await client.usergroups_list()
    with pytest.raises(SlackApiError) as info:
        await client.usergroups_list()
    assert info.value.response.status_code == 429
    assert dict(info.value.response.data) == fixture("error-ratelimited.json")
    assert 50 <= int(info.value.response.headers["Retry-After"]) <= 60
    # Other methods have their own allowance.
    assert (await client.users_info(user="U1"))["ok"] is True

    async with FakeSlack(rate_limits=False) as lax:
        other = AsyncWebClient(token=lax.bot_token, base_url=lax.url)
        for _ in range(25):
            await other.usergroups_list()


async def test_emails_need_the_users_read_email_scope(client: AsyncWebClient) -> None:
    granted = await client.users_info(user="U1")
    assert granted["user"]["profile"]["email"] == "alice@example.com"

    without = manifest_scopes() - {"users:read.email"}
    async with FakeSlack(scopes=without) as fake:
        other = AsyncWebClient(token=fake.bot_token, base_url=fake.url)
        user = await other.users_info(user="U1")
        assert "email" not in user["user"]["profile"]
        body = await refused(other.users_lookupByEmail(email="alice@example.com"))
        assert set(body) == set(fixture("error-missing_scope.json"))
        assert (body["error"], body["needed"]) == ("missing_scope", "users:read.email")
        assert "users:read.email" not in body["provided"].split(",")
