"""In-process fake of Slack's Web API and Socket Mode for tests.

`FakeSlack` serves the subset of the Web API the incident bot uses, with Slack's own
argument validation, error codes and response shapes, on 127.0.0.1 so the real
`slack_sdk` clients (``AsyncWebClient(base_url=fake.url)`` and the aiohttp
``SocketModeClient``) can talk to it unchanged. It records every call, keeps channels and
messages in memory for assertions, can inject rate limits and outages, and can push
Socket Mode envelopes (slash commands, interactions) to the connected client and wait
for their acks.

It refuses what Slack refuses, so a bot that only works against a lax fake cannot pass:
channel membership (`add_channel(private=…, bot_member=…)`, `remove_bot`, `invite_bot`),
Block Kit limits (`slack_blocks`), each method's rate-limit tier and required scopes
(`slack_limits`; the granted scopes default to what slack-app-manifest.yml asks for),
chat.postMessage's one post per second per channel, `response_url`'s 5 uses in 30 minutes,
and a file upload whose bytes do not match the `length` it announced.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Self

from aiohttp import WSMsgType, web

from .slack_blocks import MESSAGE_BLOCKS, MODAL_BLOCKS, block_errors
from .slack_limits import (
    METHOD_SCOPES,
    METHOD_TIER,
    RESPONSE_URL_TTL,
    RESPONSE_URL_USES,
    TIER_PER_MINUTE,
    RateWindow,
    manifest_scopes,
)

TEAM_ID, TEAM_DOMAIN, APP_ID = "T1", "fake", "A1"
BOT_USER_ID, BOT_ID, BOT_NAME = "U_BOT", "B1", "incident-bot"
MAX_TEXT = 40_000
CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")
JSON_ARGS = ("blocks", "attachments", "metadata", "view", "files")
TRIGGER_TTL = 3.0  # Slack's trigger_id lifetime in seconds


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float
    status: int
    response: dict[str, Any]
    # args with the JSON-encoded string arguments Slack decodes (blocks, attachments,
    # metadata, view, files) parsed into Python objects; `args` keeps them as sent.
    decoded: dict[str, Any] = field(default_factory=dict)


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[Any] | None
    metadata: dict[str, Any] | None
    thread_ts: str | None
    user: str
    edits: int = 0
    attachments: list[Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    edited_ts: str | None = None


@dataclass
class _Failure:
    status: int
    retry_after: int
    error: str | None
    remaining: int
    until: float | None = None


class SlackError(Exception):
    """A Slack `{"ok": false}` answer raised from inside a handler."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body: dict[str, Any] = {"ok": False, "error": error, **extra}


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def _ts_key(ts: Any, error: str = "invalid_ts") -> Decimal:
    # Decimal, not float: ts values carry microseconds that a double can round away.
    try:
        return Decimal(str(ts))
    except InvalidOperation:
        raise SlackError(error) from None


def _block_errors(blocks: Any, most: int = MESSAGE_BLOCKS) -> dict[str, Any] | None:
    if not isinstance(blocks, list):
        return {"error": "invalid_blocks_format"}
    if msgs := block_errors(blocks, most=most):
        errors = [m.removeprefix("[ERROR] ") for m in msgs]
        return {
            "error": "invalid_blocks",
            "errors": errors,
            "response_metadata": {"messages": msgs},
        }
    return None


class RateLimited(SlackError):
    """HTTP 429 with Retry-After, as Slack answers a call over its method's limit."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("ratelimited")
        self.retry_after = retry_after


class FakeSlack:
    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        enforce_post_rate: bool = True,
        rate_limits: bool = True,
        scopes: frozenset[str] | None = None,
    ) -> None:
        """`enforce_post_rate`: chat.postMessage at most once per second per channel;
        `rate_limits`: every other method within its tier; `scopes`: what the install granted
        (default: everything slack-app-manifest.yml asks for)."""
        self.bot_token, self.app_token = bot_token, app_token
        self.enforce_post_rate = enforce_post_rate
        self.rate_limits = rate_limits
        self.scopes = manifest_scopes() if scopes is None else frozenset(scopes)
        self.url = ""
        self.base = ""
        self.calls: list[Call] = []
        self.messages: dict[str, list[Message]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.ephemerals: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.socket_acks: list[dict[str, Any]] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._drops: dict[str, int] = {}
        self._last_post: dict[str, float] = {}
        self._last_ts_us = 0
        self._seq = 0
        self._tickets: set[str] = set()
        self._triggers: dict[str, float | None] = {}
        # response id -> when it was issued and how often it was used
        self._response_ids: dict[str, tuple[float, int]] = {}
        self._windows: dict[str, RateWindow] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_ready = asyncio.Event()
        self._ack_waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self.add_user(BOT_USER_ID, BOT_NAME)
        self.users[BOT_USER_ID]["is_bot"] = True
        self.add_user("U1", "alice", email="alice@example.com")
        for cid, name in (("C_ALERTS", "alerts"), ("C_INCIDENTS", "incidents")):
            self._new_channel(cid, name, members={BOT_USER_ID, "U1"})
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.create": self._conversations_create,
            "conversations.list": self._conversations_list,
            "conversations.invite": self._conversations_invite,
            "conversations.setTopic": lambda a: self._set_text_field(a, "topic"),
            "conversations.setPurpose": lambda a: self._set_text_field(a, "purpose"),
            "conversations.archive": self._conversations_archive,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "bookmarks.add": self._bookmarks_add,
            "pins.add": self._pins_add,
            "reactions.add": self._reactions_add,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "apps.connections.open": self._apps_connections_open,
        }

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        # Slack takes files up to 1 GB; aiohttp's default would refuse a body over 1 MiB.
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_post("/response/{response_id}", self._handle_response_url)
        app.router.add_get("/link/", self._handle_socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/api/"

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        for fut in self._ack_waiters.values():
            fut.cancel()
        self._ack_waiters.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- test controls ---------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        retry_after: int = 1,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Answer the next `times` calls to `method` ("*" = any) with a failure.

        status defaults to 429 (ratelimited + Retry-After), or 200 when `error` is given;
        5xx answers an HTML body like Slack's edge does.
        """
        code = status if status is not None else (200 if error else 429)
        self._failures.setdefault(method, []).append(_Failure(code, retry_after, error, times))

    def fail_for(
        self, method: str, seconds: float, *, status: int = 429, retry_after: int = 1
    ) -> None:
        until = time.monotonic() + seconds  # the window, not a count, ends this failure
        failure = _Failure(status, retry_after, None, remaining=1 << 62, until=until)
        self._failures.setdefault(method, []).append(failure)

    def drop_after(self, method: str, *, times: int = 1) -> None:
        """The next `times` calls to `method` take effect, then the connection closes before
        Slack's answer arrives: the caller cannot tell whether its call happened (a connection
        reset mid-call, or a timeout that fires after Slack acted)."""
        self._drops[method] = self._drops.get(method, 0) + times

    def add_user(self, user_id: str, name: str, *, email: str | None = None) -> None:
        self.users[user_id] = {"id": user_id, "name": name, "email": email, "is_bot": False}

    def add_usergroup(self, handle: str, id: str, users: list[str]) -> None:
        self.usergroups[id] = {"id": id, "handle": handle, "users": list(users)}

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: set[str] | None = None,
        private: bool = False,
        bot_member: bool = True,
    ) -> None:
        """A channel; with `bot_member=False` the bot was never invited, so Slack refuses its
        posts (a private channel: `channel_not_found`, as if it did not exist)."""
        members = set(members or {"U1"})
        members.discard(BOT_USER_ID)
        if bot_member:
            members.add(BOT_USER_ID)
        self._new_channel(channel_id, name, members=members)["is_private"] = private

    def remove_bot(self, channel_id: str) -> None:
        """Someone removed the bot from the channel (`/remove @incident-bot`)."""
        self.channels[channel_id]["members"].discard(BOT_USER_ID)

    def invite_bot(self, channel_id: str, *, inviter: str = "U1") -> dict[str, Any]:
        """A person invited the bot (`/invite @incident-bot`). Returns the member_joined_channel
        event Slack then delivers (https://api.slack.com/events/member_joined_channel)."""
        channel = self.channels[channel_id]
        channel["members"].add(BOT_USER_ID)
        return {
            "type": "member_joined_channel", "user": BOT_USER_ID, "channel": channel_id,
            "channel_type": "G" if channel["is_private"] else "C", "team": TEAM_ID,
            "inviter": inviter, "event_ts": self._next_ts(),
        }  # fmt: skip

    def issue_response_url(self, *, issued_ago: float = 0.0) -> str:
        """A response_url as Slack puts in an interaction payload, answered by this fake;
        `issued_ago` seconds old (Slack honours one for 30 minutes)."""
        response_id = self._next_id("R")
        self._response_ids[response_id] = (time.monotonic() - issued_ago, 0)
        return f"{self.base}/response/{response_id}"

    def issue_trigger_id(self) -> str:
        """Mint a trigger_id views.open will accept once within Slack's 3 s window."""
        trigger = f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**10)}.{uuid.uuid4().hex}"
        self._triggers[trigger] = time.monotonic()
        return trigger

    # -- Socket Mode -----------------------------------------------------------------

    async def wait_for_socket(self, timeout: float = 5) -> None:
        await asyncio.wait_for(self._socket_ready.wait(), timeout)

    async def send_envelope(
        self, type_: str, payload: dict[str, Any], *, timeout: float = 5
    ) -> dict[str, Any]:
        """Push an envelope to the newest Socket Mode connection and wait for its ack."""
        await self.wait_for_socket(timeout)
        envelope_id = str(uuid.uuid4())
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._ack_waiters[envelope_id] = fut
        accepts_payload = type_ in ("slash_commands", "interactive")
        envelope = {"envelope_id": envelope_id, "payload": payload, "type": type_,
                    "accepts_response_payload": accepts_payload}  # fmt: skip
        try:
            await self._sockets[-1].send_json(envelope)
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._ack_waiters.pop(envelope_id, None)

    async def send_slash_command(
        self,
        command: str,
        text: str,
        *,
        user_id: str = "U1",
        channel_id: str = "C_ALERTS",
        timeout: float = 5,
    ) -> dict[str, Any]:
        response_id = uuid.uuid4().hex
        self._response_ids[response_id] = (time.monotonic(), 0)
        channel, user = self.channels.get(channel_id), self.users.get(user_id)
        channel_name = channel["name"] if channel else "directmessage"
        payload = {  # Slack sends these as form fields, hence all strings
            "token": "fake-verification-token", "team_id": TEAM_ID, "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id, "channel_name": channel_name,
            "user_id": user_id, "user_name": user["name"] if user else user_id.lower(),
            "command": command, "text": text, "api_app_id": APP_ID,
            "is_enterprise_install": "false", "trigger_id": self.issue_trigger_id(),
            "response_url": f"{self.base}/response/{response_id}",
        }  # fmt: skip
        return await self.send_envelope("slash_commands", payload, timeout=timeout)

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse()  # autoping answers the client's ping frames
        await ws.prepare(request)
        self._sockets.append(ws)
        debug_info = {"host": "applink-fake", "build_number": 1,
                      "approximate_connection_time": 18060}  # fmt: skip
        hello = {"type": "hello", "num_connections": len(self._sockets),
                 "debug_info": debug_info, "connection_info": {"app_id": APP_ID}}  # fmt: skip
        await ws.send_json(hello)
        self._socket_ready.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    ack = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(ack, dict) and "envelope_id" in ack:
                    self.socket_acks.append(ack)
                    waiter = self._ack_waiters.get(ack["envelope_id"])
                    if waiter is not None and not waiter.done():
                        waiter.set_result(ack)
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self._socket_ready.clear()
        return ws

    # -- HTTP plumbing ---------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        method = request.match_info["method"]
        args = await self._read_args(request)
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else args.pop("token", None)
        args.pop("token", None)
        decoded = dict(args)
        for key in JSON_ARGS:
            if isinstance(decoded.get(key), str):
                # Undecodable values stay strings so the handler reports Slack's format error.
                with contextlib.suppress(ValueError):
                    decoded[key] = json.loads(decoded[key])
        status, body, resp = self._answer(method, decoded, token)
        self.calls.append(Call(method, args, token, at, status, body, decoded))
        if self._drops.get(method, 0) > 0:
            self._drops[method] -= 1
            if request.transport is not None:
                request.transport.close()  # done, but the answer never reaches the caller
        return resp

    def _answer(
        self, method: str, args: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], web.Response]:
        failure = self._take_failure(method)
        if failure is not None:
            return self._failure_response(failure)
        handler = self._handlers.get(method)
        try:
            if handler is None:
                raise SlackError("unknown_method")
            self._check_token(method, token)
            self._check_scope(method)
            if method == "chat.postMessage" and self.enforce_post_rate:
                self._check_post_rate(args)
            self._check_tier(method)
            body = handler(args)
        except SlackError as err:
            body = err.body
            if isinstance(err, RateLimited):
                headers = {"Retry-After": str(err.retry_after)}
                return 429, body, web.json_response(body, status=429, headers=headers)
        except Exception as exc:  # a bug in the fake: keep it visible in `calls`
            return self._failure_response(_Failure(500, 0, None, 1), {"fake_crash": repr(exc)})
        return 200, body, web.json_response(body)

    def _failure_response(
        self, f: _Failure, crash: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any], web.Response]:
        if f.status == 429:
            body: dict[str, Any] = {"ok": False, "error": f.error or "ratelimited"}
            headers = {"Retry-After": str(f.retry_after)}
            return 429, body, web.json_response(body, status=429, headers=headers)
        if f.status >= 500:
            html = f"<html><body><h1>{f.status} Server Error</h1></body></html>"
            resp = web.Response(status=f.status, text=html, content_type="text/html")
            return f.status, crash or {}, resp
        body = {"ok": False, "error": f.error or "fatal_error"}
        return f.status, body, web.json_response(body, status=f.status)

    def _take_failure(self, method: str) -> _Failure | None:
        now = time.monotonic()
        for key in (method, "*"):
            queue = self._failures.get(key, [])
            queue[:] = [f for f in queue if f.until is None or f.until > now]
            if queue:
                failure = queue[0]
                failure.remaining -= 1
                if failure.remaining <= 0:
                    queue.pop(0)
                return failure
        return None

    def _check_token(self, method: str, token: str | None) -> None:
        wanted, other = (self.bot_token, self.app_token)
        if method == "apps.connections.open":
            wanted, other = other, wanted
        if not token:
            raise SlackError("not_authed")
        if token == other:
            raise SlackError("not_allowed_token_type")
        if token != wanted:
            raise SlackError("invalid_auth")

    def _check_post_rate(self, args: dict[str, Any]) -> None:
        # Slack allows about one message per second per channel; bursts get a 429.
        try:
            key = self._channel(args)["id"]
        except SlackError:
            return  # the handler reports channel_not_found
        now = time.monotonic()
        if now - self._last_post.get(key, -1e9) < 1.0:
            raise RateLimited(1)
        self._last_post[key] = now

    def _check_tier(self, method: str) -> None:
        tier = METHOD_TIER.get(method)
        if not self.rate_limits or tier is None:
            return
        window = self._windows.setdefault(method, RateWindow(TIER_PER_MINUTE[tier]))
        if (wait := window.retry_after(time.monotonic())) is not None:
            raise RateLimited(wait)

    def _check_scope(self, method: str) -> None:
        needed = METHOD_SCOPES.get(method, ())
        if needed and not self.scopes & set(needed):
            provided = ",".join(sorted(self.scopes))
            raise SlackError("missing_scope", needed=",".join(needed), provided=provided)

    @staticmethod
    async def _read_args(request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json" and request.can_read_body:
            with contextlib.suppress(ValueError):  # bad JSON surfaces as missing-arg errors
                body = await request.json()
                args.update(body if isinstance(body, dict) else {})
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                args[key] = value.file.read() if isinstance(value, web.FileField) else value
        return args

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        file = self.files.get(request.match_info["file_id"])
        if file is None:
            return web.Response(status=404, text="file not found")
        if request.content_type == "multipart/form-data":
            fields = (await request.post()).values()
            parts = [v.file.read() for v in fields if isinstance(v, web.FileField)]
            data = parts[0] if parts else b""
        else:
            data = await request.read()
        if len(data) != file["length"]:
            # files.getUploadURLExternal promised `length` bytes: anything else is refused and
            # the file never completes (files.completeUploadExternal: file_not_found).
            return web.Response(
                status=400, text=f"length mismatch: {len(data)} != {file['length']}"
            )
        file["content"] = data
        return web.Response(text=f"OK - {len(data)}")

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        response_id = request.match_info["response_id"]
        if response_id not in self._response_ids:
            return web.Response(status=404, text="no_active_hooks")
        issued, uses = self._response_ids[response_id]
        if uses >= RESPONSE_URL_USES or time.monotonic() - issued > RESPONSE_URL_TTL:
            # Slack documents the limit, not the answer; this is what it sends then (an
            # HTTP 404 "Expired url", which Sentry's Slack integration checks for).
            return web.Response(status=404, text="Expired url")
        self._response_ids[response_id] = (issued, uses + 1)
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = json.loads(str((await request.post()).get("payload", "{}")))
        self.responses.append(body)
        return web.Response(text="ok")

    # -- model helpers ---------------------------------------------------------------

    def _next_ts(self) -> str:
        # Wall-clock based so bots filtering history by time see recent messages,
        # bumped by a microsecond when needed to keep ts unique and increasing.
        us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:09d}"

    def _new_channel(
        self, cid: str, name: str, *, members: set[str], creator: str = "U1"
    ) -> dict[str, Any]:
        channel: dict[str, Any] = {
            "id": cid, "name": name, "topic": "", "purpose": "", "members": set(members),
            "is_archived": False, "is_private": False, "created": int(time.time()),
            "bookmarks": [], "pins": [], "creator": creator,
        }  # fmt: skip
        self.channels[cid] = channel
        self.messages.setdefault(cid, [])
        return channel

    def dm_channel(self, user_id: str) -> str:
        """The bot's direct-message channel with a user, opened on first use as on Slack."""
        channel_id = f"D{user_id}"
        if channel_id not in self.channels:
            self._new_channel(channel_id, f"dm-{user_id.lower()}", members={BOT_USER_ID, user_id})
        return channel_id

    def _channel(self, args: dict[str, Any], key: str = "channel") -> dict[str, Any]:
        ref = str(args.get(key) or "")
        found = self._lookup(ref) or next(  # Slack also accepts "#name" / "name"
            (c for c in self.channels.values() if ref and c["name"] == ref.lstrip("#")), None
        )
        if found is None or (found["is_private"] and BOT_USER_ID not in found["members"]):
            # A private channel the bot is not in is invisible to it: Slack answers as for an
            # unknown id (https://docs.slack.dev/reference/methods/chat.postMessage#errors).
            raise SlackError("channel_not_found")
        return found

    def _lookup(self, ref: str) -> dict[str, Any] | None:
        if ref in self.channels:
            return self.channels[ref]
        if ref in self.users:  # posting to a user ID posts into the DM with that user
            return self.channels[self.dm_channel(ref)]
        return None

    def _open_channel(
        self,
        args: dict[str, Any],
        key: str = "channel",
        *,
        member: bool = False,
        public_scope: str | None = None,
    ) -> dict[str, Any]:
        """A channel the bot may write in: not archived and, with `member`, one it is in, or
        a public one when `public_scope` is granted (chat:write.public, "send messages to
        channels the app isn't a member of",
        https://docs.slack.dev/reference/scopes/chat.write.public)."""
        channel = self._channel(args, key)
        if channel["is_archived"]:
            raise SlackError("is_archived")
        if member and not self._is_member(channel, public_scope):
            raise SlackError("not_in_channel")
        return channel

    def _is_member(self, channel: dict[str, Any], public_scope: str | None = None) -> bool:
        if BOT_USER_ID in channel["members"]:
            return True
        return (
            public_scope is not None and public_scope in self.scopes and not channel["is_private"]
        )

    def _message(self, channel: dict[str, Any], ts: Any) -> Message:
        for msg in self.messages[channel["id"]]:
            if msg.ts == ts:
                return msg
        raise SlackError("message_not_found")

    def _replies(self, parent: Message) -> list[Message]:
        return [
            m for m in self.messages[parent.channel]
            if m.thread_ts == parent.ts and m.ts != parent.ts
        ]  # fmt: skip

    def _render_channel(self, c: dict[str, Any]) -> dict[str, Any]:
        def text_field(value: str) -> dict[str, Any]:
            return {"value": value, "creator": BOT_USER_ID if value else "", "last_set": 0}

        return {
            "id": c["id"], "name": c["name"], "name_normalized": c["name"],
            "is_channel": True, "is_group": False, "is_im": False, "is_mpim": False,
            "is_private": c["is_private"], "is_archived": c["is_archived"],
            "is_general": False, "created": c["created"], "creator": c["creator"],
            "is_member": BOT_USER_ID in c["members"], "num_members": len(c["members"]),
            "topic": text_field(c["topic"]), "purpose": text_field(c["purpose"]),
            "previous_names": [],
        }  # fmt: skip

    def _render(self, m: Message, *, with_metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "user": m.user, "text": m.text, "ts": m.ts}
        out["team"] = TEAM_ID
        if m.user == BOT_USER_ID:
            out.update(bot_id=BOT_ID, app_id=APP_ID)
        if m.blocks is not None:
            out["blocks"] = m.blocks
        if m.attachments:
            out["attachments"] = m.attachments
        if m.files:
            out.update(files=m.files, upload=True)
        if m.thread_ts is not None:
            out["thread_ts"] = m.thread_ts
        replies = self._replies(m) if m.thread_ts in (None, m.ts) else []
        if replies:
            users = sorted({r.user for r in replies})
            out.update(
                thread_ts=m.ts, reply_count=len(replies), reply_users=users,
                reply_users_count=len(users), latest_reply=replies[-1].ts,
            )  # fmt: skip
        if m.edited_ts:
            out["edited"] = {"user": m.user, "ts": m.edited_ts}
        if m.reactions:
            out["reactions"] = [
                {"name": k, "users": v, "count": len(v)} for k, v in m.reactions.items()
            ]
        if with_metadata and m.metadata:
            out["metadata"] = m.metadata
        return out

    def _content(self, args: dict[str, Any], *, required: bool) -> dict[str, Any]:
        """Validate text/blocks/attachments/metadata the way chat.* methods do."""
        text, blocks = args.get("text"), args.get("blocks")
        attachments, metadata = args.get("attachments"), args.get("metadata")
        if blocks is not None and (problem := _block_errors(blocks)):
            raise SlackError(**problem)
        if attachments is not None and not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        if required and not text and not blocks and not attachments:
            raise SlackError("no_text")
        if text is not None and len(str(text)) > MAX_TEXT:
            raise SlackError("msg_too_long")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            raise SlackError("invalid_metadata_format")
        return {"text": text, "blocks": blocks, "attachments": attachments, "metadata": metadata}

    def _page(
        self, msgs: list[Message], args: dict[str, Any], *, newest_first: bool
    ) -> dict[str, Any]:
        oldest = _ts_key(args.get("oldest") or "0", "invalid_ts_oldest")
        latest = _ts_key(args.get("latest") or "Infinity", "invalid_ts_latest")
        if _truthy(args.get("inclusive")):
            msgs = [m for m in msgs if oldest <= _ts_key(m.ts) <= latest]
        else:
            msgs = [m for m in msgs if oldest < _ts_key(m.ts) < latest]
        msgs = sorted(msgs, key=lambda m: _ts_key(m.ts), reverse=newest_first)
        if cursor := args.get("cursor"):
            # Cursors are base64 "next_ts:<ts>" like Slack's; <ts> is the next message due.
            try:
                start = _ts_key(base64.b64decode(str(cursor)).decode().removeprefix("next_ts:"))
            except (ValueError, SlackError):
                raise SlackError("invalid_cursor") from None
            if newest_first:
                msgs = [m for m in msgs if _ts_key(m.ts) <= start]
            else:
                msgs = [m for m in msgs if _ts_key(m.ts) >= start]
        try:
            limit = max(1, min(int(args.get("limit") or 100), 999))
        except ValueError:
            raise SlackError("invalid_limit") from None
        with_metadata = _truthy(args.get("include_all_metadata"))
        out: dict[str, Any] = {
            "ok": True,
            "messages": [self._render(m, with_metadata=with_metadata) for m in msgs[:limit]],
            "has_more": len(msgs) > limit,
        }
        if len(msgs) > limit:
            next_cursor = base64.b64encode(f"next_ts:{msgs[limit].ts}".encode()).decode()
            out["response_metadata"] = {"next_cursor": next_cursor}
        return out

    # -- Web API methods -------------------------------------------------------------

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True, "url": f"https://{TEAM_DOMAIN}.slack.com/", "team": "Fake Workspace",
            "user": BOT_NAME, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }  # fmt: skip

    def _render_user(self, u: dict[str, Any]) -> dict[str, Any]:
        profile = {"real_name": u["name"], "display_name": u["name"]}
        # profile.email only for apps granted users:read.email
        # (https://docs.slack.dev/reference/scopes/users.read.email).
        if u["email"] and "users:read.email" in self.scopes:
            profile["email"] = u["email"]
        return {
            "id": u["id"], "team_id": TEAM_ID, "name": u["name"], "real_name": u["name"],
            "deleted": False, "is_bot": u["is_bot"], "tz": "UTC", "profile": profile,
        }  # fmt: skip

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            raise SlackError("user_not_found")
        return {"ok": True, "user": self._render_user(user)}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        for user in self.users.values():
            if user["email"] and user["email"].lower() == str(args.get("email", "")).lower():
                return {"ok": True, "user": self._render_user(user)}
        raise SlackError("users_not_found")

    def _usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        with_users = _truthy(args.get("include_users"))
        groups = [
            {"id": g["id"], "team_id": TEAM_ID, "handle": g["handle"], "name": g["handle"],
             "user_count": len(g["users"]), **({"users": g["users"]} if with_users else {})}
            for g in self.usergroups.values()
        ]  # fmt: skip
        return {"ok": True, "usergroups": groups}

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self.usergroups.get(str(args.get("usergroup")))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"ok": True, "users": list(group["users"])}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._open_channel(args, member=True, public_scope="chat:write.public")
        content = self._content(args, required=True)
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None:
            # A reply's ts given as thread_ts lands in the parent's thread, as on Slack.
            parent = next((m for m in self.messages[channel["id"]] if m.ts == thread_ts), None)
            thread_ts = (parent.thread_ts or parent.ts) if parent else str(thread_ts)
        msg = Message(
            channel["id"], self._next_ts(), str(content["text"] or ""), content["blocks"],
            content["metadata"], thread_ts, BOT_USER_ID, attachments=content["attachments"],
        )  # fmt: skip
        self.messages[channel["id"]].append(msg)
        message = self._render(msg, with_metadata=True)
        return {"ok": True, "channel": channel["id"], "ts": msg.ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://docs.slack.dev/reference/methods/chat.update: an archived channel's messages
        # cannot be edited (is_inactive), only the app's own messages can (cant_update_message),
        # and an update needs text, blocks or attachments (no_text).
        channel = self._channel(args)
        if channel["is_archived"]:
            raise SlackError("is_inactive")
        msg = self._message(channel, args.get("ts"))
        if msg.user != BOT_USER_ID:
            raise SlackError("cant_update_message")
        content = self._content(args, required=True)
        if content["text"] is not None:
            msg.text = str(content["text"])
            if content["blocks"] is None:
                msg.blocks = None  # text without blocks replaces the blocks, as Slack does
        for key in ("blocks", "attachments", "metadata"):  # other omitted ones are retained
            if content[key] is not None:
                setattr(msg, key, content[key])
        msg.edits += 1
        msg.edited_ts = self._next_ts()
        message = self._render(msg, with_metadata=True)
        return {"ok": True, "channel": channel["id"], "ts": msg.ts, "text": msg.text,
                "message": message}  # fmt: skip

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._open_channel(args, member=True, public_scope="chat:write.public")
        if args.get("user") not in channel["members"]:
            raise SlackError("user_not_in_channel")
        content = self._content(args, required=True)
        ts = self._next_ts()
        self.ephemerals.append({**content, "channel": channel["id"], "user": args["user"],
                                "ts": ts, "thread_ts": args.get("thread_ts")})  # fmt: skip
        return {"ok": True, "message_ts": ts}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        msg = self._message(channel, args.get("ts"))
        if msg.user != BOT_USER_ID:
            raise SlackError("cant_delete_message")
        self.messages[channel["id"]].remove(msg)
        return {"ok": True, "channel": channel["id"], "ts": msg.ts}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if not self._is_member(channel):
            # "Only user tokens can access public channels they are not in"
            raise SlackError("not_in_channel")
        top = [m for m in self.messages[channel["id"]] if m.thread_ts in (None, m.ts)]
        return {**self._page(top, args, newest_first=True), "pin_count": len(channel["pins"])}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if not self._is_member(channel):
            raise SlackError("channel_not_found")  # the only channel error .replies documents
        try:
            parent = self._message(channel, args.get("ts"))
        except SlackError:
            raise SlackError("thread_not_found") from None
        return self._page([parent, *self._replies(parent)], args, newest_first=False)

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("name") or "")
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if not re.search(r"[a-z0-9]", name):
            raise SlackError("invalid_name_punctuation")
        if any(c["name"] == name for c in self.channels.values()):
            raise SlackError("name_taken")
        channel = self._new_channel(
            self._next_id("C"), name, members={BOT_USER_ID}, creator=BOT_USER_ID
        )
        channel["is_private"] = _truthy(args.get("is_private"))
        return {"ok": True, "channel": self._render_channel(channel)}

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://docs.slack.dev/reference/methods/conversations.list: `types` defaults to
        # public_channel; private channels only the bot is in; `limit` at most 1000;
        # cursor pagination with an empty next_cursor on the last page.
        types = set(str(args.get("types") or "public_channel").split(","))
        if not types <= {"public_channel", "private_channel", "mpim", "im"}:
            raise SlackError("invalid_types")
        try:
            limit = int(args.get("limit") or 100)
        except ValueError:
            raise SlackError("invalid_limit") from None
        if not 1 <= limit <= 1000:
            raise SlackError("invalid_limit")
        found = [
            c for c in self.channels.values()
            if ("im" in types if c["id"].startswith("D") else
                "private_channel" in types if c["is_private"] else "public_channel" in types)
            and not (c["is_private"] and BOT_USER_ID not in c["members"])
            and not (_truthy(args.get("exclude_archived")) and c["is_archived"])
        ]  # fmt: skip
        start = 0
        if cursor := args.get("cursor"):
            try:
                start = int(base64.b64decode(str(cursor)).decode().removeprefix("offset:"))
            except ValueError:
                raise SlackError("invalid_cursor") from None
        page = found[start : start + limit]
        more = start + limit < len(found)
        next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
        return {
            "ok": True,
            "channels": [self._render_channel(c) for c in page],
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._open_channel(args)
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("no_user")
        if BOT_USER_ID not in channel["members"]:
            raise SlackError("not_in_channel")
        errors = []
        for user in users:
            if user == BOT_USER_ID:
                errors.append({"user": user, "ok": False, "error": "cant_invite_self"})
            elif user not in self.users:
                errors.append({"user": user, "ok": False, "error": "user_not_found"})
            elif user in channel["members"]:
                errors.append({"user": user, "ok": False, "error": "already_in_channel"})
        if errors:
            raise SlackError(str(errors[0]["error"]), errors=errors)
        channel["members"].update(users)
        return {"ok": True, "channel": self._render_channel(channel)}

    def _set_text_field(self, args: dict[str, Any], key: str) -> dict[str, Any]:
        channel = self._open_channel(args)
        if BOT_USER_ID not in channel["members"]:
            raise SlackError("not_in_channel")
        value = str(args.get(key) or "")
        if len(value) > 250:
            raise SlackError("too_long")
        channel[key] = value
        return {"ok": True, "channel": self._render_channel(channel)}

    def _conversations_archive(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if channel["is_archived"]:
            raise SlackError("already_archived")
        if BOT_USER_ID not in channel["members"]:
            raise SlackError("not_in_channel")
        channel["is_archived"] = True
        return {"ok": True}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": self._render_channel(self._channel(args))}

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._open_channel(args)
        out: dict[str, Any] = {"ok": True}
        if BOT_USER_ID in channel["members"]:
            out["warning"] = "already_in_channel"
        channel["members"].add(BOT_USER_ID)
        return {**out, "channel": self._render_channel(channel)}

    def _bookmarks_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args, "channel_id")
        if not args.get("title"):
            raise SlackError("invalid_arguments")
        if args.get("type") != "link":
            raise SlackError("invalid_bookmark_type")
        link = str(args.get("link") or "")
        if not link.startswith(("http://", "https://")):
            raise SlackError("invalid_link")
        bookmark = {
            "id": self._next_id("Bk"), "channel_id": channel["id"], "title": args["title"],
            "link": link, "emoji": args.get("emoji"), "icon_url": None, "type": "link",
            "entity_id": None, "date_created": int(time.time()), "date_updated": 0,
            "rank": "g", "last_updated_by_user_id": BOT_USER_ID,
            "last_updated_by_team_id": TEAM_ID, "shortcut_id": None, "app_id": APP_ID,
        }  # fmt: skip
        channel["bookmarks"].append(bookmark)
        return {"ok": True, "bookmark": bookmark}

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if not args.get("timestamp"):
            raise SlackError("no_item_specified")
        msg = self._message(channel, args["timestamp"])
        if msg.ts in channel["pins"]:
            raise SlackError("already_pinned")
        channel["pins"].append(msg.ts)
        return {"ok": True}

    def _reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if not args.get("timestamp"):
            raise SlackError("no_item_specified")
        msg = self._message(channel, args["timestamp"])
        name = str(args.get("name") or "")
        if not name or ":" in name:
            raise SlackError("invalid_name")
        users = msg.reactions.setdefault(name, [])
        if BOT_USER_ID in users:
            raise SlackError("already_reacted")
        users.append(BOT_USER_ID)
        return {"ok": True}

    def _store_view(self, view: Any, view_id: str) -> dict[str, Any]:
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise SlackError("invalid_arguments")
        if view.get("type") == "modal" and not view.get("title"):
            missing = "[ERROR] missing required field: title [json-pointer:/view]"
            raise SlackError("invalid_arguments", response_metadata={"messages": [missing]})
        if (problem := _block_errors(view.get("blocks", []), MODAL_BLOCKS)) is not None:
            raise SlackError(
                "invalid_arguments", response_metadata=problem.get("response_metadata")
            )
        stored = {
            **view, "id": view_id, "team_id": TEAM_ID, "app_id": APP_ID, "bot_id": BOT_ID,
            "state": {"values": {}}, "hash": f"{time.time():.6f}.{secrets.token_hex(4)}",
            "root_view_id": view_id, "previous_view_id": None,
        }  # fmt: skip
        self.views[view_id] = stored
        return {"ok": True, "view": stored}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = str(args.get("trigger_id") or args.get("interactivity_pointer") or "")
        if trigger not in self._triggers:
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["invalid `trigger_id`"]})  # fmt: skip
        issued = self._triggers[trigger]
        if issued is None:
            raise SlackError("exchanged_trigger_id")
        if time.monotonic() - issued > TRIGGER_TTL:
            raise SlackError("expired_trigger_id")
        self._triggers[trigger] = None  # a trigger opens one view only
        return self._store_view(args.get("view"), self._next_id("V"))

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            ext = args["external_id"]
            view_id = next(
                (v["id"] for v in self.views.values() if v.get("external_id") == ext), None
            )
        current = self.views.get(str(view_id))
        if current is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        return self._store_view(args.get("view"), current["id"])

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename, length = args.get("filename"), str(args.get("length") or "")
        if not filename or not length.isdigit():
            raise SlackError("invalid_arguments")
        if int(length) == 0:  # "Typically only occurs when the length provided is 0."
            raise SlackError("missing_argument")
        file_id = self._next_id("F")
        self.files[file_id] = {"id": file_id, "name": filename, "length": int(length),
                               "content": None, "title": filename}  # fmt: skip
        return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        files = []
        for entry in entries:
            file = self.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
            if file is None or file["content"] is None:
                raise SlackError("file_not_found")
            files.append({**file, "title": entry.get("title") or file["title"]})
        target = args.get("channel_id") or str(args.get("channels") or "").split(",")[0]
        if target and (target not in self.channels or self.channels[target]["is_archived"]):
            raise SlackError("invalid_channel")
        if target and not self._is_member(self.channels[target]):
            # "User/bot membership is required for the specified channel", public or not
            # (https://docs.slack.dev/reference/methods/files.completeUploadExternal).
            raise SlackError("not_in_channel")
        rendered = [
            {"id": f["id"], "name": f["name"], "title": f["title"], "size": len(f["content"]),
             "created": int(time.time()), "user": BOT_USER_ID, "shares": {}}
            for f in files
        ]  # fmt: skip
        for f in files:
            self.files[f["id"]]["title"] = f["title"]
        if target:
            thread_ts = args.get("thread_ts") or None
            msg = Message(target, self._next_ts(), str(args.get("initial_comment") or ""),
                          None, None, thread_ts, BOT_USER_ID, files=rendered)  # fmt: skip
            self.messages[target].append(msg)
            share = {"ts": msg.ts, **({"thread_ts": thread_ts} if thread_ts else {})}
            for f in rendered:
                f["shares"] = {"public": {target: [share]}}
                f["channels"] = [target]
        return {"ok": True, "files": rendered}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        ws_base = self.base.replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{ws_base}/link/?ticket={ticket}&app_id={APP_ID}"}
