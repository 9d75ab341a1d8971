"""Tests of the Slack fake itself, driven through the real slack_sdk clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from .slack_api import FakeSlack
from .slack_limits import manifest_scopes


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """Tests of single answers post in quick succession, unlike the bot (which paces itself
    to one post per second per channel; tested below), and may pin and add reactions, which
    the bot's manifest does not ask for."""
    scopes = manifest_scopes() | {"reactions:write", "pins:write"}
    async with FakeSlack(enforce_post_rate=False, scopes=scopes) as fake:
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.bot_token, base_url=fake.url)


async def slack_error(coro: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await coro
    return info.value


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def test_post_then_history_carries_metadata_only_when_asked(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    metadata = {"event_type": "incident_opened", "event_payload": {"id": "INC-1"}}
    first = await client.chat_postMessage(
        channel="C_ALERTS", text="disk full", blocks=[section("*disk full*")], metadata=metadata
    )
    reply = await client.chat_postMessage(channel="C_ALERTS", text="ack", thread_ts=first["ts"])
    second = await client.chat_postMessage(channel="#alerts", text="cpu high")

    assert first["channel"] == "C_ALERTS"
    assert first["message"]["text"] == "disk full"
    assert float(first["ts"]) < float(reply["ts"]) < float(second["ts"])
    assert len(first["ts"].split(".")[1]) == 6

    plain = await client.conversations_history(channel="C_ALERTS")
    assert [m["text"] for m in plain["messages"]] == ["cpu high", "disk full"]
    assert all("metadata" not in m for m in plain["messages"])
    assert plain["messages"][1]["reply_count"] == 1

    full = await client.conversations_history(channel="C_ALERTS", include_all_metadata=True)
    assert full["messages"][1]["metadata"] == metadata
    assert full["messages"][1]["blocks"] == [section("*disk full*")]

    thread = await client.conversations_replies(channel="C_ALERTS", ts=first["ts"])
    assert [m["text"] for m in thread["messages"]] == ["disk full", "ack"]

    stored = fake.messages["C_ALERTS"]
    assert [m.text for m in stored] == ["disk full", "ack", "cpu high"]
    assert stored[0].metadata == metadata and stored[1].thread_ts == first["ts"]
    assert fake.calls_to("chat.postMessage")[0].args["metadata"] == metadata


async def test_history_paginates_with_cursor_and_time_bounds(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    ts = [(await client.chat_postMessage(channel="C_ALERTS", text=str(i)))["ts"] for i in range(5)]

    page1 = await client.conversations_history(channel="C_ALERTS", limit=2)
    assert [m["text"] for m in page1["messages"]] == ["4", "3"]
    assert page1["has_more"] is True
    cursor = page1["response_metadata"]["next_cursor"]
    page2 = await client.conversations_history(channel="C_ALERTS", limit=2, cursor=cursor)
    assert [m["text"] for m in page2["messages"]] == ["2", "1"]

    bounded = await client.conversations_history(channel="C_ALERTS", oldest=ts[1], latest=ts[4])
    assert [m["text"] for m in bounded["messages"]] == ["3", "2"]

    texts = []
    async for page in await client.conversations_history(channel="C_ALERTS", limit=2):
        texts += [m["text"] for m in page["messages"]]
    assert texts == ["4", "3", "2", "1", "0"]


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_chat_post_message_validation(fake: FakeSlack, client: AsyncWebClient) -> None:
    errors = {
        "channel_not_found": client.chat_postMessage(channel="C_NOPE", text="x"),
        "no_text": client.chat_postMessage(channel="C_ALERTS"),
        "msg_too_long": client.chat_postMessage(channel="C_ALERTS", text="x" * 40_001),
        "invalid_blocks": client.chat_postMessage(
            channel="C_ALERTS", text="x", blocks=[section("b")] * 51
        ),
    }
    for code, call in errors.items():
        err = await slack_error(call)
        assert err.response.status_code == 200
        assert err.response["error"] == code

    ok = await client.chat_postMessage(channel="C_ALERTS", text="x", blocks=[section("b")] * 50)
    assert ok["ok"] is True
    too_long_section = await slack_error(
        client.chat_postMessage(channel="C_ALERTS", text="x", blocks=[section("y" * 3001)])
    )
    assert too_long_section.response["error"] == "invalid_blocks"
    assert fake.calls_to("chat.postMessage")[0].status == 200
    assert len(fake.messages["C_ALERTS"]) == 1


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_chat_update_edits_and_rejects_unknown_ts(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C_ALERTS", text="v1", blocks=[section("v1")])

    await client.chat_update(channel="C_ALERTS", ts=posted["ts"], blocks=[section("v2")])
    msg = fake.messages["C_ALERTS"][0]
    assert (msg.text, msg.edits, msg.blocks) == ("v1", 1, [section("v2")])

    # "If the text argument is provided and blocks are not provided, the blocks will be
    # removed" (chat.update's reference).
    updated = await client.chat_update(channel="C_ALERTS", ts=posted["ts"], text="v3")
    assert updated["text"] == "v3"
    assert (msg.text, msg.edits, msg.blocks) == ("v3", 2, None)

    err = await slack_error(client.chat_update(channel="C_ALERTS", ts="1.000001", text="x"))
    assert err.response["error"] == "message_not_found"
    err = await slack_error(
        client.chat_update(channel="C_ALERTS", ts=posted["ts"], blocks=[section("b")] * 51)
    )
    assert err.response["error"] == "invalid_blocks"


async def test_conversations_create_validates_names(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    for name, code in [
        ("", "invalid_name_required"),
        ("Inc Disk", "invalid_name_specials"),
        ("inc.disk", "invalid_name_specials"),
        ("i" * 81, "invalid_name_maxlength"),
        ("alerts", "name_taken"),
    ]:
        err = await slack_error(client.conversations_create(name=name))
        assert err.response["error"] == code, name

    created = await client.conversations_create(name="inc-2024_disk-" + "x" * 66)
    channel = created["channel"]
    assert channel["id"] in fake.channels and channel["is_member"] is True
    err = await slack_error(client.conversations_create(name=channel["name"]))
    assert err.response["error"] == "name_taken"


async def test_channel_membership_topic_and_archive(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.add_user("U2", "bob", email="bob@example.com")
    cid = (await client.conversations_create(name="inc-1"))["channel"]["id"]

    await client.conversations_invite(channel=cid, users=["U1", "U2"])
    assert {"U1", "U2"} <= set(fake.channels[cid]["members"])
    for users, code in [("U1", "already_in_channel"), ("U404", "user_not_found")]:
        err = await slack_error(client.conversations_invite(channel=cid, users=users))
        assert err.response["error"] == code

    await client.conversations_setTopic(channel=cid, topic="SEV1: disk")
    await client.conversations_setPurpose(channel=cid, purpose="war room")
    info = await client.conversations_info(channel=cid)
    assert info["channel"]["topic"]["value"] == "SEV1: disk"
    assert fake.channels[cid]["purpose"] == "war room"

    await client.conversations_archive(channel=cid)
    err = await slack_error(client.chat_postMessage(channel=cid, text="late"))
    assert err.response["error"] == "is_archived"

    user = await client.users_lookupByEmail(email="bob@example.com")
    assert user["user"]["id"] == "U2"
    err = await slack_error(client.users_info(user="U404"))
    assert err.response["error"] == "user_not_found"
    fake.add_usergroup("oncall", "S1", ["U1", "U2"])
    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]


async def test_pins_reactions_bookmarks(fake: FakeSlack, client: AsyncWebClient) -> None:
    ts = (await client.chat_postMessage(channel="C_INCIDENTS", text="summary"))["ts"]
    await client.pins_add(channel="C_INCIDENTS", timestamp=ts)
    await client.reactions_add(channel="C_INCIDENTS", timestamp=ts, name="eyes")
    err = await slack_error(client.reactions_add(channel="C_INCIDENTS", timestamp=ts, name="eyes"))
    assert err.response["error"] == "already_reacted"
    err = await slack_error(client.pins_add(channel="C_INCIDENTS", timestamp="1.000002"))
    assert err.response["error"] == "message_not_found"
    bookmark = await client.bookmarks_add(
        channel_id="C_INCIDENTS", title="Runbook", type="link", link="https://runbooks/disk"
    )
    assert bookmark["bookmark"]["title"] == "Runbook"
    assert fake.channels["C_INCIDENTS"]["pins"] == [ts]
    assert fake.channels["C_INCIDENTS"]["bookmarks"][0]["link"] == "https://runbooks/disk"
    history = await client.conversations_history(channel="C_INCIDENTS")
    assert history["messages"][0]["reactions"] == [{"name": "eyes", "users": ["U_BOT"], "count": 1}]


async def test_injected_429_raises_with_retry_after(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.fail_next("chat.postMessage", retry_after=7)

    err = await slack_error(client.chat_postMessage(channel="C_ALERTS", text="x"))
    assert err.response.status_code == 429
    assert err.response.headers["Retry-After"] == "7"
    assert err.response["error"] == "ratelimited"

    assert (await client.chat_postMessage(channel="C_ALERTS", text="x"))["ok"] is True
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]
    assert len(fake.messages["C_ALERTS"]) == 1


async def test_injected_5xx_error_codes_and_windows(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.fail_next("*", status=503, times=2)
    for _ in range(2):
        err = await slack_error(client.auth_test())
        assert err.response.status_code == 503
    fake.fail_next("conversations.create", error="restricted_action")
    err = await slack_error(client.conversations_create(name="inc-2"))
    assert (err.response.status_code, err.response["error"]) == (200, "restricted_action")

    fake.fail_for("auth.test", 0.3)
    started = time.monotonic()
    statuses = []
    while time.monotonic() - started < 0.6:
        try:
            await client.auth_test()
            statuses.append(200)
        except SlackApiError as exc:
            statuses.append(exc.response.status_code)
        await asyncio.sleep(0.05)
    assert statuses[0] == 429 and statuses[-1] == 200
    assert (await client.auth_test())["user_id"] == "U_BOT"


async def test_enforce_post_rate_limits_per_channel() -> None:
    async with FakeSlack(enforce_post_rate=True) as fake:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.url)
        await client.chat_postMessage(channel="C_ALERTS", text="1")
        err = await slack_error(client.chat_postMessage(channel="C_ALERTS", text="2"))
        assert err.response.status_code == 429
        assert err.response.headers["Retry-After"] == "1"
        await client.chat_postMessage(channel="C_INCIDENTS", text="other channel")
        await asyncio.sleep(1.05)
        await client.chat_postMessage(channel="C_ALERTS", text="3")
        assert [m.text for m in fake.messages["C_ALERTS"]] == ["1", "3"]


async def test_auth_and_unknown_methods(fake: FakeSlack) -> None:
    for token, code in [("xoxb-wrong", "invalid_auth"), ("xapp-test", "not_allowed_token_type")]:
        err = await slack_error(AsyncWebClient(token=token, base_url=fake.url).auth_test())
        assert err.response["error"] == code
    err = await slack_error(AsyncWebClient(base_url=fake.url).auth_test())
    assert err.response["error"] == "not_authed"
    bot = AsyncWebClient(token=fake.bot_token, base_url=fake.url)
    err = await slack_error(bot.apps_connections_open(app_token=fake.bot_token))
    assert err.response["error"] == "not_allowed_token_type"

    err = await slack_error(bot.api_call("chat.frobnicate", json={"x": 1}))
    assert (err.response.status_code, err.response["error"]) == (200, "unknown_method")
    assert fake.calls_to("chat.frobnicate")[0].args == {"x": 1}


async def test_form_encoded_args_are_recorded_raw_and_decoded(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    blocks = '[{"type": "divider"}]'
    await client.api_call("chat.postMessage", data={"channel": "C_ALERTS", "blocks": blocks})
    call = fake.calls_to("chat.postMessage")[0]
    assert call.args["blocks"] == blocks
    assert call.decoded["blocks"] == [{"type": "divider"}]
    assert call.token == fake.bot_token and "token" not in call.args
    assert fake.messages["C_ALERTS"][0].blocks == [{"type": "divider"}]


async def test_files_upload_v2_round_trip(fake: FakeSlack, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C_INCIDENTS", text="timeline")
    result = await client.files_upload_v2(
        channel="C_INCIDENTS",
        content="12:00 alert fired\n",
        filename="timeline.md",
        title="Timeline",
        initial_comment="Incident timeline",
        thread_ts=parent["ts"],
    )

    file_id = result["file"]["id"]
    assert fake.files[file_id]["content"] == b"12:00 alert fired\n"
    assert result["file"]["title"] == "Timeline"
    shared = fake.messages["C_INCIDENTS"][-1]
    assert (shared.text, shared.thread_ts) == ("Incident timeline", parent["ts"])
    assert shared.files[0]["id"] == file_id

    pending = await client.files_getUploadURLExternal(filename="x.txt", length=3)
    err = await slack_error(client.files_completeUploadExternal(files=[{"id": pending["file_id"]}]))
    assert err.response["error"] == "file_not_found"


async def test_socket_mode_slash_command_round_trip(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    received: list[SocketModeRequest] = []

    async def on_request(sm: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        received.append(req)
        response = SocketModeResponse(envelope_id=req.envelope_id, payload={"text": "on it"})
        await sm.send_socket_mode_response(response)

    socket_client = SocketModeClient(
        app_token=fake.app_token, web_client=AsyncWebClient(base_url=fake.url)
    )
    socket_client.socket_mode_request_listeners.append(on_request)
    try:
        await socket_client.connect()  # type: ignore[no-untyped-call]
        await fake.wait_for_socket()
        ack = await fake.send_slash_command("/incident", "declare disk full", user_id="U1")

        assert ack["payload"] == {"text": "on it"}
        assert ack["envelope_id"] == received[0].envelope_id
        assert fake.socket_acks == [ack]
        assert received[0].type == "slash_commands"
        assert received[0].accepts_response_payload is True
        payload = received[0].payload
        assert (payload["command"], payload["text"]) == ("/incident", "declare disk full")
        assert (payload["channel_name"], payload["user_name"]) == ("alerts", "alice")

        # The pong to the client's first ping proves ping frames are answered.
        for _ in range(50):
            if socket_client.last_ping_pong_time is not None:
                break
            await asyncio.sleep(0.02)
        assert socket_client.last_ping_pong_time is not None

        modal = {"type": "modal", "title": {"type": "plain_text", "text": "Declare"}, "blocks": []}
        opened = await client.views_open(trigger_id=payload["trigger_id"], view=modal)
        assert fake.views[opened["view"]["id"]]["title"]["text"] == "Declare"
        err = await slack_error(client.views_open(trigger_id=payload["trigger_id"], view=modal))
        assert err.response["error"] == "exchanged_trigger_id"

        async with aiohttp.ClientSession() as http:
            body = {"response_type": "ephemeral", "text": "declared"}
            async with http.post(payload["response_url"], json=body) as resp:
                assert resp.status == 200
        assert fake.responses == [body]
    finally:
        await socket_client.close()  # type: ignore[no-untyped-call]


async def test_send_slash_command_times_out_without_ack(fake: FakeSlack) -> None:
    socket_client = SocketModeClient(
        app_token=fake.app_token, web_client=AsyncWebClient(base_url=fake.url)
    )
    try:
        await socket_client.connect()  # type: ignore[no-untyped-call]
        with pytest.raises(TimeoutError):
            await fake.send_slash_command("/incident", "help", timeout=0.3)
    finally:
        await socket_client.close()  # type: ignore[no-untyped-call]
    assert fake.calls_to("apps.connections.open")[0].token == fake.app_token


async def test_a_dropped_answer_still_takes_effect(fake: FakeSlack) -> None:
    # Without the SDK's own retry on a connection error, which would hide the drop.
    client = AsyncWebClient(token=fake.bot_token, base_url=fake.url, retry_handlers=[])
    fake.drop_after("conversations.create")
    with pytest.raises(aiohttp.ClientError):
        await client.conversations_create(name="inc-dropped")
    assert [c["name"] for c in fake.channels.values()].count("inc-dropped") == 1
    err = await slack_error(client.conversations_create(name="inc-dropped"))
    assert err.response["error"] == "name_taken"  # the next call answers again


async def test_conversations_list_pages_and_hides_private_channels_the_bot_is_not_in(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    fake.add_channel("C_SECRET", "secret", private=True, bot_member=False)
    for n in range(5):
        await client.conversations_create(name=f"inc-list-{n}")
    seen, cursor, pages = [], "", 0
    while True:
        page = await client.conversations_list(limit=2, cursor=cursor or None)
        seen += [c["name"] for c in page["channels"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert {f"inc-list-{n}" for n in range(5)} <= set(seen)
    assert len(seen) == len(set(seen)) and "secret" not in seen and pages >= 3
    private = await client.conversations_list(types="private_channel")
    assert "secret" not in [c["name"] for c in private["channels"]]
    for limit, code in ((0, "invalid_limit"), (1001, "invalid_limit")):
        err = await slack_error(client.conversations_list(limit=limit))
        assert err.response["error"] == code
    err = await slack_error(client.conversations_list(types="public_channel,bogus"))
    assert err.response["error"] == "invalid_types"
