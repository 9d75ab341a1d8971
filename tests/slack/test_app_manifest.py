"""The Slack app manifests ask for exactly what the bot uses, and Slack would accept them.

Scopes: every Web API method bot/ calls (a slack_sdk client method, or a method name the outbox
queues and `OutboxSender` sends) and every event it handles is looked up in the tables below,
copied from the "Required scopes" of each method's reference page,
https://docs.slack.dev/reference/methods/<method> (for example
https://docs.slack.dev/reference/methods/conversations.create), and of each event's,
https://docs.slack.dev/reference/events/<event> (member_joined_channel: "if your bot or app has
the channels:read scope, it will receive events for public channels. If it has groups:read, it
will receive events for private channels"). The manifests' bot scopes and bot events must be
exactly what those give: an unused scope fails, and so does a missing one.

Schema: tests/fixtures/slack/manifest.schema.1.0.0.json is Slack's published JSON schema for
app manifests, copied unchanged from the repository slackapi/manifest-schema, file
schemas/manifest.schema.1.0.0.json (commit 19557f58d932d71155ce85c581dc7c72637abe1c), the file
its manifest.schema.json picks for `_metadata.major_version: 1` (tests/fixtures/README.md).

Commands and events: the `app.command(...)`, `app.event(...)`, … registrations in bot/ are read
from its source, and a running bot is sent each command and event of the manifest.
"""

from __future__ import annotations

import ast
import copy
import importlib
import inspect
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.domain.commands import INCIDENT_SUBCOMMANDS
from bot.slack.action_commands import USAGE as ACTION_USAGE
from tests.fakes.slack_api import FakeSlack
from tests.harness.bot import BOT_TOKEN, SIGNING_SECRET, BotFactory

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"
HTTP = ROOT / "slack-app-manifest.yml"
SOCKET = ROOT / "slack-app-manifest.socket-mode.yml"
MANIFESTS = [HTTP, SOCKET]
SCHEMA = ROOT / "tests" / "fixtures" / "slack" / "manifest.schema.1.0.0.json"
PLACEHOLDER_URL = "https://incident-bot.example.com/slack/events"
# Slack publishes no shorter limit than the schema's 1,000 characters, but its autocomplete
# shows the hint on one line beside the command and cuts the rest: the project keeps each hint
# to this many characters (`/incident help` gives the arguments).
HINT_CHARS = 100

# Conversation types, as the reference pages split the scopes among them.
PUBLIC, PRIVATE, IM, MPIM = "public", "private", "im", "mpim"
_READ = {PUBLIC: "channels:read", PRIVATE: "groups:read", IM: "im:read", MPIM: "mpim:read"}
_HISTORY = {
    PUBLIC: "channels:history",
    PRIVATE: "groups:history",
    IM: "im:history",
    MPIM: "mpim:history",
}
_MANAGE = {PUBLIC: "channels:manage", PRIVATE: "groups:write", IM: "im:write", MPIM: "mpim:write"}
# "Required scopes" (bot token) of each method's reference page: a string when there is one,
# a scope per conversation type when the page lists one per type, "" when none is required.
METHOD_SCOPES: dict[str, str | dict[str, str]] = {
    "auth.test": "",
    "views.open": "",
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.delete": "chat:write",
    "conversations.create": _MANAGE,
    "conversations.invite": _MANAGE,
    "conversations.setTopic": _MANAGE,
    "conversations.setPurpose": _MANAGE,
    "conversations.archive": _MANAGE,
    "conversations.history": _HISTORY,
    "conversations.replies": _HISTORY,
    "conversations.info": _READ,
    "conversations.list": _READ,
    "conversations.join": "channels:join",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "usergroups.list": "usergroups:read",
    "usergroups.users.list": "usergroups:read",
    "bookmarks.add": "bookmarks:write",
    "pins.add": "pins:write",
    "reactions.add": "reactions:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
# users.info returns a user's email only with users:read.email
# (https://docs.slack.dev/reference/methods/users.info, "email ... requires users:read.email"),
# and acting on PagerDuty as the clicker needs it.
EXTRA_FOR_METHOD = {"users.info": {"users:read.email"}}
# Message metadata on messages read back needs metadata.message:read ("Allows your Slack app to
# read message metadata in channels that your Slack app has been added to",
# https://docs.slack.dev/reference/scopes/metadata.message.read).
METADATA_ARGUMENT = "include_all_metadata"
METADATA_SCOPE = "metadata.message:read"

# Each event the bot handles: its subscription per conversation type (message.* are separate
# subscriptions) and the scope each needs, from the event reference pages.
EVENT_SUBSCRIPTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "message": {
        PUBLIC: ("message.channels", "channels:history"),
        PRIVATE: ("message.groups", "groups:history"),
        IM: ("message.im", "im:history"),
        MPIM: ("message.mpim", "mpim:history"),
    },
    "member_joined_channel": {
        PUBLIC: ("member_joined_channel", "channels:read"),
        PRIVATE: ("member_joined_channel", "groups:read"),
    },
    "pin_added": {kind: ("pin_added", "pins:read") for kind in (PUBLIC, PRIVATE)},
    "pin_removed": {kind: ("pin_removed", "pins:read") for kind in (PUBLIC, PRIVATE)},
    "reaction_added": {kind: ("reaction_added", "reactions:read") for kind in (PUBLIC, PRIVATE)},
    "reaction_removed": {
        kind: ("reaction_removed", "reactions:read") for kind in (PUBLIC, PRIVATE)
    },
    "channel_archive": {PUBLIC: ("channel_archive", "channels:read")},
}


# -- What bot/ does ----------------------------------------------------------------------------


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(BOT.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        yield name, ast.parse(path.read_text(), str(path))


@cache
def client_methods() -> dict[str, frozenset[str]]:
    """Each AsyncWebClient method's name and the Web API methods it calls (files_upload_v2
    calls two), read from slack_sdk's own source."""
    direct: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for name, fn in inspect.getmembers(AsyncWebClient, inspect.iscoroutinefunction):
        if name.startswith("_") or name == "api_call":
            continue
        source = inspect.getsource(fn)
        direct[name] = set(re.findall(r'api_call\(\s*"([^"]+)"', source))
        calls[name] = set(re.findall(r"self\.(\w+)\(", source))

    def resolve(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        found = set(direct.get(name, ()))
        for other in calls.get(name, set()) - seen - {name}:
            if other in direct:
                found |= resolve(other, seen | {name})
        return found

    return {name: frozenset(resolve(name)) for name in direct}


@cache
def methods_called() -> dict[str, set[str]]:
    """The Web API methods bot/ calls, each with the modules that name it: a client method
    (`client.users_info(...)`), or a method's name as a string (what the outbox queues:
    `outbox.call("conversations.create", ...)`, `"files.upload_v2"` for the SDK's upload). A
    name used as a dict key is a table entry (the pacing table's rate-limit tiers), not a call."""
    sdk = client_methods()
    api_names = {m for ms in sdk.values() for m in ms}
    found: dict[str, set[str]] = {}
    for module, tree in _modules():
        keys = {id(k) for node in ast.walk(tree) if isinstance(node, ast.Dict) for k in node.keys}
        for node in ast.walk(tree):
            named: frozenset[str] = frozenset()
            if isinstance(node, ast.Attribute) and node.attr in sdk:
                named = sdk[node.attr]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in keys:
                    continue
                if node.value in api_names:
                    named = frozenset({node.value})
                elif node.value.replace(".", "_") in sdk and "." in node.value:
                    named = sdk[node.value.replace(".", "_")]
            for method in named:
                found.setdefault(method, set()).add(module)
    return found


def _bot_source_mentions(pattern: str) -> bool:
    return any(re.search(pattern, p.read_text()) for p in BOT.rglob("*.py"))


def incident_channel_kinds() -> set[str]:
    """The bot creates every incident channel (conversations.create) public, unless bot/ ever
    asks for a private one."""
    private = _bot_source_mentions(r"[\"']is_private[\"']\s*:\s*True|is_private\s*=\s*True")
    return {PUBLIC, PRIVATE} if private else {PUBLIC}


# The alerts and incidents channels (and the routes' channels) are whatever the operator
# configured: public or private; the bot is invited to them (tests/slack/test_invites.py).
CONFIGURED_CHANNEL_KINDS = {PUBLIC, PRIVATE}


def method_kinds(method: str) -> set[str]:
    """Where the bot calls a method whose scope depends on the conversation type."""
    if method.startswith("conversations.") and method not in (
        "conversations.history",
        "conversations.replies",
        "conversations.info",
    ):
        # create/invite/setTopic/archive act on the incident channel; list looks for one.
        return incident_channel_kinds()
    # history/replies: finding its own message after an ambiguous send, in any channel it
    # posts to (the configured ones and incident channels). Direct messages are posted with
    # chat.postMessage to a user id, which chat:write covers; their history is never read.
    return CONFIGURED_CHANNEL_KINDS | incident_channel_kinds()


def event_kinds(event: str) -> set[str]:
    """Where each handled event is needed: messages only count in incident channels; the bot's
    own invitation matters in the configured channels; pins and reactions in incident ones."""
    if event == "member_joined_channel":
        return CONFIGURED_CHANNEL_KINDS
    return incident_channel_kinds()


LISTENER_KINDS = ("command", "event", "action", "view", "shortcut", "options", "message")


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return namespace[node.id]
    if isinstance(node, ast.Attribute):
        return getattr(_resolve(node.value, namespace), node.attr)
    raise ValueError(f"cannot tell what {ast.unparse(node)} is")


class _Listeners(ast.NodeVisitor):
    """`app.command(...)`, `app.event(...)`, … calls, their argument resolved in the module
    (a constant, a module-level name, or the variable of a `for` over either, or over a
    literal of tuples)."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.loops: list[ast.For] = []
        self.found: list[tuple[str, str]] = []

    def visit_For(self, node: ast.For) -> None:
        self.loops.append(node)
        self.generic_visit(node)
        self.loops.pop()

    def _loop_values(self, name: str) -> list[Any] | None:
        for loop in reversed(self.loops):
            if isinstance(loop.target, ast.Name) and loop.target.id == name:
                return list(_resolve(loop.iter, self.namespace))
            if isinstance(loop.target, ast.Tuple):
                names = [t.id if isinstance(t, ast.Name) else "" for t in loop.target.elts]
                if name in names:
                    assert isinstance(loop.iter, ast.Tuple | ast.List), ast.unparse(loop)
                    i = names.index(name)
                    return [
                        _resolve(e.elts[i], self.namespace)
                        for e in loop.iter.elts
                        if isinstance(e, ast.Tuple)
                    ]
        return None

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "app"
            and func.attr in LISTENER_KINDS
            and node.args
        ):
            arg = node.args[0]
            values = self._loop_values(arg.id) if isinstance(arg, ast.Name) else None
            for value in values if values is not None else [_resolve(arg, self.namespace)]:
                self.found.append((func.attr, str(value)))
        self.generic_visit(node)


@cache
def listeners() -> frozenset[tuple[str, str]]:
    """What the Bolt app is told to listen to, anywhere in bot/: (kind, name) pairs."""
    found: set[tuple[str, str]] = set()
    kinds = "|".join(LISTENER_KINDS)
    for module, tree in _modules():
        if not re.search(rf"\bapp\.({kinds})\(", ast.unparse(tree)):
            continue
        scan = _Listeners(vars(importlib.import_module(module)))
        scan.visit(tree)
        found.update(scan.found)
    return frozenset(found)


def registered(kind: str) -> set[str]:
    return {name for k, name in listeners() if k == kind}


def needed_events() -> set[str]:
    subscriptions = set()
    for event in registered("event"):
        assert event in EVENT_SUBSCRIPTIONS, (
            f"bot/ handles the {event} event: add its subscription and scope from "
            f"https://docs.slack.dev/reference/events/{event}"
        )
        subscriptions |= {EVENT_SUBSCRIPTIONS[event][k][0] for k in event_kinds(event)}
    return subscriptions


def needed_scopes() -> dict[str, set[str]]:
    """Each scope the bot needs, with what needs it."""
    why: dict[str, set[str]] = {}
    for method in methods_called():
        assert method in METHOD_SCOPES, (
            f"bot/ calls {method}: add its Required scopes from "
            f"https://docs.slack.dev/reference/methods/{method}"
        )
        scopes = METHOD_SCOPES[method]
        wanted = (
            {scopes[k] for k in method_kinds(method) if k in scopes}
            if isinstance(scopes, dict)
            else {scopes} - {""}
        )
        for scope in wanted | EXTRA_FOR_METHOD.get(method, set()):
            why.setdefault(scope, set()).add(method)
    if _bot_source_mentions(METADATA_ARGUMENT):
        why.setdefault(METADATA_SCOPE, set()).add(METADATA_ARGUMENT)
    for event in registered("event"):
        for kind in event_kinds(event):
            subscription, scope = EVENT_SUBSCRIPTIONS[event][kind]
            why.setdefault(scope, set()).add(f"event {subscription}")
    if registered("command"):
        why.setdefault("commands", set()).add("slash commands")
    return why


# -- The manifests ----------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(path.read_text())
    return manifest


def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator().iter_errors(manifest)
    ]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_the_manifest_validates_against_slacks_published_schema(path: Path) -> None:
    manifest = load(path)
    # manifest.schema.json picks schemas/manifest.schema.1.0.0.json for major_version 1.
    assert manifest["_metadata"]["major_version"] == 1
    assert schema_errors(manifest) == []


def test_the_schema_refuses_what_slack_would() -> None:
    manifest = load(HTTP)
    broken = copy.deepcopy(manifest)
    broken["features"]["slash_commands"][0]["usage_hint"] = "x" * 1001
    broken["settings"]["event_subscriptions"]["request_url"] = "incident-bot.example.com"
    broken["oauth_config"]["scopes"]["bot_scopes"] = ["chat:write"]
    del broken["features"]["slash_commands"][1]["description"]
    errors = schema_errors(broken)
    assert len(errors) == 4, errors
    assert any("features/slash_commands/0/usage_hint" in e for e in errors)
    assert any("settings/event_subscriptions/request_url" in e for e in errors)
    assert any("bot_scopes" in e for e in errors)
    assert any("'description' is a required property" in e for e in errors)


def test_the_scan_finds_the_methods_bot_calls() -> None:
    # A client method, a queued method name, the SDK's upload and the tier table's keys.
    called = methods_called()
    assert "bot.slack.war_room" in called["users.lookupByEmail"]
    assert "bot.slack.war_room" in called["conversations.create"]
    assert {"files.getUploadURLExternal", "files.completeUploadExternal"} <= set(called)
    # bot/slack/rate_limits.py has tiers for methods the bot never calls.
    assert "pins.add" not in called and "conversations.join" not in called
    assert {("command", "/rollback"), ("action", "alert_ack"), ("event", "pin_added")} <= (
        listeners()
    )


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_the_manifest_asks_for_exactly_the_scopes_the_bot_uses(path: Path) -> None:
    asked = set(load(path)["oauth_config"]["scopes"]["bot"])
    why = needed_scopes()
    unused = sorted(asked - set(why))
    missing = {scope: sorted(why[scope]) for scope in sorted(set(why) - asked)}
    assert (unused, missing) == ([], {}), f"unused scopes {unused}; missing scopes {missing}"
    assert not load(path)["oauth_config"]["scopes"].get("user")


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_the_manifest_subscribes_exactly_to_the_events_the_bot_handles(path: Path) -> None:
    subscribed = load(path)["settings"]["event_subscriptions"]["bot_events"]
    assert len(subscribed) == len(set(subscribed))
    assert set(subscribed) == needed_events()
    assert not load(path)["settings"]["event_subscriptions"].get("user_events")


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_the_manifest_has_the_commands_the_bot_registers(path: Path) -> None:
    features = load(path)["features"]
    commands = [c["command"] for c in features["slash_commands"]]
    assert len(commands) == len(set(commands))
    assert set(commands) == registered("command")
    # Buttons and the declare form arrive through interactivity; no shortcut or options load.
    assert load(path)["settings"]["interactivity"]["is_enabled"] is True
    assert registered("action") and registered("view")
    assert not features.get("shortcuts") and not registered("shortcut")
    assert not registered("options")


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_usage_hints_fit_slacks_autocomplete_and_match_the_parsers(path: Path) -> None:
    hints = {
        c["command"]: c.get("usage_hint", "") for c in load(path)["features"]["slash_commands"]
    }
    limit = json.loads(SCHEMA.read_text())["definitions"][
        "app-manifests.v1.features.slash_commands"
    ]
    assert limit["items"]["properties"]["usage_hint"]["maxLength"] == 1000
    for command, hint in hints.items():
        assert 0 < len(hint) <= HINT_CHARS, (command, len(hint))
        assert "\n" not in hint
    # /incident names every subcommand its parser takes, and only those.
    assert hints["/incident"].split()[0].split("|") == list(INCIDENT_SUBCOMMANDS)
    # The platform actions' hints say what their own usage answer says.
    for command, usage in ACTION_USAGE.items():
        forms = [f.removeprefix(command).strip() for f in re.findall(r"`([^`]+)`", usage)]
        assert hints[command] == " | ".join(forms)


def _without_urls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_urls(v) for k, v in value.items() if k not in ("url", "request_url")}
    if isinstance(value, list):
        return [_without_urls(v) for v in value]
    return value


def _urls(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("url", "request_url"):
                yield v
            else:
                yield from _urls(v)
    elif isinstance(value, list):
        for v in value:
            yield from _urls(v)


def test_the_socket_mode_variant_is_the_http_one_without_request_urls() -> None:
    http, socket = load(HTTP), load(SOCKET)
    assert http["settings"]["socket_mode_enabled"] is False
    assert socket["settings"]["socket_mode_enabled"] is True
    assert list(_urls(socket)) == []
    same = _without_urls(http)
    same["settings"]["socket_mode_enabled"] = True
    assert same == socket
    # HTTP mode: every command, the events and interactivity at the placeholder host.
    urls = list(_urls(http))
    assert len(urls) == len(http["features"]["slash_commands"]) + 2
    assert set(urls) == {PLACEHOLDER_URL}


def test_the_http_manifest_says_how_slack_verifies_the_request_url() -> None:
    text = " ".join(HTTP.read_text().split())
    assert (
        "Slack verifies the event request URL only once the bot runs with its signing secret"
        in (text.replace("# ", ""))
    )
    assert "incident-bot.example.com" in text and "placeholder" in text
    assert "connections:write" in SOCKET.read_text()


# -- The running bot answers what the manifest subscribes to -----------------------------------


def _event(subscription: str) -> dict[str, Any]:
    kind = subscription.split(".")[0]
    event: dict[str, Any] = {"type": kind, "user": "U1", "event_ts": "1772550000.000100"}
    if kind == "message":
        event |= {"channel": "C_NOT_AN_INCIDENT", "text": "hi", "ts": "1772550000.000100"}
    elif kind == "member_joined_channel":
        event |= {"channel": "C_ALERTS", "channel_type": "C"}
    elif kind == "pin_added":
        event |= {"channel_id": "C_ALERTS", "item": {"type": "message", "message": {}}}
    elif kind == "reaction_added":
        event |= {"reaction": "pushpin", "item": {"type": "message", "channel": "C_ALERTS"}}
    return event


async def test_the_running_bot_handles_every_command_and_event_of_the_manifest(
    start_bot: BotFactory, make_settings: Callable[..., Settings], fake_slack: FakeSlack
) -> None:
    settings = make_settings(
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake_slack.url
    )
    bot = await start_bot(settings)
    manifest = load(HTTP)
    for command in manifest["features"]["slash_commands"]:
        resp = await bot.slack_command(command["command"], "help")
        assert resp.status == 200, command["command"]
    for n, subscription in enumerate(manifest["settings"]["event_subscriptions"]["bot_events"]):
        resp = await bot.slack_event(_event(subscription), f"EvManifest{n}")
        assert resp.status == 200, subscription
    # What no listener takes, Bolt answers 404 (Slack would retry it): the check can fail.
    assert (await bot.slack_event(_event("channel_archive"), "EvManifestX")).status == 404
    assert (await bot.slack_command("/not-registered", "help")).status == 404
