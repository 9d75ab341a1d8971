"""Property-based tests of every Block Kit message the bot builds from outside content.

Slack refuses a whole message (`invalid_blocks`, `msg_too_long`) when one limit is crossed, so
an alert with a long annotation would otherwise never reach the channel; and text that came
from an alert must never ping `@channel` or forge a link."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from bot.domain.actions import ActionKind, ActionPlan, ActionState, PendingAction
from bot.domain.alerts import Alert, diff, summarize
from bot.domain.report import Code, Faint, Line, Link, Mark, Strong
from bot.playbooks.model import Playbook, PlaybookSpec, StepSpec
from bot.playbooks.runner import StepResult
from bot.playbooks.service import Run
from bot.slack import (
    action_messages,
    alert_messages,
    blocks,
    pagerduty_messages,
    playbook_messages,
)
from bot.store.digest_records import PAGE_LINES, DigestPage
from bot.store.records import PagerDutyEvent, PagerDutyIncident
from tests.fakes.slack_blocks import block_errors

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_FIELD_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255  # block_id and action_id
MAX_ACTION_ELEMENTS = 25
MAX_FIELDS = 10

# -- what alert content looks like when someone means harm, or just has a lot to say ----------

HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S123>",
    "<!date^1|x>",
    "<http://evil.example|click>",
    "<@U123>",
    "&",
    "<",
    ">",
    "|",
    "&lt;",
    "`",
    "*",
    "\n",
]
content = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(HOSTILE) | st.text(max_size=6), max_size=8).map("".join),
    st.builds(
        lambda s, n: s * n,
        st.sampled_from(HOSTILE) | st.text(min_size=1, max_size=8),
        st.integers(100, 4000),
    ),
)
labels = st.dictionaries(
    st.sampled_from(["alertname", "severity", "namespace", "pod", "instance", "service", "x"])
    | content,
    content,
    max_size=6,
)
annotation_maps = st.dictionaries(
    st.sampled_from(["summary", "description", "runbook_url", "dashboard_url"]) | content,
    content,
    max_size=5,
)
moments = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
KNOWN_SERVICES = {"records-service": "records", "records": "records", "export": "export"}

# Control sequences Slack acts on in mrkdwn; none may come out of content.
PINGS = re.compile(r"<!(channel|here|everyone|subteam)")


@st.composite
def alert_list(draw: st.DrawFn) -> list[Alert]:
    """A handful of distinct alerts, each repeated up to thousands of times (alert storms)."""
    out: list[Alert] = []
    for kind in range(draw(st.integers(1, 4))):
        repeat = draw(st.sampled_from([1, 1, 2, 20, 300, 3000]))
        starts = draw(moments)
        status = draw(st.sampled_from(["firing", "resolved"]))
        ends = starts + draw(st.timedeltas(timedelta(0), timedelta(days=3)))
        lab, ann, url = draw(labels), draw(annotation_maps), draw(content)
        out += [
            Alert(
                fingerprint=f"{kind:x}{i:06x}",
                status=status,
                labels=lab,
                annotations=ann,
                starts_at=starts,
                ends_at=ends if status == "resolved" else None,
                generator_url=url,
            )
            for i in range(repeat)
        ]
    return out


@st.composite
def group_views(draw: st.DrawFn) -> Any:
    alerts = draw(alert_list())
    return summarize(
        draw(content),
        alerts,
        common_labels=draw(labels),
        common_annotations=draw(annotation_maps),
        external_url=draw(content),
        known_services=KNOWN_SERVICES,
    )


# -- the checks ---------------------------------------------------------------------------------


def mrkdwn_texts(message_blocks: list[dict[str, Any]]) -> list[str]:
    found = []
    for block in message_blocks:
        text = block.get("text")
        if isinstance(text, dict) and text.get("type") == "mrkdwn":
            found.append(text["text"])
        for item in block.get("fields", []) + block.get("elements", []):
            if item.get("type") == "mrkdwn":
                found.append(item["text"])
    return found


def check_message(text: str, message_blocks: list[dict[str, Any]]) -> None:
    """Slack's limits for one message, and no mention or control sequence from content."""
    assert isinstance(text, str) and text.strip()
    assert len(text) <= blocks.MAX_MESSAGE_TEXT
    assert len(message_blocks) <= blocks.MAX_BLOCKS
    for block in message_blocks:
        kind = block["type"]
        assert len(block.get("block_id", "")) <= MAX_ID
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= blocks.MAX_HEADER_TEXT
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= blocks.MAX_SECTION_TEXT
            fields = block.get("fields", [])
            assert len(fields) <= MAX_FIELDS
            for field in fields:
                assert 0 < len(field["text"]) <= MAX_FIELD_TEXT
        elif kind == "context":
            assert 0 < len(block["elements"]) <= blocks.MAX_CONTEXT_ELEMENTS
            for element in block["elements"]:
                assert 0 < len(element["text"]) <= blocks.MAX_SECTION_TEXT
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= MAX_ACTION_ELEMENTS
            for button in block["elements"]:
                assert button["type"] == "button"
                assert 0 < len(button["text"]["text"]) <= MAX_BUTTON_TEXT
                assert 0 < len(button["value"]) <= MAX_BUTTON_VALUE
                assert 0 < len(button["action_id"]) <= MAX_ID
        else:
            raise AssertionError(f"unexpected block type {kind}")
    for mrkdwn in [text, *mrkdwn_texts(message_blocks)]:
        assert not PINGS.search(mrkdwn), mrkdwn
    # And every rule the fake Slack holds Block Kit to (unique block_id and action_id, …).
    assert block_errors(message_blocks) == []


# -- alert threads ------------------------------------------------------------------------------


@SETTINGS
@given(
    group_views(),
    st.text("0123456789abcdef", min_size=1, max_size=16),
    st.none() | st.just("<@U123>"),
    st.none() | st.integers(1, 10**6).map(lambda n: f"Incident #{n}"),
)
def test_alert_parent_message_stays_inside_slack_limits(
    view: Any, group_id: str, acked_by: str | None, incident: str | None
) -> None:
    text = alert_messages.parent_text(view)
    message = alert_messages.parent_blocks(view, group_id, acked_by=acked_by, incident=incident)
    check_message(text, message)


@SETTINGS
@given(alert_list(), st.data())
def test_alert_change_reply_stays_inside_slack_limits(alerts: list[Alert], data: Any) -> None:
    posted = {
        a.fingerprint: data.draw(st.sampled_from(["firing", "resolved"]), label="posted")
        for a in alerts[:3]
    }
    changes = diff(posted, alerts)
    if not changes:
        return
    text, message = alert_messages.change_reply(changes)
    check_message(text, message)


@SETTINGS
@given(
    st.lists(st.tuples(group_views(), labels, content), min_size=1, max_size=3),
    st.integers(0, 12),
)
def test_alert_storm_digest_stays_inside_slack_limits(
    members: list[tuple[Any, dict[str, str], str]], page: int
) -> None:
    lines = [alert_messages.digest_line(v, group_labels, url) for v, group_labels, url in members]
    full = (lines * PAGE_LINES)[:PAGE_LINES]
    shown = DigestPage("digest:C1:x", "C1", page, [li.text for li in full], 500, 250, False)
    text, message = alert_messages.digest_page(shown)
    check_message(text, message)


# -- PagerDuty threads --------------------------------------------------------------------------

pd_incidents = st.builds(
    PagerDutyIncident,
    id=content.filter(bool),
    number=st.none() | st.integers(0, 2**63 - 1),
    title=content,
    status=st.sampled_from(["triggered", "acknowledged", "resolved"]) | content,
    urgency=st.sampled_from(["high", "low", ""]) | content,
    service=content,
    html_url=content,
    incident_key=st.none() | content,
    assignees=st.lists(content, max_size=5).map(tuple),
    version=st.just(1),
    synced_version=st.just(0),
    posted_status=st.none(),
    channel=st.none(),
    thread_key=st.none(),
)
# Every webhook payload written from PagerDuty's V3 docs (tests/fixtures/pagerduty/webhooks):
# each event type the bot knows, with its `data` shaped as PagerDuty sends it and every string
# in it replaced by fuzzed text, so each renderer meets hostile content where it reads it.
PD_WEBHOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "pagerduty" / "webhooks"
PD_DOCUMENTED = [
    json.loads(path.read_text())["event"] for path in sorted(PD_WEBHOOKS.glob("*.json"))
]


def fuzzed_strings(value: Any) -> st.SearchStrategy[Any]:
    if isinstance(value, str):
        return content
    if isinstance(value, dict):
        return st.fixed_dictionaries({k: fuzzed_strings(v) for k, v in value.items()})
    if isinstance(value, list):
        return st.tuples(*(fuzzed_strings(v) for v in value)).map(list)
    return st.just(value)


pd_documented_events = st.sampled_from(PD_DOCUMENTED).flatmap(
    lambda event: st.builds(
        PagerDutyEvent,
        id=st.just("E1"),
        incident_id=st.just("Q1"),
        event_type=st.just(event["event_type"]),
        agent=content,
        occurred_at=moments,
        data=fuzzed_strings(event["data"]),
    )
)
pd_unknown_events = st.builds(
    PagerDutyEvent,
    id=st.just("E1"),
    incident_id=st.just("Q1"),
    event_type=content,
    agent=content,
    occurred_at=moments,
    data=st.dictionaries(content, st.none() | content | st.integers(), max_size=4),
)
pd_events = pd_documented_events | pd_unknown_events


@SETTINGS
@given(pd_incidents)
def test_pagerduty_parent_message_stays_inside_slack_limits(incident: PagerDutyIncident) -> None:
    check_message(
        pagerduty_messages.parent_text(incident), pagerduty_messages.parent_blocks(incident)
    )


@SETTINGS
@given(pd_incidents, pd_events)
def test_pagerduty_event_reply_stays_inside_slack_limits(
    incident: PagerDutyIncident, event: PagerDutyEvent
) -> None:
    check_message(pagerduty_messages.event_text(incident, event), [])


class NoParams(BaseModel):
    pass


# -- playbook runs ------------------------------------------------------------------------------

step_names = st.from_regex(r"[a-z0-9][a-z0-9-]{0,40}", fullmatch=True)
step_results = st.builds(
    StepResult,
    title=st.text(min_size=1, max_size=200),
    kind=st.sampled_from(["kube.pods", "prometheus.query", "postgres.connections"]),
    outcome=st.sampled_from(["ok", "problem", "failed", "timeout", "unavailable"]),
    # Steps say what they found as spans of outside text; the Slack renderer escapes them.
    lines=st.lists(
        st.builds(
            Line,
            st.lists(
                content
                | st.builds(Code, content)
                | st.builds(Strong, content)
                | st.builds(Faint, content)
                | st.builds(Link, content, content),
                max_size=5,
            ).map(tuple),
            st.none() | st.sampled_from(Mark),
            st.booleans(),
        ),
        max_size=6,
    ).map(tuple),
    details=content,
    seconds=st.floats(0, 10_000),
)


@st.composite
def runs(draw: st.DrawFn) -> Run:
    results = draw(st.lists(step_results, min_size=1, max_size=8))
    results *= draw(st.sampled_from([1, 1, 10]))  # a long playbook
    spec = PlaybookSpec(
        name=draw(step_names),
        description=draw(st.text(max_size=300)),
        steps=[StepSpec(kind=r.kind) for r in results],
    )
    playbook = Playbook(spec=spec, source="fuzz.yaml", params=tuple(NoParams() for _ in results))
    return Run(playbook, draw(st.none() | st.sampled_from(["records", "export"])), results)


@SETTINGS
@given(runs())
def test_playbook_run_message_stays_inside_slack_limits(run: Run) -> None:
    text, message = playbook_messages.run_message(run)
    check_message(text, message)
    # Long output goes as files, one per step that has any.
    files = playbook_messages.attachments(run)
    assert len(files) == sum(1 for r in run.results if r.details)


# -- dangerous actions --------------------------------------------------------------------------

actions = st.builds(
    PendingAction,
    id=st.integers(1, 2**63 - 1),
    plan=st.builds(
        ActionPlan,
        kind=st.sampled_from(list(ActionKind)),
        target=st.sampled_from(["records", "export", "desktop"]),
        params=st.just({}),
        before=content,
        after=content,
    ),
    requested_by=st.from_regex(r"U[A-Z0-9]{2,10}", fullmatch=True),
    channel=st.just("C1"),
    incident_id=st.none() | st.integers(1, 100),
    state=st.sampled_from(list(ActionState)),
    approvals=st.lists(st.from_regex(r"U[A-Z0-9]{2,10}", fullmatch=True), max_size=3).map(tuple),
    result=content,
    created_at=moments,
)


# What the bot passes as a note: its own progress lines and Kubernetes' rollout status.
progress_notes = st.sampled_from(
    [
        "",
        "Running…",
        "Server-side dry run passed; applying…",
        'Waiting for deployment "records" rollout to finish: 1 of 3 updated replicas…',
        "Copying 12 files and invalidating the CDN…",
    ]
)


@SETTINGS
@given(actions, progress_notes, st.integers(1, 2))
def test_action_message_stays_inside_slack_limits(
    action: PendingAction, note: str, needed: int
) -> None:
    check_message(action_messages.text(action, note), action_messages.blocks(action, note, needed))


@SETTINGS
@given(actions, content, st.integers(1, 2))
def test_action_message_blocks_escape_and_bound_any_note(
    action: PendingAction, note: str, needed: int
) -> None:
    check_message("fallback", action_messages.blocks(action, note, needed))


def test_action_fallback_text_escapes_and_bounds_the_note() -> None:
    action = PendingAction(
        id=1,
        plan=ActionPlan(ActionKind.RESTART, "records", {}, "3 pods", "3 new pods"),
        requested_by="U1",
        channel="C1",
        incident_id=None,
        state=ActionState.RUNNING,
        approvals=(),
        result="",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    check_message(action_messages.text(action, "<!here> " + "x" * 3000), [])


# -- the helpers themselves ---------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(content, st.integers(1, 5000))
def test_clip_never_exceeds_its_limit(text: str, limit: int) -> None:
    clipped = blocks.clip(text, limit)
    assert len(clipped) <= limit
    assert clipped == text or clipped.endswith("…")


@settings(max_examples=200, deadline=None)
@given(content)
def test_escape_leaves_no_control_sequence(text: str) -> None:
    escaped = blocks.escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["a", "b"]).map(blocks.section), max_size=200))
def test_bounded_keeps_at_most_50_blocks_and_says_how_many_were_left_out(
    message: list[dict[str, Any]],
) -> None:
    kept = blocks.bounded(message)
    assert len(kept) <= blocks.MAX_BLOCKS
    if len(message) > blocks.MAX_BLOCKS:
        left_out = len(message) - (blocks.MAX_BLOCKS - 1)
        assert kept[-1]["elements"][0]["text"] == f"…{left_out} more not shown"
    else:
        assert kept == message
