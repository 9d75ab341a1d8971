"""Property-based tests of everything that parses what other systems and people send the bot:
Alertmanager and PagerDuty webhook bodies, PagerDuty signatures, and slash-command text.

Whatever arrives, a parser answers (a value or a one-line 400), never raises: a raise is a 500
to Alertmanager or PagerDuty, which then retry the same poisonous body for ever."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import string
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from bot.domain.commands import (
    INCIDENT_SUBCOMMANDS,
    Parsed,
    UsageProblem,
    parse_incident,
    parse_user,
    split_incident_ref,
)
from bot.intake import Rejected, alertmanager, pagerduty

FAST = settings(max_examples=300, deadline=None)
SLOW = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_SQLITE_INT = 2**63 - 1
MAX_REASON = 1000

# -- building blocks ----------------------------------------------------------------------------

# Arbitrary text as people and exporters write it: unicode, Slack and HTML control characters,
# mention syntax, and now and then something very long.
HOSTILE = ["<!channel>", "<!here>", "<!everyone>", "<@U123>", "&", "<", ">", "&amp;", "|", "`"]
text_any = st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(HOSTILE) | st.text(max_size=5), max_size=6).map("".join),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=8), st.integers(200, 1500)),
)
label_map = st.dictionaries(text_any, text_any, max_size=6)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets
).map(lambda d: d.isoformat().replace("+00:00", "Z"))
FIRING_END = "0001-01-01T00:00:00Z"


@st.composite
def am_alert(draw: st.DrawFn, fingerprint: str) -> dict[str, Any]:
    status = draw(st.sampled_from(["firing", "resolved"]))
    labels = draw(label_map)
    labels["alertname"] = draw(text_any)
    return {
        "status": status,
        "labels": labels,
        "annotations": draw(label_map),
        "startsAt": draw(moments),
        "endsAt": FIRING_END if status == "firing" else draw(moments),
        "generatorURL": draw(text_any),
        "fingerprint": fingerprint,
    }


@st.composite
def am_notification(draw: st.DrawFn, max_alerts: int = 8) -> dict[str, Any]:
    fingerprints = draw(
        st.lists(
            st.text(string.hexdigits.lower(), min_size=1, max_size=16),
            min_size=1,
            max_size=max_alerts,
            unique=True,
        )
    )
    alerts = [draw(am_alert(fp)) for fp in fingerprints]
    return {
        "version": "4",
        "groupKey": draw(text_any.filter(bool)),
        "truncatedAlerts": draw(st.integers(0, 1000)),
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": draw(text_any),
        "groupLabels": draw(label_map),
        "commonLabels": draw(label_map),
        "commonAnnotations": draw(label_map),
        "externalURL": draw(text_any),
        "alerts": alerts,
    }


def pd_delivery(**event: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "01DEN2HPHIQ8XVNJUAGYUC8QT1",
        "event_type": "incident.triggered",
        "resource_type": "incident",
        "occurred_at": "2026-03-01T02:00:00.000Z",
        "agent": {"id": "P1", "type": "user_reference", "summary": "Alice"},
        "client": None,
        "data": {
            "id": "Q1",
            "type": "incident",
            "number": 7,
            "title": "records down",
            "status": "triggered",
            "urgency": "high",
            "html_url": "https://acme.pagerduty.com/incidents/Q1",
            "incident_key": None,
            "service": {"id": "S1", "type": "service_reference", "summary": "records"},
            "assignees": [{"id": "U1", "type": "user_reference", "summary": "Alice"}],
        },
    }
    body.update(event)
    return {"event": body}


def assert_rejected_well(result: object) -> None:
    """A refusal a person can read in a log line: 400 and one short line of text."""
    assert isinstance(result, Rejected)
    assert result.status == 400
    assert result.reason.strip()
    assert "\n" not in result.reason and "\r" not in result.reason
    assert len(result.reason) <= MAX_REASON


def mutate(doc: Any, path: list[Any], value: Any, delete: bool) -> Any:
    """A copy of `doc` with the value at `path` replaced (or removed)."""
    doc = copy.deepcopy(doc)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return doc


def paths(doc: Any, prefix: list[Any] | None = None) -> list[list[Any]]:
    prefix = prefix or []
    found: list[list[Any]] = []
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    )
    for key, value in items:
        found.append([*prefix, key])
        found += paths(value, [*prefix, key])
    return found


# Bodies a hurried or hostile sender could post; several once made a 500.
NASTY_BODIES = [
    b"[" * 100_000,  # deeper than the JSON decoder's recursion limit
    b"9" * 5000,  # more digits than int() converts
    b'{"truncatedAlerts": ' + b"1" * 5000 + b"}",
    b'{"version": NaN}',  # not JSON, though Python's decoder takes it
    b'{"groupKey": "\\ud800"}',  # a lone surrogate cannot be stored or sent as UTF-8
    b"\xef\xbb\xbf{}",
    b"\xff\xfe\x00",
    b"",
]


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize("depth", [10, 60, 100, 300, 900])
def test_deeply_nested_values_are_refused_or_storable(depth: int) -> None:
    """Extra fields are kept and stored: whatever is accepted must serialize again."""
    am = am_body_example()
    am["alerts"][0]["extra"] = nested(depth)
    pd = pd_delivery()
    pd["event"]["data"]["extra"] = nested(depth)
    for module, body in ((alertmanager, am), (pagerduty, pd)):
        result = module.parse(json.dumps(body).encode())
        if isinstance(result, Rejected):
            assert_rejected_well(result)
        else:
            json.dumps(result.model_dump(mode="json", by_alias=True))


def am_body_example() -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="X"}',
        "status": "firing",
        "receiver": "bot",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "X"},
                "startsAt": "2026-03-01T02:00:00Z",
                "fingerprint": "a1",
            }
        ],
    }


# -- Alertmanager -------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=300))
def test_alertmanager_parse_takes_any_bytes(body: bytes) -> None:
    result = alertmanager.parse(body)
    if not isinstance(result, alertmanager.Notification):
        assert_rejected_well(result)


def test_alertmanager_parse_refuses_pathological_bodies_with_400() -> None:
    for body in NASTY_BODIES:
        assert_rejected_well(alertmanager.parse(body))


@FAST
@given(json_value)
def test_alertmanager_parse_takes_any_json(value: Any) -> None:
    result = alertmanager.parse(json.dumps(value).encode())
    if not isinstance(result, alertmanager.Notification):
        assert_rejected_well(result)


@SLOW
@given(am_notification(max_alerts=3), st.data())
def test_alertmanager_parse_refuses_a_damaged_notification_in_one_line(
    body: dict[str, Any], data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(paths(body)))
    # A key of any text, e.g. a label name with a newline, ends up in the reason's location.
    replacement = data.draw(
        json_value | text_any | st.dictionaries(text_any, json_value, min_size=1, max_size=2)
    )
    damaged = mutate(body, path, replacement, delete=data.draw(st.booleans()))
    result = alertmanager.parse(json.dumps(damaged).encode())
    if isinstance(result, alertmanager.Notification):
        result.delivery_id()  # whatever parses must also be identifiable
        # Times are compared with the clock and with each other: naive ones cannot be.
        for alert in result.alerts:
            assert alert.starts_at.tzinfo is not None
            assert alert.ends_at is None or alert.ends_at.tzinfo is not None
    else:
        assert_rejected_well(result)


@SLOW
@given(am_notification())
def test_alertmanager_parses_every_valid_notification(body: dict[str, Any]) -> None:
    result = alertmanager.parse(json.dumps(body).encode())
    assert isinstance(result, alertmanager.Notification), result
    assert [a.fingerprint for a in result.alerts] == [a["fingerprint"] for a in body["alerts"]]
    assert result.alerts[0].labels == body["alerts"][0]["labels"]
    assert result.common_annotations == body["commonAnnotations"]
    # What the webhook stores must itself be valid JSON and parse to the same notification.
    stored = json.dumps(result.model_dump(mode="json", by_alias=True), allow_nan=False)
    again = alertmanager.parse(stored.encode())
    assert isinstance(again, alertmanager.Notification)
    assert again.delivery_id() == result.delivery_id()


@SLOW
@given(am_notification(), st.randoms(use_true_random=False))
def test_alertmanager_delivery_id_ignores_the_order_of_alerts(
    body: dict[str, Any], rnd: Any
) -> None:
    shuffled = copy.deepcopy(body)
    rnd.shuffle(shuffled["alerts"])
    first, second = (alertmanager.parse(json.dumps(b).encode()) for b in (body, shuffled))
    assert isinstance(first, alertmanager.Notification)
    assert isinstance(second, alertmanager.Notification)
    assert first.delivery_id() == second.delivery_id()


@SLOW
@given(am_notification(), st.data())
def test_alertmanager_delivery_id_changes_when_an_alert_changes_status(
    body: dict[str, Any], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(body["alerts"]) - 1))
    changed = copy.deepcopy(body)
    alert = changed["alerts"][index]
    alert["status"] = "resolved" if alert["status"] == "firing" else "firing"
    first, second = (alertmanager.parse(json.dumps(b).encode()) for b in (body, changed))
    assert isinstance(first, alertmanager.Notification)
    assert isinstance(second, alertmanager.Notification)
    assert first.delivery_id() != second.delivery_id()


header_text = st.lists(
    st.characters() | st.sampled_from(["\udcff", "\udc80", "\ud800", "é", " ", ",", "v1="]),
    max_size=60,
).map("".join)
secret_text = st.text(min_size=1, max_size=20).filter(lambda t: t == t.strip())


@FAST
@given(st.none() | header_text, st.none() | secret_text)
def test_alertmanager_authorized_takes_any_header(header: str | None, token: str | None) -> None:
    # aiohttp hands over undecodable header bytes as lone surrogates (surrogateescape).
    assert alertmanager.authorized(header, token) in (True, False)
    if token is not None:
        assert alertmanager.authorized(f"Bearer {token}", token)


# -- PagerDuty ----------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=300))
def test_pagerduty_parse_takes_any_bytes(body: bytes) -> None:
    result = pagerduty.parse(body)
    if not isinstance(result, pagerduty.Delivery):
        assert_rejected_well(result)


def test_pagerduty_parse_refuses_pathological_bodies_with_400() -> None:
    for body in [*NASTY_BODIES, b'{"event": {"id": "\\udfff"}}']:
        assert_rejected_well(pagerduty.parse(body))


@FAST
@given(json_value)
def test_pagerduty_parse_takes_any_json(value: Any) -> None:
    result = pagerduty.parse(json.dumps(value).encode())
    if not isinstance(result, pagerduty.Delivery):
        assert_rejected_well(result)


@SLOW
@given(st.data())
def test_pagerduty_parse_refuses_a_damaged_event_in_one_line(data: st.DataObject) -> None:
    body = pd_delivery()
    path = data.draw(st.sampled_from(paths(body)))
    damaged = mutate(body, path, data.draw(json_value | text_any), delete=data.draw(st.booleans()))
    result = pagerduty.parse(json.dumps(damaged).encode())
    if isinstance(result, pagerduty.Delivery):
        json.dumps(result.model_dump(mode="json"), allow_nan=False)
        assert result.event.occurred_at.tzinfo is not None
    else:
        assert_rejected_well(result)


def test_pagerduty_parses_a_v3_incident_event() -> None:
    result = pagerduty.parse(json.dumps(pd_delivery()).encode())
    assert isinstance(result, pagerduty.Delivery)
    assert result.event.id == "01DEN2HPHIQ8XVNJUAGYUC8QT1"


hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
other_part = st.one_of(
    hex64.map(lambda h: f"v1={h}"),
    hex64.map(lambda h: f"v0={h}"),
    st.text(st.characters(blacklist_characters=","), max_size=80),
)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@FAST
@given(
    st.text(min_size=1, max_size=40),
    st.binary(max_size=200),
    st.lists(other_part, max_size=5),
    st.integers(min_value=0),
    st.sampled_from([",", ", ", " , "]),
)
def test_pagerduty_signature_matches_in_any_position_of_the_list(
    secret: str, body: bytes, others: list[str], where: int, comma: str
) -> None:
    parts = list(others)
    parts.insert(where % (len(parts) + 1), f"v1={sign(secret, body)}")
    assert pagerduty.signature_valid(body, comma.join(parts), secret)


@FAST
@given(
    st.text(min_size=1, max_size=40),
    st.binary(max_size=200),
    st.lists(other_part, max_size=5),
)
def test_pagerduty_signature_without_the_right_digest_is_refused(
    secret: str, body: bytes, others: list[str]
) -> None:
    header = ",".join(others)
    assume(sign(secret, body) not in header)
    assert not pagerduty.signature_valid(body, header, secret)
    assert not pagerduty.signature_valid(body, None, secret)
    # The right digest for another secret, or another body, is no signature either.
    assert not pagerduty.signature_valid(body, f"v1={sign(secret + 'x', body)}", secret)
    assert not pagerduty.signature_valid(body + b"x", f"v1={sign(secret, body)}", secret)


@FAST
@given(header_text, st.binary(max_size=50))
@example("v1=é", b"{}")
@example("v1=\udcff", b"{}")
def test_pagerduty_signature_check_takes_any_header(header: str, body: bytes) -> None:
    assert pagerduty.signature_valid(body, header, "secret") in (True, False)


# -- slash commands -----------------------------------------------------------------------------


@FAST
@given(
    st.text(max_size=200) | st.lists(st.sampled_from([*HOSTILE, "--", "--sev", " "])).map("".join)
)
def test_parse_incident_takes_any_text(text: str) -> None:
    result = parse_incident(text)
    assert isinstance(result, Parsed | UsageProblem)
    if isinstance(result, Parsed):
        assert result.subcommand in INCIDENT_SUBCOMMANDS
    else:
        assert result.message.strip()


word = st.text(
    st.characters(blacklist_categories=["Cs"]).filter(lambda c: not c.isspace()),
    min_size=1,
    max_size=12,
)
arg_word = word.filter(lambda w: not (w.startswith("--") and len(w) > 2))
option_name = word.filter(lambda w: "=" not in w)
separator = st.text(" \t\n", min_size=1, max_size=3)


@st.composite
def command(draw: st.DrawFn) -> tuple[str, str, list[str], dict[str, str], str]:
    """A generated `/incident` text and what it should parse to."""
    sub = draw(st.sampled_from(INCIDENT_SUBCOMMANDS))
    shown = "".join(c.upper() if draw(st.booleans()) else c for c in sub)
    tokens: list[str] = []
    args: list[str] = []
    options: dict[str, str] = {}
    for _ in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):
            args.append(draw(arg_word))
            tokens.append(args[-1])
        else:
            name = draw(option_name)
            if draw(st.booleans()):
                value = draw(word)
                tokens.append(f"--{name}={value}")
            else:
                value = draw(word)  # the next word is the value, whatever it looks like
                tokens += [f"--{name}", value]
            options[name] = value
    rest = ""
    for token in tokens:
        rest += token + draw(separator)
    text = draw(st.text(" ", max_size=2)) + shown + draw(separator) + rest
    return text, sub, args, options, rest.strip()


@FAST
@given(command())
def test_parse_incident_round_trips_args_and_options(
    case: tuple[str, str, list[str], dict[str, str], str],
) -> None:
    text, sub, args, options, rest = case
    result = parse_incident(text)
    assert result == Parsed(sub, args, options, rest)


@FAST
@given(st.sampled_from(INCIDENT_SUBCOMMANDS), option_name, st.lists(arg_word, max_size=3))
def test_an_option_without_a_value_is_a_usage_problem(sub: str, name: str, args: list[str]) -> None:
    result = parse_incident(" ".join([sub, *args, f"--{name}"]))
    assert isinstance(result, UsageProblem)
    assert name in result.message


user_id = st.from_regex(r"[UW][A-Z0-9]{2,11}", fullmatch=True)


@FAST
@given(user_id, st.text(st.characters(blacklist_characters=">"), max_size=20), st.data())
def test_parse_user_reads_every_form_of_a_mention(uid: str, name: str, data: st.DataObject) -> None:
    form = data.draw(st.sampled_from([f"<@{uid}>", f"<@{uid}|{name}>", f"@{uid}", uid]))
    pad = data.draw(st.text(" \t", max_size=2))
    assert parse_user(pad + form + pad) == uid


@FAST
@given(
    st.text(max_size=60)
    | st.lists(st.sampled_from(["<@", "U", "W", "1", "|", ">", "@"])).map("".join)
)
def test_parse_user_takes_any_text(token: str) -> None:
    found = parse_user(token)
    assert found is None or (found[0] in "UW" and found.isalnum() and found.isascii())


@FAST
@given(st.lists(st.text(max_size=25) | st.from_regex(r"#?[0-9]{1,40}", fullmatch=True), max_size=4))
@example(["#" + "9" * 5000, "x"])
@example(["#" + "1" * 19])
def test_split_incident_ref_takes_any_words(words: list[str]) -> None:
    ref, rest = split_incident_ref(words)
    if ref is None:
        assert rest == words
    else:
        # Whatever it names must be an id the store can look up without overflowing.
        assert 0 <= ref <= MAX_SQLITE_INT
        assert rest == words[1:]


@FAST
@given(st.integers(1, 10**15), st.lists(word, max_size=4))
def test_split_incident_ref_reads_an_explicit_incident(number: int, rest: list[str]) -> None:
    assert split_incident_ref([f"#{number}", *rest]) == (number, rest)
    assert split_incident_ref([str(number), *rest]) == (None, [str(number), *rest])
